#!/usr/bin/env bash
# Runs the whole pipeline of one config file on this machine:
#   synth (training and held-out sets) -> fit -> sample -> stats (CSV, JSON, PNG report) -> info
# usage: jobs/run_pipeline.sh CONFIG OUTDIR [RANKS]
# Everything about sizes and methods is in CONFIG (sections [synth], [fit], [sample], [stats]).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=${1:?usage: run_pipeline.sh CONFIG OUTDIR [RANKS]}
out=${2:?usage: run_pipeline.sh CONFIG OUTDIR [RANKS]}
ranks=${3:-2}
ksi=${KSI:-${KSI_BUILD_DIR:-$root/build}/ksi}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
launch() { mpirun -n "$ranks" --oversubscribe "$ksi" "$@"; }
force=${FORCE:+--force}

launch synth --config "$config" --seed 1 --out "$out/train.h5" $force
launch synth --config "$config" --seed 2 --out "$out/test.h5" $force
launch fit --config "$config" --data "$out/train.h5" --out "$out/model.h5" --report "$out/fit.json" $force
launch sample --config "$config" --model "$out/model.h5" --out "$out/samples.h5" --report "$out/sample.json" $force
launch stats --config "$config" --train "$out/train.h5" --test "$out/test.h5" --gen "$out/samples.h5" \
  --model "$out/model.h5" --out-dir "$out/report" $force
/usr/bin/python3 "$root/jobs/plot_report.py" "$out/report/stats.json" $force
"$ksi" info "$out/model.h5"
echo "pipeline done: outputs in $out; report: $out/report/stats.png (Q table: $out/report/stats_q.csv)"
