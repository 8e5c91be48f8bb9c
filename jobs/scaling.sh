#!/usr/bin/env bash
# Strong and weak scaling of ksi fit and ksi sample: runs every (mode, stage, ranks) point of
# inputs/scaling.cfg (or --config FILE), best of the repeats, and writes OUT/scaling.csv (times,
# per-phase maxima over ranks, efficiencies), OUT/scaling.png and OUT/scaling.json.
#
#   jobs/scaling.sh [--config FILE] [--ranks 1,2,4] [--repeats N] [--out DIR]
#
# Locally it launches with mpirun (oversubscribed when ranks exceed the cores: those points measure the
# oversubscription too and are marked so); inside a Slurm allocation (jobs/scaling.sbatch) with srun or
# mpirun as jobs/lib/launch.sh decides, at most SLURM_NTASKS ranks.
# Efficiency: strong t(1) / (p t(p)), weak t(1) / t(p), from the stage's own time in the ksi report
# (fit_seconds: assembly, reductions and solves; sample_seconds: integration) and from the wall time of
# the whole command (reading, writing and start-up included).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/jobs/lib/launch.sh"
source "$root/jobs/lib/config.sh"

config=$root/inputs/scaling.cfg ranks= repeats= out=
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --ranks) ranks=${2:?--ranks needs a list such as 1,2,4}; shift 2 ;;
    --repeats) repeats=${2:?--repeats needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    -h|--help) awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) ksi_die "unknown argument $1; usage: jobs/scaling.sh [--config FILE] [--ranks 1,2,4] [--repeats N] [--out DIR]" ;;
  esac
done
sections=(study data fit sample strong weak)
ksi_cfg_check "$config" "${sections[@]}"
ranks=${ranks:-$(ksi_cfg_get "$config" study ranks)}
repeats=${repeats:-$(ksi_cfg_get "$config" study repeats 1)}
IFS=, read -ra rank_list <<<"$ranks"
strong_items=$(ksi_cfg_get "$config" strong items)
strong_samples=$(ksi_cfg_get "$config" strong samples)
weak_items=$(ksi_cfg_get "$config" weak items-per-rank)
weak_samples=$(ksi_cfg_get "$config" weak samples-per-rank)
generator=$(ksi_cfg_get "$config" data generator)
max_ranks=0
for r in "${rank_list[@]}"; do [ "$r" -gt "$max_ranks" ] && max_ranks=$r; done
if [ -n "${SLURM_NTASKS:-}" ] && [ "$max_ranks" -gt "$SLURM_NTASKS" ]; then
  ksi_die "ranks up to $max_ranks do not fit the allocation of $SLURM_NTASKS tasks"
fi

