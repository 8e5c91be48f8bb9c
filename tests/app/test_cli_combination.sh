#!/usr/bin/env bash
# Fitted models as features end to end (--features models, paths=...): two scattering models and
# the exact Gaussian drift of 32^2 log-normal fields combined on 1, 2 and 3 ranks (the same bits,
# every rank assembling), beside a scattering map (scattering+models), sampled on 1 and 2 ranks
# (byte-identical), judged by ksi stats; and one clear error for each misuse.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

lognormal_fields f2.h5 12 32 2 11 1.1 0.7 || exit 1
lognormal_fields t2.h5 8 32 2 12 1.1 0.7 || exit 1
lognormal_fields g3.h5 4 16 3 13 1.1 0.7 || exit 1
units=(--standardize copula --schedule trig --times 4 --draws 1 --batch 2 -q)
"$ksi" fit --data f2.h5 --out m1.h5 --features scattering --feature-params J=3,L=4 "${units[@]}" ||
  { echo "FAIL: member 1"; exit 1; }
"$ksi" fit --data f2.h5 --out m2.h5 --features scattering --feature-params J=2,L=2,shells=false \
  --max-items 6 --units-from m1.h5 --schedule trig --times 4 --draws 1 --batch 2 -q ||
  { echo "FAIL: member 2"; exit 1; }
"$ksi" fit --data f2.h5 --out affine.h5 --features scattering --feature-params J=2,L=2 \
  --standardize scalar --schedule trig --times 4 --draws 1 -q || { echo "FAIL: affine member"; exit 1; }
"$ksi" fit --data g3.h5 --out m3d.h5 --features scattering --feature-params J=2,L=3 "${units[@]}" ||
  { echo "FAIL: 3D member"; exit 1; }

members=(--features models --feature-params paths=m1.h5+m2.h5+gaussian --times 5 --draws 2 --batch 4 -q)
for n in 1 2 3; do
  run $n "$ksi" fit --data f2.h5 --out c_np$n.h5 "${members[@]}" --report fit_np$n.json ||
    { echo "FAIL: combination on $n ranks"; failures=$((failures + 1)); }
done
"$ksi" fit --data f2.h5 --out sc.h5 --features scattering+models \
  --feature-params J=2,L=2,paths=m1.h5+gaussian --times 4 --draws 1 -q ||
  { echo "FAIL: scattering+models"; failures=$((failures + 1)); }
for n in 1 2; do
  run $n "$ksi" sample --model c_np1.h5 --out s_np$n.h5 --count 8 --batch 2 --steps 6 -q \
    --report sample_np$n.json || { echo "FAIL: sample on $n ranks"; failures=$((failures + 1)); }
done
"$ksi" sample --model sc.h5 --out s_sc.h5 --count 4 --steps 6 -q || { echo "FAIL: sample sc"; failures=$((failures + 1)); }
"$ksi" stats --train f2.h5 --test t2.h5 --gen s_np1.h5 --model c_np1.h5 --out-dir stats -q ||
  { echo "FAIL: stats of the combination"; failures=$((failures + 1)); }
"$ksi" info c_np1.h5 >info.txt || { echo "FAIL: info"; failures=$((failures + 1)); }
check "ksi info names the members" grep -q "models.count = 2" info.txt

$PY - <<'PY' || failures=$((failures + 1))
import h5py, json, numpy as np, sys
from cli_checks import check, busy, done
one = h5py.File("c_np1.h5", "r")
names = [x.decode() if isinstance(x, bytes) else x for x in one["features/names"][:]]
check(names == ["drift(m1.h5)", "drift(m2.h5)", "drift(gaussian)"], f"three member rows: {names}")
check(one["eta"].shape == (5, 3), "eta is times x members")
check("members/m0/eta" in one and "members/m1/eta" in one, "the members are stored in the file")
check(one["data"].attrs["standardization"] in ("copula", b"copula"), "the members' units are the model's")
for n in (2, 3):
    other = h5py.File(f"c_np{n}.h5", "r")
    check(busy(f"fit_np{n}.json", "fit.member_drifts"), f"every one of {n} ranks evaluated member drifts")
    check(one["eta"][...].tobytes() == other["eta"][...].tobytes(), f"eta on {n} ranks == 1 rank, bitwise")
sc = h5py.File("sc.h5", "r")
check(sc["features"].attrs["kind"] in ("scattering+models", b"scattering+models"), "scattering+models kind")
check(sc["eta"].shape[1] == sc["features"].attrs["size"] and sc["eta"].shape[1] > 2,
      "scattering rows and two member rows")
s1 = h5py.File("s_np1.h5", "r")["fields"][...]
s2 = h5py.File("s_np2.h5", "r")["fields"][...]
check(s1.shape == (8, 32, 32) and np.all(np.isfinite(s1)), "8 finite samples")
check(busy("sample_np2.json", "sample.drift"), "both ranks integrated samples")
check(s1.tobytes() == s2.tobytes(), "samples on 2 ranks byte-identical to 1 rank")
check(np.all(np.isfinite(h5py.File("s_sc.h5", "r")["fields"][...])), "scattering+models samples finite")
q = {j["statistic"]: j["q_gen"] for j in json.load(open("stats/stats.json"))["judgements"]}
check(all(np.isfinite(v) for k, v in q.items() if k != "features") and "log_power_spectrum" in q,
      f"stats judged: {sorted(q)}")
check(q.get("features") is None, "no feature Q for drifts without features")
done()
PY

# Misuse: one message naming the problem, the exit code of its kind, no output written.
expect_exit 2 "needs its members" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models
expect_exit 2 "paths= names the model m1.h5 twice" -- "$ksi" fit --data f2.h5 --out e1.h5 \
  --features models --feature-params paths=m1.h5+m1.h5
expect_exit 2 "takes only paths=" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=m1.h5,J=3
expect_exit 3 "missing.h5" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=m1.h5+missing.h5
expect_exit 3 "standardise the data differently" -- "$ksi" fit --data f2.h5 --out e1.h5 \
  --features models --feature-params paths=m1.h5+affine.h5
expect_exit 3 "was fitted on items of shape" -- "$ksi" fit --data f2.h5 --out e1.h5 \
  --features models --feature-params paths=m3d.h5
expect_exit 2 "drop --standardize" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=m1.h5 --standardize scalar
expect_exit 2 "schedule" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=m1.h5 --schedule linear
expect_exit 3 "itself a combination" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=c_np1.h5
expect_exit 2 "guided passes steer feature moments" -- "$ksi" fit --data f2.h5 --out e1.h5 \
  --features models --feature-params paths=m1.h5 --guide 1 --times 4 --draws 1
expect_exit 2 "microcanonical synthesis matches features" -- "$ksi" sample --model c_np1.h5 \
  --out e2.h5 --method microcanonical --count 1
expect_exit 2 "drop --units-from" -- "$ksi" fit --data f2.h5 --out e1.h5 --features-from m1.h5 \
  --units-from m1.h5
expect_exit 2 "drop --units-from" -- "$ksi" fit --data f2.h5 --out e1.h5 --features models \
  --feature-params paths=m1.h5 --units-from m2.h5
expect_exit 2 "not a feature map to reuse" -- "$ksi" fit --data f2.h5 --out e1.h5 --features-from c_np1.h5
expect_absent e1.h5 e2.h5
expect_exit 2 "also an input" -- "$ksi" fit --data f2.h5 --out m1.h5 --features models --feature-params paths=m1.h5
check "a member is not overwritten" "$ksi" info m1.h5
finish
