#!/usr/bin/env bash
# Configures and builds ksi (Release) into ${KSI_BUILD_DIR:-build}. Prints the build folder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KSI_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >&2
cmake --build "$build" -j "$(nproc)" >&2
echo "$build"