out=${out:-$root/out/scaling-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"/{models,samples,reports}
out=$(cd "$out" && pwd)
cp "$config" "$out/scaling.cfg"
for s in data fit sample; do
  ksi_cfg_write_stage "$config" "$s" "$out/$s.cfg"
  sed -i '/^generator = /d' "$out/$s.cfg"
done
ksi_find_binary
ksi_choose_launcher
cores=$( [ -n "${SLURM_JOB_ID:-}" ] && echo "${SLURM_CPUS_ON_NODE:-$(ksi_local_cores)}" || ksi_local_cores )
ksi_log "scaling study in $out: ranks ${rank_list[*]}, $repeats repeat(s), $cores cores, $("$KSI" --version)"
# Other work on the machine shows in the timings: keep the load before and after with the results.
echo "before $(cat /proc/loadavg 2>/dev/null)" >"$out/loadavg.txt"

# run_ksi RANKS ksi-arguments...: ksi_run. Inside an allocation srun gives each step its own
# SLURM_NTASKS, but ranks started by mpirun inherit the allocation's: a point with fewer ranks would stop
# on ksi's SLURM_NTASKS check (exit 6), so those launches set KSI_IGNORE_SLURM_NTASKS (and pass it on).
run_ksi() {
  if [ -n "${SLURM_NTASKS:-}" ] && [ "$KSI_LAUNCHER" = mpirun ] && [ "$1" -ne "$SLURM_NTASKS" ]; then
    KSI_IGNORE_SLURM_NTASKS=1 KSI_MPIRUN_FLAGS="${KSI_MPIRUN_FLAGS:-} -x KSI_IGNORE_SLURM_NTASKS" \
      ksi_run "$@"
  else
    ksi_run "$@"
  fi
}

# One data set large enough for every point; the fits read its first N items (--max-items).
items_needed=$strong_items
[ $((weak_items * max_ranks)) -gt "$items_needed" ] && items_needed=$((weak_items * max_ranks))
run_ksi "$max_ranks" synth "$generator" --config "$out/data.cfg" --count "$items_needed" \
        --out "$out/data.h5" --force -q

# CPU seconds (user + system) of the finished children of this shell: outside Slurm the ranks of every
# launch (their times roll up through mpirun).
# (times must run in this shell, not in a command substitution's subshell, which has no children.)
children_cpu_seconds() {
  times >"$out/.times"
  tail -1 "$out/.times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += 60 * a[1] + a[2] } printf "%.3f", t }'
}

# point MODE STAGE RANKS REPEAT: one measured run, its report in reports/.
point() {
  local mode=$1 stage=$2 r=$3 k=$4 size
  local name=$mode-$stage-np$r-$k
  local start cpu_start
  start=$(date +%s%N)
  children_cpu_seconds >"$out/.cpu_start"
  cpu_start=$(cat "$out/.cpu_start")
  if [ "$stage" = fit ]; then
    [ "$mode" = strong ] && size=$strong_items || size=$((weak_items * r))
    run_ksi "$r" fit --config "$out/fit.cfg" --data "$out/data.h5" --max-items "$size" \
            --out "$out/models/$name.h5" --force -q --report "$out/reports/$name.json"
  else
    [ "$mode" = strong ] && size=$strong_samples || size=$((weak_samples * r))
    run_ksi "$r" sample --config "$out/sample.cfg" --model "$out/models/reference.h5" --count "$size" \
            --out "$out/samples/$name.h5" --force -q --report "$out/reports/$name.json"
  fi
  local elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  local cpu
  children_cpu_seconds >"$out/.cpu_end"
  cpu=$(awk -v a="$cpu_start" -v b="$(cat "$out/.cpu_end")" 'BEGIN { printf "%.3f", b - a }')
  # Inside Slurm the ranks descend from slurmstepd, not from this shell: their time is not seen here.
  if [ -n "${SLURM_JOB_ID:-}" ]; then cpu=; fi
  printf '%s,%s,%s,%s,%s,%d.%03d,%s\n' "$mode" "$stage" "$r" "$k" "$size" $((elapsed_ms / 1000)) \
         $((elapsed_ms % 1000)) "$cpu" >>"$out/launches.csv"
}

echo "mode,stage,ranks,repeat,size,launch_seconds,cpu_seconds" >"$out/launches.csv"
# The model every sample run draws from: the strong-scaling fit on one rank.
run_ksi 1 fit --config "$out/fit.cfg" --data "$out/data.h5" --max-items "$strong_items" \
        --out "$out/models/reference.h5" --force -q
for k in $(seq 1 "$repeats"); do
  for mode in strong weak; do
    for stage in fit sample; do
      for r in "${rank_list[@]}"; do
        point "$mode" "$stage" "$r" "$k"
      done
    done
  done
done
echo "after $(cat /proc/loadavg 2>/dev/null)" >>"$out/loadavg.txt"
rm -f "$out"/.times "$out"/.cpu_start "$out"/.cpu_end
# Outputs of the models and samples are compared, not kept.
/usr/bin/python3 "$root/jobs/lib/scaling_report.py" "$out" --cores "$cores"
rm -f "$out"/samples/*.h5
