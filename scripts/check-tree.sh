#!/usr/bin/env bash
# Checks of the tracked tree that no linter makes (run by make lint):
#  - no tracked file is an executable binary (ELF, Mach-O, PE, or any file
#    with the executable bit that is not a script with a #! line): build
#    output goes to _build/, which is ignored;
#  - every Go file carries the SPDX licence header of the project (LICENSE,
#    Apache-2.0) in its first lines.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
fail=0

while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
    case "$magic" in
        7f454c46|feedface|feedfacf|cefaedfe|cffaedfe|cafebabe)
            echo "tracked executable binary: $f (build output belongs in _build/)"; fail=1; continue ;;
    esac
    if [ "${magic:0:4}" = 4d5a ]; then
        echo "tracked executable binary (PE): $f"; fail=1; continue
    fi
    if [ -x "$f" ] && [ "$(head -c 2 "$f")" != '#!' ]; then
        echo "tracked file with the executable bit that is not a script: $f"; fail=1
    fi
done < <(git ls-files -z)

while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    if ! head -n 3 "$f" | grep -q '^// SPDX-License-Identifier: Apache-2.0$'; then
        echo "missing SPDX header (// SPDX-License-Identifier: Apache-2.0 in the first 3 lines): $f"; fail=1
    fi
done < <(git ls-files -z '*.go')

exit "$fail"
