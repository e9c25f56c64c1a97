#!/usr/bin/env bash
# Builds the linux packages of this machine's architecture and checks the .deb
# for real: installs it with dpkg, runs the installed binary, validates the
# packaged config, verifies the installed unit, checks that reinstalling keeps
# an edited config, then purges it and checks nothing is left. Needs root (or
# sudo -n) and dpkg, as on the CI machine; the .rpm is inspected when rpm is
# installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3

fail() { echo "package-check: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
command -v dpkg >/dev/null || fail "dpkg is missing; the .deb cannot be checked on this machine"
as_root true 2>/dev/null || fail "installing a package needs root or passwordless sudo"
if dpkg -s hogtail >/dev/null 2>&1; then
  fail "hogtail is already installed here; this check installs and purges it, so it will not touch it"
fi

echo "--- scripts/pkgbuild: vet and test"
(cd scripts/pkgbuild && go vet . && go test -count=1 .)

arch=$(go env GOARCH)
ARCHES=$arch scripts/package.sh
deb=$(ls dist/hogtail_*_"$(dpkg --print-architecture)".deb)
rpm=$(ls dist/hogtail-*.rpm)
tarball=$(ls dist/hogtail-*-linux-"$arch".tar.gz)

echo "--- tarball: $tarball"
tar -tzf "$tarball" | sed 's|^[^/]*/||' | grep -qx hogtail || fail "tarball lacks the binary"
for f in hogtail.service config.example.toml README.md examples/; do
  tar -tzf "$tarball" | sed 's|^[^/]*/||' | grep -qx "$f" || fail "tarball lacks $f"
done

echo "--- .deb: $deb"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/hogtail/hogtail.toml ||
  fail ".deb does not mark /etc/hogtail/hogtail.toml as a conffile"

purge() { as_root dpkg -P hogtail >/dev/null 2>&1 || true; }
trap purge EXIT
as_root dpkg -i "$deb" </dev/null

echo "--- installed"
for f in /usr/bin/hogtail /lib/systemd/system/hogtail.service /etc/hogtail/hogtail.toml \
  /usr/share/doc/hogtail/README.md /usr/share/doc/hogtail/config.example.toml; do
  [ -f "$f" ] || fail "$f not installed"
done
out=$(/usr/bin/hogtail version)
echo "$out"
case "$out" in
  "hogtail dev "* | *"commit unknown"* | *"built unknown"*) fail "packaged binary is not stamped: $out" ;;
  "hogtail "*" (commit "*", built "*", go"*) ;;
  *) fail "unexpected version line: $out" ;;
esac
# Static: no ELF interpreter, and built without cgo.
if LC_ALL=C od -An -c -N 4096 /usr/bin/hogtail | tr -d ' \n' | grep -q 'ld-linux'; then
  fail "/usr/bin/hogtail is dynamically linked"
fi
go version -m /usr/bin/hogtail | grep -q 'CGO_ENABLED=0' || fail "/usr/bin/hogtail was built with cgo"
if go version -m /usr/bin/hogtail | grep -q goreleaser; then
  fail "the packaging library leaked into the agent binary"
fi

/usr/bin/hogtail validate --config /etc/hogtail/hogtail.toml

if command -v systemd-analyze >/dev/null; then
  # Only the unit is checked; the rest of this machine's units are not ours.
  verify=$(systemd-analyze verify /lib/systemd/system/hogtail.service 2>&1 | grep -i hogtail || true)
  [ -z "$verify" ] || fail "systemd-analyze verify: $verify"
  echo "systemd-analyze verify: ok"
  systemd-analyze security --offline=true /lib/systemd/system/hogtail.service 2>/dev/null | grep 'Overall exposure' || true
else
  echo "systemd-analyze not installed; unit not verified"
fi

echo "--- reinstall keeps an edited config"
echo "# edited by package-check" | as_root tee -a /etc/hogtail/hogtail.toml >/dev/null
as_root dpkg -i "$deb" </dev/null
grep -q "edited by package-check" /etc/hogtail/hogtail.toml || fail "reinstalling replaced the edited config"

echo "--- purge"
as_root dpkg -P hogtail
trap - EXIT
for f in /usr/bin/hogtail /lib/systemd/system/hogtail.service /etc/hogtail/hogtail.toml /usr/share/doc/hogtail; do
  [ ! -e "$f" ] || fail "$f left after purge"
done

if command -v rpm >/dev/null; then
  echo "--- .rpm: $rpm"
  files=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm")
  for want in "cn /etc/hogtail/hogtail.toml" " /usr/bin/hogtail" " /usr/lib/systemd/system/hogtail.service" \
    " /usr/share/doc/hogtail/README.md"; do
    grep -qxF -- "$want" <<<"$files" || fail ".rpm lacks \"$want\""
  done
  rpm -qp --scripts "$rpm" | grep -q 'if \[ -d /run/systemd/system \]' || fail ".rpm scripts lack the systemd check"
else
  echo "rpm not installed; .rpm not inspected"
fi
echo "package-check: ok"
