#!/usr/bin/env bash
# Formats every C++ file of the repository with .clang-format (clang-format 16, Debian's
# clang-format-16: 14 mangles requires-clauses and concepts). scripts/test.sh checks it.
# Usage: scripts/format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-format-16
git ls-files '*.hpp' '*.cpp' | xargs clang-format-16 -i
