#!/usr/bin/env bash
# Measures connectors written like popular PostHog plugins in hogtail and in
# Node (the way PostHog's plugin server runs them), same events, same run.
#   bench/connbench.sh [connbench flags]     e.g. -n 200000, -only user-agent,hash
set -euo pipefail
cd "$(dirname "$0")/.."

export GOTOOLCHAIN=go1.27.3
tmp=$(mktemp -d /tmp/connbench-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! command -v node >/dev/null 2>&1; then
  echo "installing nodejs from Debian's packages" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y nodejs
fi

echo "building hogtail and connbench" >&2
go build -o "$tmp/hogtail" ./cmd/hogtail
go build -o "$tmp/connbench" ./bench/connbench
"$tmp/connbench" -hogtail "$tmp/hogtail" -node "$(command -v node)" -root . "$@"
