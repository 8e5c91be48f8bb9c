#!/usr/bin/env bash
# A fit and a sampling run stopped by SIGUSR1 (as Slurm's --signal=B:USR1@N does) exit with code 75,
# keep their checkpoint / partial output, refuse to start over without --resume or --force, and when
# resumed give bitwise the model and the samples of uninterrupted runs, having used what was saved:
# their --report JSON counts the batches taken from the checkpoint / partial output (at least one)
# and those computed again (the rest), and the log says so. A second interruption of the resumed
# fit is resumed too. (The resume of a finished fit, whose solution is in the checkpoint, and of the
# stages after it: test_cli_resume_fields.sh.)
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

"$ksi" synth mixture --count 6000 --out data.h5 -q || exit 1
# --batch 60: 100 batches of 60 items x 6 draws, many per rank. The signals are sent once the log
# shows that the stage has begun (cli_lib stop_when): it stops after the batch in progress, so the
# checkpoint holds at least one batch per rank on fast and slow machines alike.
fit_args=(--data data.h5 --features fourier --feature-params count=384 --times 48 --draws 6 --batch 360
          --checkpoint-every 0)
run 2 "$ksi" fit "${fit_args[@]}" --out reference.h5 -q || exit 1

# Interrupted part-way through (2 time groups of 1 rank, each walking all items for half the times),
# interrupted again on 3 ranks in one group, then resumed on 3 ranks in 3 time groups: a checkpoint
# does not depend on the groups that wrote or read it, and the model is the reference's bits.
stop_when "fit: 6000 items" fit_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out model.h5 --time-groups 2
check "interrupted fit exited 75" [ $? -eq 75 ]
check "checkpoint kept" test -f model.h5.checkpoint
expect_absent model.h5
expect_exit 4 "use --resume to continue it" -- "$ksi" fit "${fit_args[@]}" --out model.h5
# A damaged checkpoint is refused, naming what is wrong, on two ranks without a hang (a short eta
# corrupted the heap; a NaN in the sums or a short batch mask gave a wrong model with exit 0).
cp model.h5.checkpoint checkpoint.bak
damage() {  # damage PYTHON_EDIT MESSAGE
  cp checkpoint.bak model.h5.checkpoint
  $PY -c "import h5py; f = h5py.File('model.h5.checkpoint', 'a'); $1"
  expect_exit 3 "$2" -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out model.h5 --resume
  expect_absent model.h5
}
damage "e = f['eta'][:5]; del f['eta']; f['eta'] = e" "/eta has shape (5, 384), expected (48, 384)"
damage "e = f['batch_done'][:4]; del f['batch_done']; f['batch_done'] = e" "/batch_done has shape (4), expected (100)"
damage "f['sums'][0, 0] = float('nan')" "/sums holds a non-finite value"
cp checkpoint.bak model.h5.checkpoint
stop_when "fit: resuming" fit_stop2.log USR1 -- "$MPIEXEC" -n 3 --oversubscribe "$ksi" fit "${fit_args[@]}" --out model.h5 --resume
check "the fit interrupted again after resuming exited 75" [ $? -eq 75 ]
run 3 "$ksi" fit "${fit_args[@]}" --out model.h5 --resume --time-groups 3 --report fit_resumed.json >fit_resume.log 2>&1 ||
  { echo "FAIL: resume"; failures=$((failures+1)); }
check "the log of the resumed fit says what it skipped" grep -q "fit: resuming from model.h5.checkpoint at time 0 of 48 ([0-9]* of 100 batches of that chunk done): skipping" fit_resume.log
expect_absent model.h5.checkpoint

# The same for sampling.
sample_args=(--model reference.h5 --count 12000 --steps 80 --batch 16)
run 2 "$ksi" sample "${sample_args[@]}" --out reference_samples.h5 -q || exit 1
stop_when "sample: 12000 samples" sample_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" sample "${sample_args[@]}" --out samples.h5
check "interrupted sampling exited 75" [ $? -eq 75 ]
check "partial output kept" test -f samples.h5.partial
expect_exit 4 "use --resume to continue it" -- "$ksi" sample "${sample_args[@]}" --out samples.h5
cp samples.h5.partial partial.bak
for edit in "e = f['fields'][:4]; del f['fields']; f['fields'] = e" "f['fields'][0, 0] = float('nan')"; do
  cp partial.bak samples.h5.partial
  $PY -c "import h5py; f = h5py.File('samples.h5.partial', 'a'); $edit"
  expect_exit 3 "partial output samples.h5.partial is damaged" -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" sample "${sample_args[@]}" --out samples.h5 --resume
  expect_absent samples.h5
done
cp partial.bak samples.h5.partial
run 1 "$ksi" sample "${sample_args[@]}" --out samples.h5 --resume --report sample_resumed.json >sample_resume.log 2>&1 ||
  { echo "FAIL: resume sampling"; failures=$((failures+1)); }
check "the log of the resumed sampling says what it skipped" grep -q "sample: resuming samples.h5.partial: [0-9]* of 750 batches already done, skipped" sample_resume.log

$PY - <<'PY'
import h5py, numpy as np, sys
bad = 0
a = h5py.File('reference.h5')['eta'][:]; b = h5py.File('model.h5')['eta'][:]
print('resumed eta equals uninterrupted bitwise:', a.tobytes() == b.tobytes())
bad += a.tobytes() != b.tobytes()
s = h5py.File('reference_samples.h5')['fields'][:]; t = h5py.File('samples.h5')['fields'][:]
print('resumed samples equal uninterrupted bitwise:', s.tobytes() == t.tobytes())
bad += s.tobytes() != t.tobytes()
import json
f = json.load(open('fit_resumed.json'))['resume']['fit']
print('fit resume:', f)
ok = f['resumed'] and not f['finished'] and f['batches'] == 100 and f['batches_skipped'] >= 2 and f['batches_skipped'] + f['batches_assembled'] == 100
print(('ok: ' if ok else 'FAIL: ') + f"resumed fit took {f['batches_skipped']} of 100 batches from its checkpoint and assembled the rest")
bad += not ok
r = json.load(open('sample_resumed.json'))['resume']
print('sample resume:', r)
ok = r['resumed'] and r['batches'] == 750 and r['batches_skipped'] >= 2 and r['batches_skipped'] + r['batches_integrated'] == 750
print(('ok: ' if ok else 'FAIL: ') + f"resumed sampling took {r['batches_skipped']} of 750 batches from its partial output and integrated the rest")
bad += not ok
sys.exit(bad)
PY
[ $? -eq 0 ] || failures=$((failures + 1))
finish
