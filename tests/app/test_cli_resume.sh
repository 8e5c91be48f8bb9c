#!/usr/bin/env bash
# A fit and a sampling run stopped by SIGUSR1 (as Slurm's --signal=B:USR1@N does) exit with code 75,
# keep their checkpoint / partial output, refuse to start over without --resume or --force, and when
# resumed give bitwise the model and the samples of uninterrupted runs.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
run() { "$MPIEXEC" -n "$1" --oversubscribe "${@:2}"; }

"$ksi" synth mixture --count 6000 --out data.h5 -q || exit 1
fit_args=(--data data.h5 --features fourier --feature-params count=384 --times 48 --draws 6 --checkpoint-every 0 -q)
# The signals below are sent at a fraction of the uninterrupted run's measured wall time, so the test
# holds on fast and slow machines alike.
now() { date +%s%N; }
# 45% of the time since $1 (ns), in seconds, at least 0.5 s.
wait_after() { awk -v d=$(( $(now) - $1 )) 'BEGIN { w = 0.45 * d / 1e9; printf "%.2f", (w < 0.5 ? 0.5 : w) }'; }
t0=$(now)
run 2 "$ksi" fit "${fit_args[@]}" --out reference.h5 || exit 1
fit_wait=$(wait_after $t0)
echo "interrupting the fit after $fit_wait s"

# Interrupted part-way through, then resumed on 3 ranks.
"$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out model.h5 &
pid=$!
sleep "$fit_wait"
kill -USR1 $pid
wait $pid
code=$?
[ $code -eq 75 ] && echo "ok: interrupted fit exited 75" || { echo "FAIL: interrupted fit exited $code"; failures=$((failures+1)); }
[ -f model.h5.checkpoint ] && echo "ok: checkpoint kept" || { echo "FAIL: no checkpoint"; failures=$((failures+1)); }
expect_absent model.h5
expect_exit 4 "use --resume to continue it" -- "$ksi" fit "${fit_args[@]}" --out model.h5
run 3 "$ksi" fit "${fit_args[@]}" --out model.h5 --resume || { echo "FAIL: resume"; failures=$((failures+1)); }
expect_absent model.h5.checkpoint

# The same for sampling.
sample_args=(--model reference.h5 --count 12000 --steps 80 --batch 16 -q)
t0=$(now)
run 2 "$ksi" sample "${sample_args[@]}" --out reference_samples.h5 || exit 1
sample_wait=$(wait_after $t0)
echo "interrupting the sampling after $sample_wait s"
"$MPIEXEC" -n 2 --oversubscribe "$ksi" sample "${sample_args[@]}" --out samples.h5 &
pid=$!
sleep "$sample_wait"
kill -USR1 $pid
wait $pid
code=$?
[ $code -eq 75 ] && echo "ok: interrupted sampling exited 75" || { echo "FAIL: interrupted sampling exited $code"; failures=$((failures+1)); }
[ -f samples.h5.partial ] && echo "ok: partial output kept" || { echo "FAIL: no partial output"; failures=$((failures+1)); }
expect_exit 4 "use --resume to continue it" -- "$ksi" sample "${sample_args[@]}" --out samples.h5
run 1 "$ksi" sample "${sample_args[@]}" --out samples.h5 --resume || { echo "FAIL: resume sampling"; failures=$((failures+1)); }

$PY - <<'PY'
import h5py, numpy as np, sys
bad = 0
a = h5py.File('reference.h5')['eta'][:]; b = h5py.File('model.h5')['eta'][:]
print('resumed eta equals uninterrupted bitwise:', a.tobytes() == b.tobytes())
bad += a.tobytes() != b.tobytes()
s = h5py.File('reference_samples.h5')['fields'][:]; t = h5py.File('samples.h5')['fields'][:]
print('resumed samples equal uninterrupted bitwise:', s.tobytes() == t.tobytes())
bad += s.tobytes() != t.tobytes()
sys.exit(bad)
PY
[ $? -eq 0 ] || failures=$((failures + 1))
finish
