#!/usr/bin/env bash
# Faults and bad input, each with one clear outcome:
#   1. a rank killed with SIGKILL in the middle of ksi fit, ksi sample and ksi drift (3 ranks): the job
#      exits non-zero within a minute, no output appears under its final name, every input keeps its
#      checksum; the fit resumes from its last periodic checkpoint and the sampling from its partial
#      output (killed twice), each to the bits of an uninterrupted run, having skipped saved work;
#   2. truncated and corrupted HDF5 inputs (data, model), files of another ksi format version (data,
#      model, samples), data with NaN or Inf: exit 3 and one message naming the file, on 1 and 2
#      ranks, nothing written; files without a format version (earlier ksi, h5py) are read, and every
#      file ksi writes carries version 1;
#   3. a disk that fills up while writing (a small tmpfs mounted here: skipped with a message where
#      that is not allowed): exit 4, one message saying so, nothing left on it, no hang;
#   4. exit code 5 (a sample or the drifting velocity turns non-finite) and 6 (MPI size differs from
#      SLURM_NTASKS), on 1 and 2 ranks, with one message;
#   5. SIGTERM and SIGINT to the commands that keep no checkpoint (ksi synth on 1 and 2 ranks, ksi
#      drift) while they work: a non-zero exit (the signal's status on one rank), one line saying
#      so, and neither the output nor its temporary left.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
on() { if [ "$1" -eq 1 ]; then "${@:2}"; else run "$@"; fi; }  # 1 rank without a launcher
sums() { sha256sum "$@"; }

