#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kernel-sources.sh VERSION CACHE: puts the livepatch parts of Debian's linux-source-VERSION
# package (the kernel's livepatch test modules and its livepatch selftest scripts) under
# CACHE/linux-VERSION and prints that folder. Nothing of them enters the repository: the lab
# builds and runs them from the cache, as a kernel engineer would from their tree.
#
# Idempotent and safe to run concurrently (test workers, several commands): the first caller
# fetches under a lock, the others wait for it; a folder only appears once complete.
set -euo pipefail

die() {
	echo "kernel-sources: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: kernel-sources.sh 6.1|6.12 CACHE"
version=$1
cache=$2
case "$version" in
6.1 | 6.12) ;;
*) die "unknown kernel version '$version': the lab knows 6.1 and 6.12" ;;
esac

dest="$cache/linux-$version"
if [ -f "$dest/.complete" ]; then
	echo "$dest"
	exit 0
fi
mkdir -p "$cache" || die "cannot create the cache folder $cache"
for tool in apt-get dpkg-deb tar xz flock; do
	command -v "$tool" >/dev/null || die "$tool not found: fetching linux-source-$version needs it"
done

exec 9>"$cache/linux-$version.lock"
flock -w 900 9 || die "timed out waiting for another fetch of linux-source-$version ($cache/linux-$version.lock)"
if [ -f "$dest/.complete" ]; then
	echo "$dest"
	exit 0
fi

pkg="linux-source-$version"
tmp=$(mktemp -d "$cache/.fetch-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -z "$(apt-cache pkgnames "$pkg" 2>/dev/null)" ]; then
	# A fresh machine may have no package lists yet (the bootstrap refreshes them only when
	# it needs to): refresh once, as root, as the bootstrap does.
	[ "$(id -u)" = 0 ] || die "apt knows no $pkg and refreshing its lists needs root: run apt-get update"
	apt-get update -qq >"$tmp/update.log" 2>&1 || die "apt-get update failed: $(tail -3 "$tmp/update.log")"
	[ -n "$(apt-cache pkgnames "$pkg" 2>/dev/null)" ] || die "no package $pkg in this machine's apt sources"
fi

(cd "$tmp" && apt-get download -q "$pkg" >download.log 2>&1) ||
	die "apt-get download $pkg failed: $(grep -v '^W:' "$tmp/download.log" | tail -3)"
deb=$(ls "$tmp"/*.deb)
debversion=$(dpkg-deb -f "$deb" Version)

# The package holds one tarball of the whole tree; only the livepatch test modules (lib/livepatch
# in 6.1, the selftests' test_modules in 6.12) and the selftest scripts are kept.
parts=("$pkg/tools/testing/selftests/livepatch/*")
[ "$version" = 6.1 ] && parts+=("$pkg/lib/livepatch/*")
mkdir "$tmp/src"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" |
	tar -xJ -C "$tmp/src" --strip-components=1 --wildcards "${parts[@]}" ||
	die "extracting the livepatch parts of $deb failed"
[ -f "$tmp/src/tools/testing/selftests/livepatch/functions.sh" ] ||
	die "$deb holds no tools/testing/selftests/livepatch/functions.sh"
echo "$debversion" >"$tmp/src/.debian-version"
touch "$tmp/src/.complete"
rm -rf "$dest"
mv "$tmp/src" "$dest"
echo "$dest"
