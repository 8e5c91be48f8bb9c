#!/usr/bin/env bash
# Submits a whole pipeline run (synth -> fit -> sample -> stats) as four Slurm jobs chained with
# --dependency=afterok, from one run description (inputs/pipeline-*.cfg: every size in one place).
#
#   jobs/submit-pipeline.sh [--dir RUN_DIR] [--continue] [--no-requeue] CONFIG [-- SBATCH_OPTIONS...]
#
#   --dir RUN_DIR   the run folder (default out/<config name>-<date>); it receives pipeline.cfg (a copy
#                   of CONFIG), the stage configs, train.h5, test.h5, model.h5, samples.h5, stats/,
#                   reports/*.json and logs/
#   --continue      reuse an existing run folder: stages keep the outputs they find
#   --no-requeue    an interrupted fit/sample exits with 75 instead of requeueing itself
#   SBATCH_OPTIONS  given to every stage after the config's own (e.g. --partition=debug --time=2:00:00)
#
# fit and sample get --requeue (unless --no-requeue) and --signal=B:USR1@LEAD, LEAD a tenth of the
# --time that holds (the config's or one in SBATCH_OPTIONS) between 30 s and 5 min, unless a --signal
# is given.
#
# Prints "stage job-id" lines (also written to RUN_DIR/jobs.txt).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/jobs/lib/launch.sh"
source "$root/jobs/lib/config.sh"

run_dir= continue_run=0 requeue=1 config=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) run_dir=${2:?--dir needs a folder}; shift 2 ;;
    --continue) continue_run=1; shift ;;
    --no-requeue) requeue=0; shift ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) ksi_die "unknown option $1 (see --help)" ;;
    *) [ -z "$config" ] || ksi_die "one CONFIG only (got $config and $1)"; config=$1; shift ;;
  esac
done
extra_sbatch=("$@")
[ -n "$config" ] || ksi_die "usage: jobs/submit-pipeline.sh [--dir RUN_DIR] [--continue] [--no-requeue] CONFIG [-- SBATCH_OPTIONS...]"
ksi_normalize_sbatch_options extra_sbatch
command -v sbatch >/dev/null || ksi_die "sbatch not found: submit from a Slurm login node"
ksi_cfg_check "$config"
ksi_cfg_get "$config" synth generator >/dev/null
for stage in "${KSI_STAGES[@]}"; do ksi_cfg_sbatch_options "$config" "$stage" >/dev/null; done

if [ -z "$run_dir" ]; then
  run_dir=$root/out/$(basename "${config%.*}")-$(date +%Y%m%d-%H%M%S)
fi
if [ -e "$run_dir/pipeline.cfg" ] && [ $continue_run -eq 0 ]; then
  ksi_die "$run_dir already holds a run (use --continue to resume it, or another --dir)"
fi
mkdir -p "$run_dir/logs"
run_dir=$(cd "$run_dir" && pwd)
if [ $continue_run -eq 1 ] && [ -e "$run_dir/pipeline.cfg" ]; then
  cmp -s "$config" "$run_dir/pipeline.cfg" ||
    ksi_die "$run_dir/pipeline.cfg differs from $config: a continued run keeps its description"
else
  cp "$config" "$run_dir/pipeline.cfg"
fi

# submit STAGE DEPENDENCY: sbatch with the stage's options, then SBATCH_OPTIONS (sbatch takes the last
# of a repeated option); prints the job id. The automatic --signal of fit and sample follows the --time
# that holds, the config's or one given after --.
submit() {
  local stage=$1 dependency=$2 options
  mapfile -t options < <(ksi_cfg_sbatch_options "$run_dir/pipeline.cfg" "$stage")
  [ -n "$dependency" ] && options+=("--dependency=afterok:$dependency" --kill-on-invalid-dep=yes)
  case $stage in
    fit|sample) [ $requeue -eq 1 ] && options+=(--requeue) ;;
  esac
  options+=("${extra_sbatch[@]}")
  case $stage in
    fit|sample) ksi_add_signal_option options ;;
  esac
  sbatch --parsable --job-name="ksi-$stage" --output="$run_dir/logs/%x-%j.out" \
         --export="ALL,KSI_ROOT=$KSI_ROOT,KSI_REQUEUE=$requeue" \
         "${options[@]}" "$root/jobs/$stage.sbatch" "$run_dir" | cut -d';' -f1
}

synth=$(submit synth "")
fit=$(submit fit "$synth")
sample=$(submit sample "$fit")
stats=$(submit stats "$sample")
printf 'synth %s\nfit %s\nsample %s\nstats %s\n' "$synth" "$fit" "$sample" "$stats" | tee "$run_dir/jobs.txt"
ksi_log "submitted $run_dir: follow with  squeue -j $synth,$fit,$sample,$stats  and  sacct -j $synth,$fit,$sample,$stats"
