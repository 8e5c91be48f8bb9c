#!/usr/bin/env bash
# The quick start: installs what is missing, builds ksi, and runs the main job on the small default
# input (inputs/quickstart.cfg) with 2 MPI ranks. Outputs go to out/quickstart/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/jobs/install-deps.sh"
build=$(bash "$root/jobs/build.sh")
KSI="$build/ksi" FORCE=1 bash "$root/jobs/run_pipeline.sh" "$root/inputs/quickstart.cfg" "$root/out/quickstart" 2
