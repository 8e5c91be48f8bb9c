#!/usr/bin/env bash
# Pair-interaction rate of the drifting field (blocked ring kernel vs a plain double loop, same run)
# for both kernels at 1 .. RANKS ranks; one JSON object per line in ${KSI_BUILD_DIR:-build}/study/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KSI_BUILD_DIR:-$root/build}
out=$build/study/bench_drifting.jsonl
mkdir -p "$(dirname "$out")"
: >"$out"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
for kernel in gauss laplace; do
  for ranks in $(seq 1 "${RANKS:-2}"); do
    mpirun -n "$ranks" "$build/tests/benchmarks/bench_drifting" --particles "${PARTICLES:-20000}" \
      --data "${DATA:-20000}" --dim "${DIM:-2}" --kernel "$kernel" | tee -a "$out"
  done
done
