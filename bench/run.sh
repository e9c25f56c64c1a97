#!/usr/bin/env bash
# Runs the hogtail benchmark and chaos suite (see bench/README.md).
#   bench/run.sh [hogbench flags] [scenario ...]   hogtail, syslog-ng, rsyslog and Fluent Bit; results in bench/results/
#   bench/run.sh --smoke [hogbench flags] [scenario ...]   hogtail only, small counts; non-zero exit on any loss
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
args=()
for a in "$@"; do
  case "$a" in
    --smoke|-smoke) smoke=1 ;;
    *) args+=("$a") ;;
  esac
done

tmp=$(mktemp -d /tmp/hogbench-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "building hogtail and hogbench" >&2
export GOTOOLCHAIN=go1.27.3
go build -o "$tmp/hogtail" ./cmd/hogtail
go build -o "$tmp/hogbench" ./bench/hogbench

if [ "$smoke" = 1 ]; then
  "$tmp/hogbench" -smoke -hogtail "$tmp/hogtail" -out "" "${args[@]+"${args[@]}"}"
  exit $?
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# syslog-ng from Debian's packages, when missing.
if ! command -v syslog-ng >/dev/null 2>&1 && [ ! -x /usr/sbin/syslog-ng ]; then
  echo "installing syslog-ng-core and syslog-ng-mod-http" >&2
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y syslog-ng-core syslog-ng-mod-http
fi
syslog_ng=$(command -v syslog-ng || echo /usr/sbin/syslog-ng)

# rsyslog conflicts with syslog-ng as a package: run it from an unpacked
# .deb (its libraries libestr0 and libfastjson4 do not conflict).
rsyslog_root=""
if (cd "$tmp" && apt-get download rsyslog >/dev/null 2>&1) && dpkg -x "$tmp"/rsyslog_*.deb "$tmp/rsyslog"; then
  if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y libestr0 libfastjson4 >/dev/null 2>&1 \
     && "$tmp/rsyslog/usr/sbin/rsyslogd" -v >/dev/null 2>&1; then
    rsyslog_root="$tmp/rsyslog"
  else
    echo "rsyslog skipped: its libraries (libestr0, libfastjson4) could not be installed" >&2
  fi
else
  echo "rsyslog skipped: apt-get download rsyslog failed (no package index? run apt-get update)" >&2
fi

# Fluent Bit from its release tarball beside the project (Debian does not
# package it), with its shared libraries from Debian; skipped when missing.
fluent_bit=""
fb_tar=$(ls ../shared/peers/fluent-bit-*-linux-amd64.tar.gz 2>/dev/null | tail -1 || true)
if [ -n "$fb_tar" ]; then
  mkdir -p "$tmp/fluent-bit-root"
  tar -xzf "$fb_tar" -C "$tmp/fluent-bit-root"
  fb_bin="$tmp/fluent-bit-root/fluent-bit/bin/fluent-bit"
  if ! "$fb_bin" --version >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y libyaml-0-2 libsqlite3-0 libssl3 >/dev/null 2>&1 || true
  fi
  if "$fb_bin" --version >/dev/null 2>&1; then
    fluent_bit="$fb_bin"
  else
    echo "Fluent Bit skipped: $fb_bin does not run (its libraries libyaml-0-2, libsqlite3-0, libssl3 could not be installed)" >&2
  fi
else
  echo "Fluent Bit skipped: no ../shared/peers/fluent-bit-*-linux-amd64.tar.gz" >&2
fi

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) cores ($model), $(free -g | awk '/^Mem:/ {print $2}') GB RAM, Debian $(cat /etc/debian_version), Linux $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg), syslog-ng $("$syslog_ng" --version | sed -n 's/^syslog-ng [0-9]* (\(.*\))$/\1/p')"
if [ -n "$rsyslog_root" ]; then
  machine="$machine, rsyslog $("$rsyslog_root/usr/sbin/rsyslogd" -v | awk 'NR==1 {print $2}')"
fi

if [ -n "$fluent_bit" ]; then
  machine="$machine, $("$fluent_bit" --version | head -1)"
fi

"$tmp/hogbench" -hogtail "$tmp/hogtail" -syslog-ng "$syslog_ng" -rsyslog-root "$rsyslog_root" -fluent-bit "$fluent_bit" \
  -machine "$machine" -out bench/results "${args[@]+"${args[@]}"}"
