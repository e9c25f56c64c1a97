#!/usr/bin/env bash
# Installs what the optional end-to-end tests use, best effort, from Debian's
# packages:
#   chromium               the posthog-js browser test (sources/http); the
#                          posthog-node and posthog-js packages themselves are
#                          installed by the tests with npm;
#   systemd-journal-remote writes the journal files the journald source tests
#                          read (sources/journald).
# Tests whose tools are missing skip with a message; nothing here is needed
# for `go test ./...` to pass.
set -uo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ! -x /lib/systemd/systemd-journal-remote ] && [ ! -x /usr/lib/systemd/systemd-journal-remote ]; then
  missing+=(systemd-journal-remote)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: no apt-get; the tests that need ${missing[*]} will skip" >&2
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
install() { as_root env DEBIAN_FRONTEND=noninteractive timeout 240 apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends "$@" >/dev/null 2>&1; }
updated=0
for pkg in "${missing[@]}"; do
  if ! install "$pkg"; then
    if [ $updated = 0 ]; then
      as_root timeout 90 apt-get update >/dev/null 2>&1
      updated=1
    fi
    install "$pkg" || echo "test-deps: could not install $pkg; the tests that need it will skip" >&2
  fi
done
exit 0
