#!/usr/bin/env bash
# The test command: installs what is missing, builds ksi with its tests, runs them all with CTest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/jobs/install-deps.sh"
build=$(bash "$root/jobs/build.sh")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$build"
# Tests side by side on every core; each reserves the cores its ranks use (PROCESSORS).
ctest --output-on-failure --timeout 1200 -j "$(nproc)" "$@"
