#!/usr/bin/env bash
# Measured FFT plans in ksi sample (--fft-effort measure, --fft-wisdom): rank 0 measures, every
# rank plans from its wisdom, so the samples are the same bytes on 1, 2 and 3 ranks given one
# wisdom file (every rank integrating batches); the file is written once and never overwritten; the
# samples agree with the estimated plans' to rounding; a file that is not wisdom is refused.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

lognormal_fields f2.h5 8 32 2 21 1.1 0.7 || exit 1
"$ksi" fit --data f2.h5 --out m.h5 --features scattering --feature-params J=3,L=4 \
  --standardize spectrum --schedule trig --times 4 --draws 1 -q || { echo "FAIL: fit"; exit 1; }
sampling=(sample --model m.h5 --count 6 --batch 2 --steps 4 -q)
"$ksi" "${sampling[@]}" --out est.h5 || { echo "FAIL: estimate"; failures=$((failures + 1)); }
"$ksi" "${sampling[@]}" --out w1.h5 --fft-effort measure --fft-wisdom plans.wisdom -v >w1.log 2>&1 ||
  { echo "FAIL: measure on 1 rank"; failures=$((failures + 1)); }
check "rank 0 measured the plans" grep -q "FFT plans measured on rank 0" w1.log
check "the wisdom file was written" test -s plans.wisdom
before=$(md5sum plans.wisdom)
for n in 2 3; do
  run $n "$ksi" "${sampling[@]}" --out w$n.h5 --fft-effort measure --fft-wisdom plans.wisdom \
    --report w$n.json || { echo "FAIL: measure on $n ranks"; failures=$((failures + 1)); }
done
check "the wisdom file is not overwritten" test "$before" = "$(md5sum plans.wisdom)"

$PY - <<'PY' || failures=$((failures + 1))
import h5py, json, numpy as np, sys
from cli_checks import check, done
f = lambda n: h5py.File(n, "r")["fields"][...]
one, est = f("w1.h5"), f("est.h5")
for n in (2, 3):
    p = json.load(open(f"w{n}.json"))["phases"]
    check(p["sample.drift"]["min"] > 0.0, f"every one of {n} ranks integrated samples")
    check(one.tobytes() == f(f"w{n}.h5").tobytes(), f"measured plans: {n} ranks == 1 rank, bytes")
scale = np.abs(est).max()
check(np.abs(one - est).max() <= 1e-6 * scale, f"measured vs estimated plans: {np.abs(one - est).max() / scale:.2e} of the largest value")
done()
PY

echo "not wisdom" >bad.wisdom
expect_exit 3 "is not FFTW wisdom" -- "$ksi" "${sampling[@]}" --out bad.h5 --fft-effort measure \
  --fft-wisdom bad.wisdom
expect_exit 2 "--fft-effort" -- "$ksi" "${sampling[@]}" --out bad.h5 --fft-effort fastest
expect_absent bad.h5
finish
