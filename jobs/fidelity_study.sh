#!/usr/bin/env bash
# The fidelity study: one data set, several models, every Q of ksi stats in one table.
#   usage: jobs/fidelity_study.sh CONFIG ROWS OUTDIR [RANKS]
# CONFIG is a pipeline config (inputs/*.cfg): its [synth] section makes the training (seed 1) and
# held-out (seed 2) sets, its [fit], [sample] and [stats] sections are every row's base settings.
# ROWS has one line per model: NAME | ksi fit options | ksi sample options (the last two added to
# the config's; '#' starts a comment). A row whose fit options are '-' reuses the model of the row
# named after 'reuse=' in its sample options (e.g. a microcanonical sampler on the same map); one whose
# fit options start with 'guide=ROW' adds guided passes to ROW's model with ksi guide (the rest of
# them are ksi guide's options: --guide 3 --guide-steps 30 ...), without fitting it again.
# Writes OUTDIR/<name>/{model,samples}.h5, reports, and OUTDIR/study.csv and OUTDIR/study.md with the
# Q of every judged statistic (the Gaussian baseline's in brackets) and the fit, guide and sample
# seconds of each row. Rows already done (their stats_q.csv exists) are skipped: rerun to resume.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=${1:?usage: fidelity_study.sh CONFIG ROWS OUTDIR [RANKS]}
rows=${2:?usage: fidelity_study.sh CONFIG ROWS OUTDIR [RANKS]}
out=${3:?usage: fidelity_study.sh CONFIG ROWS OUTDIR [RANKS]}
ranks=${4:-2}
export KSI=${KSI:-${KSI_BUILD_DIR:-$root/build}/ksi}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
# The job scripts' launcher (mpirun or srun, one thread per rank, stop signals passed on).
source "$root/jobs/lib/launch.sh"
launch() { ksi_run "$ranks" "$@"; }
mkdir -p "$out"
[ -f "$out/train.h5" ] || launch synth --config "$config" --seed 1 --out "$out/train.h5" -q
# TEST_COUNT: held-out items (default: as many as the training set). REFERENCE_COUNT: judge against a
# reference set of that many fresh items (seed 3) instead of the training set, for training sets too
# small to be a set (one realization: Q = dist(gen, test) / dist(reference, test); per-item scatter
# with jobs/scatter_table.py OUTDIR/<row>/report).
[ -f "$out/test.h5" ] || launch synth --config "$config" --seed 2 ${TEST_COUNT:+--count "$TEST_COUNT"} --out "$out/test.h5" -q
judged_train="$out/train.h5"
if [ -n "${REFERENCE_COUNT:-}" ]; then
  judged_train="$out/reference.h5"
  [ -f "$judged_train" ] || launch synth --config "$config" --seed 3 --count "$REFERENCE_COUNT" --out "$judged_train" -q
fi

while IFS='|' read -r -u 3 name fit_options sample_options || [ -n "$name" ]; do
  name=$(echo "$name" | xargs)
  case "$name" in ''|'#'*) continue ;; esac
  fit_options=$(echo "$fit_options" | xargs)
  sample_options=$(echo "${sample_options:-}" | xargs)
  dir="$out/$name"
  [ -f "$dir/report/stats_q.csv" ] && { echo "study: $name done"; continue; }
  mkdir -p "$dir"
  echo "study: $name"
  model="$dir/model.h5"
  if [ "$fit_options" = "-" ]; then
    reuse=$(sed -n 's/.*reuse=\([^ ]*\).*/\1/p' <<<"$sample_options")
    model="$out/$reuse/model.h5"
    sample_options=$(sed 's/reuse=[^ ]*//' <<<"$sample_options")
  elif [[ "$fit_options" == guide=* ]]; then
    base=$(sed 's/^guide=\([^ ]*\).*/\1/' <<<"$fit_options")
    [ -f "$out/$base/model.h5" ] || { echo "study: row $name adds passes to $base, which has no model (list $base, a fitted row, before it)" >&2; exit 1; }
    # shellcheck disable=SC2086
    launch guide --config "$config" --model "$out/$base/model.h5" --out "$model" \
      --report "$dir/guide.json" --force ${fit_options#guide="$base"} > "$dir/guide.log" 2>&1
  else
    # shellcheck disable=SC2086
    launch fit --config "$config" --data "$out/train.h5" --out "$model" --report "$dir/fit.json" --force \
      $fit_options > "$dir/fit.log" 2>&1
  fi
  # shellcheck disable=SC2086
  launch sample --config "$config" --model "$model" --out "$dir/samples.h5" --report "$dir/sample.json" \
    --force $sample_options > "$dir/sample.log" 2>&1
  launch stats --config "$config" --train "$judged_train" --test "$out/test.h5" --gen "$dir/samples.h5" \
    --model "$model" --out-dir "$dir/report" --force > "$dir/stats.log" 2>&1
done 3< "$rows"
/usr/bin/python3 "$root/jobs/lib/study_table.py" "$rows" "$out"
