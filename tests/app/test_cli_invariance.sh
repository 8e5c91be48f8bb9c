#!/usr/bin/env bash
# Rank invariance that a broken implementation would fail: every run on 2 and 3 ranks puts work on
# every rank (several fit batches, guided-ensemble batches, calibration batches and sampling batches
# per rank, checked in the --report JSON: each rank spent time integrating or assembling), and gives
# the bits of the run on 1 rank. Field models with the shell family and shell gains, guided passes,
# the output calibration and the randomized Gram (probes keyed by item, draw, time and probe); 24
# fields sampled in batches of 4 from each.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

# 12 log-normal fields of 32^2, written by h5py as a user's script would.
lognormal_fields f2.h5 12 32 2 11 1.1 0.7 || exit 1

# --batch 2: 6 assembly batches of 2 fields with one draw (2 per rank on 3 ranks); 12 of 1 field with
# the randomized row's 4 draws.
common=(--features scattering --feature-params J=3,L=4 --times 4 --batch 2 -q)
declare -A model_args=(
  [gains]="--draws 1 --standardize spectrum --schedule trig --shell-correction on"
  [guided]="--draws 1 --standardize copula --schedule trig --guide 1 --guide-ensemble 8 --guide-batch 2 --guide-steps 4"
  [calibrated]="--draws 1 --standardize copula --schedule trig --shell-correction on --calibrate 12 --calibrate-batch 2 --calibrate-steps 4"
  # P = 465: 12 items x 4 draws x 40 probes give each time's estimate rank 1 920; 8 members x 64.
  [randomized]="--draws 4 --standardize copula --schedule trig --gram randomized --gram-probes 40 --guide 1 --guide-ensemble 8 --guide-batch 2 --guide-steps 4 --guide-gram-probes 64"
)
for name in gains guided calibrated randomized; do
  for n in 1 2 3; do
    # shellcheck disable=SC2086
    run $n "$ksi" fit --data f2.h5 --out ${name}_np$n.h5 "${common[@]}" ${model_args[$name]} \
      --report fit_${name}_np$n.json || { echo "FAIL: fit $name on $n ranks"; failures=$((failures + 1)); }
  done
  for n in 1 2 3; do
    run $n "$ksi" sample --model ${name}_np1.h5 --out s_${name}_np$n.h5 --count 24 --batch 4 --steps 4 -q \
      --report sample_${name}_np$n.json || { echo "FAIL: sample $name on $n ranks"; failures=$((failures + 1)); }
  done
done

# Time groups: G groups each assemble every G-th time over all items (3 batches per rank of a group
# of 1 on 3 ranks, G = 3; 3 per rank with G = 2 on 2 ranks): the same bits as one rank.
for g in 2 3; do
  # shellcheck disable=SC2086
  run $g "$ksi" fit --data f2.h5 --out gains_g$g.h5 "${common[@]}" ${model_args[gains]} --time-groups $g \
    --report fit_gains_g$g.json || { echo "FAIL: fit with $g time groups"; failures=$((failures + 1)); }
done

$PY - <<'PY' || failures=$((failures + 1))
import h5py, json, numpy as np, sys
from cli_checks import check, busy, same, done
for name in ("gains", "guided", "calibrated", "randomized"):
    one = h5py.File(f"{name}_np1.h5", "r")
    for n in (2, 3):
        other = h5py.File(f"{name}_np{n}.h5", "r")
        check(busy(f"fit_{name}_np{n}.json", "fit.noise"), f"{name}: every one of {n} ranks assembled fit batches")
        check(same(one, other, "eta"), f"{name}: eta on {n} ranks == on 1 rank, bitwise")
        check(one.attrs["model_id"] == other.attrs["model_id"], f"{name}: the same model identity on {n} ranks")
        if name == "gains":
            check(same(one, other, "shell_gain"), f"shell gains on {n} ranks == on 1 rank, bitwise")
        if name in ("guided", "randomized"):
            check("guide" in one and busy(f"fit_{name}_np{n}.json", "guide.drift"),
                  f"guided: every one of {n} ranks integrated ensemble members")
        if name == "calibrated":
            check(busy(f"fit_{name}_np{n}.json", "sample.drift"),
                  f"calibrated: every one of {n} ranks integrated calibration fields")
            for d in ("output_gain", "output_map_values", "output_map_targets", "shell_gain"):
                check(same(one, other, d), f"calibrated: {d} on {n} ranks == on 1 rank, bitwise")
    if name == "randomized":
        attrs = one["fit"].attrs
        gram = attrs.get("gram", b"")
        gram = gram.decode() if isinstance(gram, bytes) else str(gram)
        check(gram == "randomized" and int(attrs.get("gram_probes", "0")) == 40,
              "randomized Gram: its setting and probes recorded in the model")
        check(int(one["guide"].attrs.get("gram_probes", "0")) == 64,
              "randomized Gram of the guided pass recorded")
    if name == "gains":
        for g in (2, 3):
            grouped = h5py.File(f"gains_g{g}.h5", "r")
            check(busy(f"fit_gains_g{g}.json", "fit.noise"), f"{g} time groups: every rank assembled")
            for d in ("eta", "shell_gain", "training_features", "targets/feature_mean", "targets/feature_variance", "targets/rhs"):
                check(same(one, grouped, d), f"{g} time groups: {d} == on 1 rank, bitwise")
            check(int(grouped["fit"].attrs.get("time_groups", "0")) == g, f"{g} time groups recorded")
    names = [x.decode() if isinstance(x, bytes) else x for x in one["features/names"][:]]
    if name == "gains":
        check(any(x.startswith("shell power") for x in names), "the models carry the shell family")
    s1 = h5py.File(f"s_{name}_np1.h5", "r")["fields"][...]
    check(s1.shape == (24, 32, 32) and np.all(np.isfinite(s1)), f"{name}: 24 finite samples")
    for n in (2, 3):
        r = json.load(open(f"sample_{name}_np{n}.json"))
        check(busy(f"sample_{name}_np{n}.json", "sample.drift") and r["resume"]["batches"] == 6,
              f"{name}: 6 sampling batches, every one of {n} ranks integrated some")
        sn = h5py.File(f"s_{name}_np{n}.h5", "r")["fields"][...]
        check(s1.tobytes() == sn.tobytes(), f"{name}: samples on {n} ranks byte-identical to 1 rank")
done()
PY
finish
