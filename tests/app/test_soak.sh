#!/usr/bin/env bash
# Soak (label soak): CYCLES (KSI_SOAK_CYCLES; 20, in ctest 10) fit -> sample -> stats cycles in a row on 3 ranks, each stage sent
# SIGTERM on every rank at a random moment (as a batch system does at a time limit) and rerun until
# it completes: ksi fit and ksi sample with --resume after exit 75 (interrupted again at random half
# of the time), ksi stats (no checkpoint: killed) from the start. Every cycle's model, samples and
# statistics must be bitwise those of the uninterrupted run; fit and sample may only end with 0 or 75.
# Prints the counts of signals, interruptions and resumes and the cycle times.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
cycles=${KSI_SOAK_CYCLES:-${KSI_SOAK_CYCLES_DEFAULT:-20}}
RANDOM=15  # the delays are random, the same sequence on every run
ranks=3
launch() { "$MPIEXEC" -n $ranks --oversubscribe "$ksi" "$@"; }

"$ksi" synth mixture --count 1500 --out train.h5 -q || exit 1
"$ksi" synth mixture --count 500 --seed 2 --out test.h5 -q || exit 1
fit_args=(--data train.h5 --features fourier --feature-params count=128 --times 16 --draws 4 --batch 40 --checkpoint-every 0)
sample_args=(--count 1600 --steps 30 --batch 40)
stats_args=(--train train.h5 --test test.h5 --energy-items 250)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t=$(now_ms)
launch fit "${fit_args[@]}" --out fit_reference.h5 -q || exit 1
fit_ms=$(( $(now_ms) - t )); t=$(now_ms)
launch sample "${sample_args[@]}" --model fit_reference.h5 --out sample_reference.h5 -q || exit 1
sample_ms=$(( $(now_ms) - t )); t=$(now_ms)
launch stats "${stats_args[@]}" --gen sample_reference.h5 --model fit_reference.h5 --out-dir stats_reference -q || exit 1
stats_ms=$(( $(now_ms) - t ))
echo "uninterrupted on $ranks ranks: fit $fit_ms ms, sample $sample_ms ms, stats $stats_ms ms"

signals=0 interrupted=0 resumes=0 finished_first=0 stats_killed=0 bad_exits=0
# attempt MAX_MS LOG ARGS...: runs `ksi ARGS` on $ranks ranks; once it has logged its first line (its
# signal handlers are in place) waits a random 0..MAX_MS ms (MAX_MS 0: no signal) and sends SIGTERM
# to every rank; returns the job's exit code.
attempt() {
  local max_ms=$1 log=$2
  shift 2
  : >"$log"  # before the launch: a stale match would signal a run still starting
  "$MPIEXEC" -n $ranks --oversubscribe "$ksi" "$@" >"$log" 2>&1 &
  local pid=$! delay=$(( RANDOM % (max_ms + 1) ))
  if [ "$max_ms" -gt 0 ]; then
    until grep -q "\] [a-z]*:" "$log" 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.02; done
    local until_ms=$(( $(now_ms) + delay ))
    while [ "$(now_ms)" -lt $until_ms ] && kill -0 $pid 2>/dev/null; do sleep 0.02; done
    if kill -0 $pid 2>/dev/null; then
      signals=$((signals + 1))
      for rank in $(pgrep -P $pid); do kill -TERM "$rank" 2>/dev/null; done
    fi
  fi
  wait $pid
}
# resumable STAGE MAX_MS ARGS...: a stage with checkpoints, until it completes.
resumable() {
  local stage=$1 max_ms=$2
  shift 2
  local resume=() code
  while true; do
    attempt "$max_ms" "$stage.log" "$stage" "$@" "${resume[@]}"
    code=$?
    case $code in
      0) [ ${#resume[@]} -eq 0 ] && finished_first=$((finished_first + 1)); return 0 ;;
      75) interrupted=$((interrupted + 1)); resumes=$((resumes + 1)); resume=(--resume)
          [ $((RANDOM % 2)) -eq 0 ] && max_ms=0 ;;  # half the reruns run undisturbed
      *) echo "FAIL: ksi $stage exited $code (expected 0 or 75):"; cat "$stage.log"; bad_exits=$((bad_exits + 1)); return 1 ;;
    esac
  done
}

cycle_ms=()
for cycle in $(seq 1 "$cycles"); do
  t=$(now_ms)
  rm -rf model.h5 samples.h5 stats
  # Signals within half an uninterrupted run's time (its start-up included) after its first log line.
  resumable fit $(( fit_ms / 2 )) "${fit_args[@]}" --out model.h5 || break
  resumable sample $(( sample_ms / 2 )) "${sample_args[@]}" --model model.h5 --out samples.h5 || break
  tries=0 stats_max_ms=$(( stats_ms / 2 ))
  # ksi stats has no checkpoint: a rerun starts over, and half the reruns run undisturbed (as fit and
  # sample do), or a stage slower than half its reference time would never finish.
  until attempt $stats_max_ms stats.log stats "${stats_args[@]}" --gen samples.h5 --model model.h5 \
          --out-dir stats --force; do
    stats_killed=$((stats_killed + 1)) tries=$((tries + 1))
    [ $((RANDOM % 2)) -eq 0 ] && stats_max_ms=0
    [ $tries -lt 10 ] || { echo "FAIL: ksi stats failed 10 times:"; cat stats.log; bad_exits=$((bad_exits + 1)); break 2; }
  done
  cycle_ms+=($(( $(now_ms) - t )))
  $PY - "$cycle" <<'PY' || { failures=$((failures + 1)); break; }
import h5py, json, sys
same_model = h5py.File("model.h5", "r")["eta"][...].tobytes() == h5py.File("fit_reference.h5", "r")["eta"][...].tobytes()
same_samples = h5py.File("samples.h5", "r")["fields"][...].tobytes() == h5py.File("sample_reference.h5", "r")["fields"][...].tobytes()
a, b = json.load(open("stats/stats.json")), json.load(open("stats_reference/stats.json"))
same_stats = a["judgements"] == b["judgements"] and a["reference"] == b["reference"]
ok = same_model and same_samples and same_stats
print(f"{'ok' if ok else 'FAIL'}: cycle {sys.argv[1]}: model {same_model}, samples {same_samples}, statistics {same_stats} (bitwise)")
sys.exit(0 if ok else 1)
PY
  expect_absent model.h5.checkpoint samples.h5.partial
done
[ ${#cycle_ms[@]} -eq "$cycles" ] || { echo "FAIL: ${#cycle_ms[@]} of $cycles cycles completed"; failures=$((failures + 1)); }
[ $bad_exits -eq 0 ] || failures=$((failures + 1))
# At least a quarter of the cycles saw an interruption and its resume (a signal after a stage's last
# agreement point lets it finish: ksi fit and ksi sample then end with 0).
check "$interrupted fit/sample runs interrupted (exit 75) and resumed by $signals signals" [ $interrupted -ge $(( (cycles + 3) / 4 )) ]
printf '%s\n' "${cycle_ms[@]}" | awk -v s=$signals -v i=$interrupted -v r=$resumes -v k=$stats_killed -v f=$finished_first '
  { t += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
  END { printf "soak: %d cycles on 3 ranks, %d SIGTERMs: %d fit/sample runs interrupted (exit 75) and resumed, %d stats runs killed and rerun, %d runs finished before their signal; cycle %.1f s mean (%.1f to %.1f s)\n", NR, s, i, k, f, t / NR / 1000, lo / 1000, hi / 1000 }'
finish