# expect_one_error CODE PATTERN -- command...: exit CODE, and exactly one "ksi: error" line, matching.
expect_one_error() {
  local want=$1 pattern=$2
  shift 3
  local out got
  out=$("$@" 2>&1)
  got=$?
  local lines
  lines=$(grep -c "ksi: error" <<<"$out")
  if [ "$got" -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep "ksi: error" <<<"$out" | grep -q -- "$pattern"; then
    echo "FAIL: '$*' exited $got (want $want) with $lines error line(s), want one matching '$pattern': $out"
    failures=$((failures + 1))
  else
    echo "ok: $* -> $got: $(grep 'ksi: error' <<<"$out")"
  fi
}

"$ksi" synth mixture --count 6000 --out data.h5 -q || exit 1
"$ksi" synth mixture --count 1000 --seed 2 --out test.h5 -q || exit 1
"$ksi" fit --data data.h5 --out model.h5 --features fourier --feature-params count=128 --times 12 --draws 2 -q || exit 1

# ---------------------------------------------------------------------------------------------------
# 1. SIGKILL of one rank of three.
# kill_rank_when PATTERN LOG -- mpirun...: once LOG matches PATTERN, SIGKILL the last rank; prints the
# job's exit code and the seconds from the kill to the end of the job.
kill_rank_when() {
  local pattern=$1 log=$2
  shift 3
  : >"$log"
  "$@" >"$log" 2>&1 &
  local pid=$!
  until grep -q -- "$pattern" "$log" 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done
  sleep 0.5
  local victim start end code
  victim=$(pgrep -P $pid | tail -n 1)
  start=$(date +%s%N)
  [ -n "$victim" ] && kill -KILL "$victim"
  wait $pid
  code=$?
  end=$(date +%s%N)
  echo "$code $(( (end - start) / 1000000000 ))"
}
expect_killed() {  # expect_killed WHAT "CODE SECONDS"
  local what=$1 code=${2% *} seconds=${2#* }
  check "$what: the job ended non-zero ($code) ${seconds} s after a rank was killed" \
    [ "$code" -ne 0 -a "$code" -ne 75 -a "$seconds" -lt 60 ]
}
inputs_before=$(sums data.h5 test.h5 model.h5)

fit_args=(--data data.h5 --features fourier --feature-params count=256 --times 24 --draws 4 --batch 200)
run 3 "$ksi" fit "${fit_args[@]}" --out fit_reference.h5 -q || exit 1
# Periodic checkpoints every second: the kill comes after at least one (the log says so).
result=$(kill_rank_when "fit: checkpoint written" fit_kill.log -- "$MPIEXEC" -n 3 --oversubscribe "$ksi" fit \
           "${fit_args[@]}" --out fit_killed.h5 --checkpoint-every 1)
expect_killed "fit" "$result"
expect_absent fit_killed.h5
check "the last checkpoint before the kill is complete, with the format version" $PY -c "
import h5py, sys
sys.exit(0 if h5py.File('fit_killed.h5.checkpoint', 'r').attrs['ksi_format_version'] == 1 else 1)"
run 3 "$ksi" fit "${fit_args[@]}" --out fit_killed.h5 --resume --report fit_killed.json -q ||
  { echo "FAIL: resume after the kill"; failures=$((failures + 1)); }

# Enough samples that the resumed run (attempt 2) is still working when its rank is killed on an idle
# machine (20000 finished within the kill delay there).
sample_args=(--model model.h5 --count 80000 --steps 40 --batch 50)
run 3 "$ksi" sample "${sample_args[@]}" --out sample_reference.h5 -q || exit 1
for attempt in 1 2; do
  resume=(); [ $attempt -gt 1 ] && resume=(--resume)
  result=$(kill_rank_when "sample: " sample_kill$attempt.log -- "$MPIEXEC" -n 3 --oversubscribe "$ksi" sample \
             "${sample_args[@]}" --out sample_killed.h5 "${resume[@]}")
  expect_killed "sample (kill $attempt)" "$result"
  expect_absent sample_killed.h5
done
run 2 "$ksi" sample "${sample_args[@]}" --out sample_killed.h5 --resume --report sample_killed.json -q ||
  { echo "FAIL: resume of the killed sampling"; failures=$((failures + 1)); }

"$ksi" synth mixture --count 3000 --seed 3 --out drift_data.h5 -q || exit 1
drift_before=$(sums drift_data.h5 test.h5)
result=$(kill_rank_when "drift: " drift_kill.log -- "$MPIEXEC" -n 3 --oversubscribe "$ksi" drift \
           --data drift_data.h5 --test test.h5 --out particles.h5 --iterations 400 --energy-every 50 --tile 64)
expect_killed "drift" "$result"
expect_absent particles.h5
check "the inputs of the killed runs are untouched (sha256)" [ "$(sums data.h5 test.h5 model.h5)" = "$inputs_before" ]
check "the drift's inputs are untouched (sha256)" [ "$(sums drift_data.h5 test.h5)" = "$drift_before" ]

$PY - <<'PY' || failures=$((failures + 1))
import h5py, json, sys
from cli_checks import check, done
f = json.load(open("fit_killed.json"))["resume"]["fit"]
check(f["resumed"] and f["batches_skipped"] >= 1 and f["batches_skipped"] + f["batches_assembled"] == f["batches"],
      f"the killed fit resumed from its checkpoint: {f['batches_skipped']} of {f['batches']} batches skipped")
a, b = h5py.File("fit_reference.h5", "r"), h5py.File("fit_killed.h5", "r")
check(a["eta"][...].tobytes() == b["eta"][...].tobytes(), "the killed and resumed fit == the uninterrupted one, bitwise")
r = json.load(open("sample_killed.json"))["resume"]
check(r["resumed"] and r["batches_skipped"] >= 1 and r["batches_skipped"] + r["batches_integrated"] == 1600,
      f"the sampling killed twice resumed from its partial output: {r['batches_skipped']} of 1600 batches skipped")
a, b = h5py.File("sample_reference.h5", "r"), h5py.File("sample_killed.h5", "r")
check(a["fields"][...].tobytes() == b["fields"][...].tobytes(), "the killed and resumed samples == the uninterrupted ones, bitwise")
done()
PY

# ---------------------------------------------------------------------------------------------------
# 2. Bad input files.
"$ksi" synth gaussian --dim 3 --count 400 --out small.h5 -q || exit 1
"$ksi" fit --data small.h5 --out small_model.h5 --features polynomial --times 3 -q || exit 1
"$ksi" sample --model small_model.h5 --out small_samples.h5 --count 50 --steps 4 -q || exit 1
$PY - <<'PY' || exit 1
import h5py, numpy as np, shutil
def truncate(src, dst, fraction):
    data = open(src, "rb").read()
    open(dst, "wb").write(data[: int(len(data) * fraction)])
def zero(src, dst, start, stop):
    data = bytearray(open(src, "rb").read())
    data[start:stop] = bytes(stop - start)
    open(dst, "wb").write(data)
truncate("small.h5", "data_truncated.h5", 0.5)
zero("small.h5", "data_corrupt.h5", 800, 4000)          # the root group's metadata
truncate("small_model.h5", "model_truncated.h5", 0.6)
zero("small_model.h5", "model_corrupt.h5", 1900, 2200)   # attributes of the root group
for src, dst in (("small.h5", "data_v2.h5"), ("small_model.h5", "model_v2.h5"), ("small_samples.h5", "samples_v2.h5")):
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        f.attrs["ksi_format_version"] = 2
x = h5py.File("small.h5", "r")["fields"][...]
for name, value in (("data_nan.h5", np.nan), ("data_inf.h5", np.inf)):
    y = x.copy(); y[123, 1] = value
    with h5py.File(name, "w") as f:
        f["fields"] = y
with h5py.File("data_h5py.h5", "w") as f:   # no ksi_format_version: as written by earlier ksi
    f["fields"] = x
PY
# Every case on 1 rank, and on 2 ranks a case of each kind: the error is agreed (one message).
for bad in data_truncated data_corrupt; do
  expect_one_error 3 "$bad.h5.*damaged" -- on 1 "$ksi" fit --data $bad.h5 --out x.h5 --features polynomial --times 3 -q
  expect_one_error 3 "$bad.h5.*damaged" -- on 1 "$ksi" stats --train $bad.h5 --test small.h5 --gen small.h5 --out-dir xs -q
done
for bad in model_truncated model_corrupt; do
  expect_one_error 3 "$bad.h5.*damaged" -- on 1 "$ksi" sample --model $bad.h5 --out x.h5 --count 4 -q
done
expect_one_error 3 "data_v2.h5 is in ksi file format version 2, but this ksi reads format version 1" -- \
  on 1 "$ksi" fit --data data_v2.h5 --out x.h5 --features polynomial --times 3 -q
expect_one_error 3 "model_v2.h5 is in ksi file format version 2, but this ksi reads format version 1" -- \
  on 1 "$ksi" sample --model model_v2.h5 --out x.h5 --count 4 -q
expect_one_error 3 "samples_v2.h5 is in ksi file format version 2" -- \
  on 1 "$ksi" stats --train small.h5 --test small.h5 --gen samples_v2.h5 --out-dir xs -q
for bad in data_nan data_inf; do
  expect_one_error 3 "$bad.h5: item 123 contains NaN or infinite values" -- \
    on 1 "$ksi" fit --data $bad.h5 --out x.h5 --features polynomial --times 3 -q
  expect_one_error 3 "$bad.h5: item 123 contains NaN or infinite values" -- \
    on 1 "$ksi" stats --train small.h5 --test small.h5 --gen $bad.h5 --out-dir xs -q
  expect_one_error 3 "$bad.h5: item 123 contains NaN or infinite values" -- \
    on 1 "$ksi" drift --data $bad.h5 --out x.h5 --iterations 2 -q
done
expect_one_error 3 "data_truncated.h5.*damaged" -- on 2 "$ksi" fit --data data_truncated.h5 --out x.h5 --features polynomial --times 3 -q
expect_one_error 3 "model_corrupt.h5.*damaged" -- on 2 "$ksi" sample --model model_corrupt.h5 --out x.h5 --count 4 -q
expect_one_error 3 "model_v2.h5 is in ksi file format version 2" -- on 2 "$ksi" sample --model model_v2.h5 --out x.h5 --count 4 -q
expect_one_error 3 "data_nan.h5: item 123 contains NaN" -- on 2 "$ksi" stats --train small.h5 --test small.h5 --gen data_nan.h5 --out-dir xs -q
expect_one_error 3 "data_inf.h5: item 123 contains NaN or infinite" -- on 2 "$ksi" drift --data data_inf.h5 --out x.h5 --iterations 2 -q
expect_absent x.h5 xs
check "a file without a format version (h5py, earlier ksi) is read as version 1" \
  "$ksi" fit --data data_h5py.h5 --out from_h5py.h5 --features polynomial --times 3 -q
"$ksi" drift --data small.h5 --out small_particles.h5 --iterations 2 -q || failures=$((failures + 1))
check "every file ksi writes carries ksi_format_version = 1" $PY -c "
import h5py, sys
names = ['small.h5', 'small_model.h5', 'small_samples.h5', 'small_particles.h5', 'from_h5py.h5']
sys.exit(0 if all(h5py.File(n, 'r').attrs.get('ksi_format_version') == 1 for n in names) else 1)"

# ---------------------------------------------------------------------------------------------------
# 3. A full disk: a tmpfs of 512 kB (root may mount one; elsewhere this part is skipped).
full=$work/full
mkdir -p "$full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=512k ksi-test-full "$full" 2>/dev/null; then
  trap 'umount "$full" 2>/dev/null' EXIT
  nothing_left() { [ -z "$(ls -A "$full")" ]; }
  for n in 1 2; do
    expect_one_error 4 "no space left on its file system" -- \
      timeout 120 "$MPIEXEC" -n $n --oversubscribe "$ksi" synth gaussian --dim 64 --count 2000 --out "$full/big.h5" -q
    check "synth on $n rank(s): nothing left on the full disk" nothing_left
    expect_one_error 4 "no space left on its file system" -- \
      timeout 120 "$MPIEXEC" -n $n --oversubscribe "$ksi" sample --model model.h5 --count 60000 --steps 2 --batch 1000 --out "$full/s.h5" -q
    check "sample on $n rank(s): nothing left on the full disk" nothing_left
    # Nearly full: the model's raw data or HDF5's metadata at close do not fit.
    leaves="8 200"; [ $n -eq 2 ] && leaves=64
    for leave in $leaves; do
      dd if=/dev/zero of="$full/filler" bs=1k count=$(( $(df --output=avail -k "$full" | tail -n 1) - leave )) status=none
      expect_one_error 4 "no space left on its file system" -- \
        timeout 120 "$MPIEXEC" -n $n --oversubscribe "$ksi" fit --data small.h5 --out "$full/m.h5" --features polynomial --times 3 -q
      rm -f "$full/filler" "$full/m.h5.checkpoint"  # a complete checkpoint may be left: the model is not
      check "fit on $n rank(s), ${leave} kB free: no model, no temporary" nothing_left
    done
  done
  umount "$full" && trap - EXIT
else
  echo "SKIP: the full-disk checks need a tmpfs mounted by root (mount -t tmpfs), not allowed here"
fi

# ---------------------------------------------------------------------------------------------------
# 4. Exit codes 5 and 6.
cp small_model.h5 huge_eta.h5
$PY -c "import h5py; f = h5py.File('huge_eta.h5', 'a'); f['eta'][...] = f['eta'][...] * 1e300" || exit 1
for n in 1 2; do
  expect_one_error 5 "a sample became non-finite" -- on $n "$ksi" sample --model huge_eta.h5 --out x.h5 --count 40 --batch 5 -q
  expect_one_error 5 "the drifting velocity is not finite" -- on $n "$ksi" drift --data small.h5 --out x.h5 --step 1e300 --iterations 5 -q
  expect_one_error 6 "MPI reports $n rank(s) but SLURM_NTASKS is 3" -- env SLURM_NTASKS=3 "$MPIEXEC" -n $n --oversubscribe "$ksi" info small.h5 -q
done
check "KSI_IGNORE_SLURM_NTASKS skips the check" env SLURM_NTASKS=3 KSI_IGNORE_SLURM_NTASKS=1 "$ksi" info small.h5 -q
expect_absent x.h5

# ---------------------------------------------------------------------------------------------------
# 5. Signals to the commands without checkpoints, once they work (ksi synth has its output's temporary
#    open then; ksi drift writes at the end). mpirun ends with its own code (1) when its ranks die by
#    a signal; one rank without a launcher with the signal's status.
# signal_when_working OUT PATTERN SIGNAL -- command...: SIGNAL to the command once OUT's temporary
# exists or its output matches PATTERN (if not empty); prints its exit code and the number of lines
# saying so.
signal_when_working() {
  local out=$1 pattern=$2 signal=$3
  shift 4
  : >signal.log
  "$@" >signal.log 2>&1 &
  local pid=$! deadline=$((SECONDS + 60))
  until compgen -G ".$out.tmp.*" >/dev/null || { [ -n "$pattern" ] && grep -q -- "$pattern" signal.log; } ||
        ! kill -0 $pid 2>/dev/null || [ $SECONDS -ge $deadline ]; do
    sleep 0.05
  done
  sleep 0.3  # into the work
  kill -"$signal" $pid 2>/dev/null
  wait $pid
  echo "$? $(grep -c "ksi: stopped by SIG$signal" signal.log)"
}
expect_stopped() {  # expect_stopped WHAT OUT "CODE LINES" WANT_CODE
  local what=$1 out=$2 result=$3 want=$4
  check "$what: exit $want with one line saying so (got: $result)" [ "$result" = "$want 1" ]
  check "$what: neither $out nor its temporary is left" [ -z "$(compgen -G "$out" ; compgen -G ".$out.tmp.*")" ]
}
synth_slow=(synth turbulence --grid 32 --count 8 --spinup-turnovers 50 --out synth_stopped.h5)
drift_slow=(drift --data drift_data.h5 --iterations 100000 --out drift_stopped.h5)
result=$(signal_when_working synth_stopped.h5 "" TERM -- "$ksi" "${synth_slow[@]}")
expect_stopped "synth turbulence, SIGTERM" synth_stopped.h5 "$result" 143
result=$(signal_when_working synth_stopped.h5 "" TERM -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" "${synth_slow[@]}")
expect_stopped "synth turbulence on 2 ranks, SIGTERM to mpirun" synth_stopped.h5 "$result" 1
result=$(signal_when_working drift_stopped.h5 "drift: .*ETA" TERM -- "$ksi" "${drift_slow[@]}")
expect_stopped "drift, SIGTERM" drift_stopped.h5 "$result" 143
result=$(signal_when_working drift_stopped.h5 "drift: .*ETA" INT -- "$ksi" "${drift_slow[@]}")
expect_stopped "drift, SIGINT" drift_stopped.h5 "$result" 130
finish
