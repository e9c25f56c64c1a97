#!/usr/bin/env bash
# Builds hogtail's release artifacts into dist/:
#   hogtail-VERSION-linux-ARCH.tar.gz   static binary, unit, example config, examples, README
#   hogtail_VERSION-1_ARCH.deb, hogtail-VERSION-1.ARCH.rpm   (built by scripts/pkgbuild with nfpm)
# Needs only Go, git and tar; the network is used for the Go module proxy alone.
#
#   scripts/package.sh                  # linux/amd64 and linux/arm64
#   ARCHES=amd64 scripts/package.sh     # one architecture (CI)
#
# The version: HOGTAIL_VERSION if set; X.Y.Z on a commit tagged vX.Y.Z; X.Y.Z+gitN.SHA N commits
# after that tag; without a tag, VERSION~gitN.SHA (N = commits in the history: a build before the
# VERSION release, later builds sort higher). ".dirty" marks uncommitted changes. The build date is
# the commit's date (or SOURCE_DATE_EPOCH), so the same commit always gives the same packages.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export GOTOOLCHAIN=go1.27.3
arches=${ARCHES:-amd64 arm64}

if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse HEAD)
  short=$(git rev-parse --short=7 HEAD)
  dirty=
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    dirty=.dirty
    commit=$commit-dirty
  fi
  epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
  if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
    base=${tag#v}
    n=$(git rev-list --count "$tag..HEAD")
    if [ "$n" = 0 ] && [ -z "$dirty" ]; then
      version=$base
    else
      version=$base+git$n.$short$dirty
    fi
  else
    version=$(tr -d ' \n' < VERSION)~git$(git rev-list --count HEAD).$short$dirty
  fi
else
  # A source archive without git history.
  commit=unknown
  epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
  version=$(tr -d ' \n' < VERSION)
fi
version=${HOGTAIL_VERSION:-$version}
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
echo "hogtail $version (commit $commit, built $date)"

dist=$root/dist
rm -rf "$dist"
mkdir -p "$dist/build"
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"
for arch in $arches; do
  out=$dist/build/linux-$arch
  echo "--- go build linux/$arch"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/hogtail" ./cmd/hogtail

  name=hogtail-$version-linux-$arch
  stage=$dist/build/$name
  mkdir -p "$stage"
  cp "$out/hogtail" deploy/hogtail.service config.example.toml README.md "$stage/"
  cp -r examples "$stage/"
  # Same bytes for the same commit: sorted names, fixed owner and time.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$dist/build" -cf - "$name" | gzip -n > "$dist/$name.tar.gz"
  echo "$dist/$name.tar.gz"
done

echo "--- deb and rpm"
# shellcheck disable=SC2086 # one argument per architecture
(cd scripts/pkgbuild && go run . -root "$root" -bin "$dist/build" -out "$dist" -version "$version" -date "$date" $arches)
rm -rf "$dist/build"
