#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The firmware's C in the kernel's style (firmware/.clang-format): rewritten in place, or with
# --check only reported, exit status 1 when a file is not formatted.
set -euo pipefail
cd "$(dirname "$0")/../firmware"
command -v clang-format >/dev/null || { echo "clang-format not found: run scripts/bootstrap.sh" >&2; exit 1; }
# Left out: headers the assembler reads too (asm.h's macros, hw.h's constants) and the bench's
# X-macro table, whose layout clang-format cannot keep stable.
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v -e '^generated/' -e '^include/lab/asm\.h$' -e '^include/lab/hw\.h$' -e '^include/lab/klp_bench\.h$')
if [ "${1:-}" = --check ]; then
	clang-format --style=file --dry-run --Werror "${files[@]}"
else
	clang-format --style=file -i "${files[@]}"
fi
