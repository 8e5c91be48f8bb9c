#!/usr/bin/env bash
# Submits a parameter sweep: the training set once (synth), then an array job with one task per line
# of TASKS (each a fit and a sample; jobs/sweep.sbatch), then a summary job that collects every task
# into RUN_DIR/sweep.csv (jobs/lib/sweep_summary.py).
#
#   jobs/submit-sweep.sh [--dir RUN_DIR] [--max-parallel N] CONFIG TASKS [-- SBATCH_OPTIONS...]
#
#   CONFIG   a run description as for jobs/submit-pipeline.sh: [synth] (the data), [fit] and [sample]
#            (options every task shares) and sbatch-* keys; the array tasks take [fit]'s sbatch-* keys
#   TASKS    one task per line (inputs/sweep-*.tasks): ksi fit options, then optionally '|' and ksi
#            sample options; empty lines and lines starting with '#' are not tasks
#   --max-parallel N   at most N array tasks run at once (sbatch --array=...%N)
#   SBATCH_OPTIONS     given to every job after the config's own (e.g. --partition=debug); the array
#                      tasks get --signal=B:USR1@LEAD (a tenth of their --time, 30 s to 5 min) unless
#                      a --signal is given
#
# Prints "synth ID", "sweep ID" (the array) and "summary ID" (also in RUN_DIR/jobs.txt).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/jobs/lib/launch.sh"
source "$root/jobs/lib/config.sh"

run_dir= max_parallel= config= tasks=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) run_dir=${2:?--dir needs a folder}; shift 2 ;;
    --max-parallel) max_parallel=${2:?--max-parallel needs a number}; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) ksi_die "unknown option $1 (see --help)" ;;
    *) if [ -z "$config" ]; then config=$1; elif [ -z "$tasks" ]; then tasks=$1; else ksi_die "unexpected argument $1"; fi; shift ;;
  esac
done
extra_sbatch=("$@")
[ -n "$config" ] && [ -n "$tasks" ] ||
  ksi_die "usage: jobs/submit-sweep.sh [--dir RUN_DIR] [--max-parallel N] CONFIG TASKS [-- SBATCH_OPTIONS...]"
ksi_normalize_sbatch_options extra_sbatch
command -v sbatch >/dev/null || ksi_die "sbatch not found: submit from a Slurm login node"
ksi_cfg_check "$config"
for stage in synth fit; do ksi_cfg_sbatch_options "$config" "$stage" >/dev/null; done
[ -r "$tasks" ] || ksi_die "cannot read the task list $tasks"
count=$(grep -c -v -E '^[[:space:]]*(#|$)' "$tasks" || true)
[ "$count" -gt 0 ] || ksi_die "$tasks holds no task lines"

[ -n "$run_dir" ] || run_dir=$root/out/$(basename "${tasks%.*}")-$(date +%Y%m%d-%H%M%S)
[ ! -e "$run_dir/pipeline.cfg" ] || ksi_die "$run_dir already holds a run: choose another --dir"
mkdir -p "$run_dir/logs"
run_dir=$(cd "$run_dir" && pwd)
cp "$config" "$run_dir/pipeline.cfg"
cp "$tasks" "$run_dir/sweep.tasks"

common=(--parsable --export="ALL,KSI_ROOT=$KSI_ROOT,KSI_REQUEUE=0")
mapfile -t synth_options < <(ksi_cfg_sbatch_options "$run_dir/pipeline.cfg" synth)
mapfile -t task_options < <(ksi_cfg_sbatch_options "$run_dir/pipeline.cfg" fit)
task_options+=("${extra_sbatch[@]}")
ksi_add_signal_option task_options  # after SBATCH_OPTIONS: a --time given there counts
synth=$(sbatch "${common[@]}" --job-name=ksi-synth --output="$run_dir/logs/%x-%j.out" \
          "${synth_options[@]}" "${extra_sbatch[@]}" "$root/jobs/synth.sbatch" "$run_dir" | cut -d';' -f1)
array="0-$((count - 1))${max_parallel:+%$max_parallel}"
sweep=$(sbatch "${common[@]}" --job-name=ksi-sweep --array="$array" --dependency="afterok:$synth" \
          --kill-on-invalid-dep=yes --output="$run_dir/logs/%x-%A_%a.out" \
          "${task_options[@]}" "$root/jobs/sweep.sbatch" "$run_dir" | cut -d';' -f1)
# afterany: the summary also reports the tasks that failed.
summary=$(sbatch "${common[@]}" --job-name=ksi-sweep-summary --ntasks=1 --time=00:10:00 \
            --dependency="afterany:$sweep" --output="$run_dir/logs/%x-%j.out" "${extra_sbatch[@]}" \
            --wrap="/usr/bin/python3 '$root/jobs/lib/sweep_summary.py' '$run_dir'" | cut -d';' -f1)
printf 'synth %s\nsweep %s\nsummary %s\n' "$synth" "$sweep" "$summary" | tee "$run_dir/jobs.txt"
ksi_log "submitted $count tasks in $run_dir; the summary will be $run_dir/sweep.csv"
