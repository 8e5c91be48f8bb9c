#!/usr/bin/env bash
# Checks that every C++ source follows .clang-format (clang-format 14, Debian's); installs it when
# missing. With --fix, formats the tree in place instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if ! command -v clang-format > /dev/null; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends clang-format
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format --style=file -i "${files[@]}"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! clang-format --style=file --dry-run --Werror "${files[@]}" 2> "$log"; then
  grep -m 20 "error:" "$log" >&2 || true
  echo "ksi: $(grep -c 'error:' "$log") line(s) differ from .clang-format; run bash jobs/check-format.sh --fix" >&2
  exit 1
fi
echo "format: ${#files[@]} files follow .clang-format"
