#!/usr/bin/env bash
# The drifting N-study: runs tests/benchmarks/study_drifting over d = 1, 2, 4, both kernels and
# N = 10^2 .. 10^4 (override with SIZES, DIMS, KERNELS, RANKS), then fits slopes and plots.
# Outputs in ${KSI_BUILD_DIR:-build}/study/: drifting_study.csv, drifting_study_slopes.csv,
# drifting_study.png. About 6 minutes on 2 cores with the default sizes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KSI_BUILD_DIR:-$root/build}
out=$build/study
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
mpirun -n "${RANKS:-2}" "$build/tests/benchmarks/study_drifting" \
  --dims "${DIMS:-1,2,4}" --kernels "${KERNELS:-gauss,laplace}" \
  --sizes "${SIZES:-100,316,1000,3162,10000}" --test-size "${TEST_SIZE:-20000}" \
  --iterations "${ITERATIONS:-150}" --out "$out/drifting_study.csv"
/usr/bin/python3 "$root/jobs/plot_drifting_study.py" "$out/drifting_study.csv"
