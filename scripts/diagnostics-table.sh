#!/usr/bin/env bash
# Prints, for every compile-fail snippet in tests/compile_fail, what g++ and clang++
# say first and how many lines they print in all: the table in docs/diagnostics.md.
# Usage: scripts/diagnostics-table.sh > /tmp/table.md
set -euo pipefail
cd "$(dirname "$0")/.."
eigen=$(pkg-config --cflags eigen3)

echo "| Misuse | Compiler | First error line (after \`error:\`) | Lines |"
echo "|---|---|---|---|"
for snippet in tests/compile_fail/*.cpp; do
    what=$(head -n 1 "$snippet" | sed 's|^// ||')
    for compiler in g++ clang++; do
        output=$("$compiler" -std=c++20 -fsyntax-only -Iinclude $eigen "$snippet" 2>&1 || true)
        first=$(grep -m 1 "error" <<<"$output" | sed 's/.*error: //' | tr -d '‘’')
        lines=$(wc -l <<<"$output")
        echo "| $what ($(basename "$snippet")) | $compiler | \`$first\` | $lines |"
        what="″"
    done
done
