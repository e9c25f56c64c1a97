#!/usr/bin/env bash
# Installs what the optional end-to-end tests use, best effort: Debian's
# chromium for the posthog-js browser test (sources/http). The posthog-node
# and posthog-js packages themselves are installed by the tests with npm.
# Tests whose tools are missing skip with a message; nothing here is needed
# for `go test ./...` to pass.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: no apt-get; the posthog-js browser test will skip" >&2
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
install() { as_root env DEBIAN_FRONTEND=noninteractive timeout 240 apt-get install -y chromium >/dev/null 2>&1; }
if ! install; then
  as_root timeout 90 apt-get update >/dev/null 2>&1
  install || echo "test-deps: could not install chromium; the posthog-js browser test will skip" >&2
fi
exit 0
