#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Makes a fresh machine ready, idempotently: Debian packages (Unicorn, the kernel's objtool,
# the compiler, libfuse3 and cJSON for the shell's FUSE helper and module commands, tmux for its tests, and what
# the kernel's selftest scripts and their fetch run: procps's sysctl, util-linux's unshare and
# dmesg, xz for the source package, chromium for the tests of the HTML report, gdb for the GDB
# stub's tests), npm
# packages, the native hook library, the FUSE helper and the firmware images. Each step is
# skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi

# 1. Debian packages
DEBS=(libunicorn2 libunicorn-dev linux-kbuild-6.1 gcc make binutils clang-format pkgconf libfuse3-dev fuse3 libcjson-dev tmux
	procps util-linux xz-utils chromium gdb)
missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them with your package manager"
	[ "$SUDO" != none ] || die "missing Debian packages ${missing[*]}: run as root: apt-get install -y ${missing[*]}"
	say "installing ${missing[*]}"
	$SUDO apt-get update -qq || die "apt-get update failed (no access to Debian's package mirrors?)"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi
OBJTOOL=/usr/lib/linux-kbuild-6.1/tools/objtool/objtool
[ -x "$OBJTOOL" ] || die "$OBJTOOL not found although linux-kbuild-6.1 is installed"

# 2. npm packages (exactly the lock file), again only when package*.json changed
command -v npm >/dev/null || die "npm not found: this project needs Node.js 20 and npm"
stamp=node_modules/.klp-lab-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
	say "installing npm packages"
	npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
	touch "$stamp"
fi

# 3. native hooks and firmware (make only rebuilds what changed)
say "building the native hook library"
make -s -C src/emu/native || die "building src/emu/native failed"
say "building the FUSE helper and the module commands of klp-lab shell"
make -s -C src/lab/native || die "building src/lab/native failed"
say "building the firmware"
make -s -C firmware >/dev/null || die "building the firmware failed (see make -C firmware)"

# 4. the ORC tests' ground-truth hook, and their second image: the same firmware annotated by a
#    newer objtool (Debian's linux-kbuild-6.12, downloaded, not installed) in the 6.4+ ORC layout
say "building the ORC ground-truth hook and the 6.4+ ORC fixture"
make -s -C src/orc/native || die "building src/orc/native failed"
if [ ! -f fixtures/kernel-orc64.elf ] && [ -z "$(apt-cache pkgnames linux-kbuild-6.12 2>/dev/null)" ]; then
	[ "$SUDO" != none ] || die "apt knows no linux-kbuild-6.12: run as root: apt-get update"
	$SUDO apt-get update -qq || die "apt-get update failed"
fi
make -s -C test/orc/fixtures >/dev/null || die "building fixtures/kernel-orc64.elf failed (see make -C test/orc/fixtures)"
say "ready"
