#!/usr/bin/env bash
# `ksi sample --method microcanonical` from the command line: the same samples and records on 1 and 2
# ranks, every sample within the tolerance, the settings recorded; bad options and a model without
# training features end with one message, a non-zero exit and no output.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

# Log-normal 2D fields written by h5py.
lognormal_fields f2.h5 8 32 2 5 1.0 0.7 || exit 1

"$ksi" fit --data f2.h5 --out model.h5 --features scattering --feature-params J=2,L=4 --standardize spectrum --schedule trig --times 3 --draws 1 -q || failures=$((failures + 1))
# A model as older versions wrote it: no training features.
cp model.h5 old.h5 && $PY -c 'import h5py; f = h5py.File("old.h5", "a"); del f["training_features"]' || exit 1
# ... and no training spectrum: `auto` synthesises without the preconditioner, `spectrum` is refused.
cp model.h5 nospec.h5 && $PY -c 'import h5py; f = h5py.File("nospec.h5", "a"); del f["training_spectrum"]' || exit 1

micro=(--method microcanonical --count 5 --batch 2 --seed 3)
"$ksi" sample --model model.h5 --out m1.h5 "${micro[@]}" -q || failures=$((failures + 1))
run 2 "$ksi" sample --model model.h5 --out m2.h5 "${micro[@]}" -q || failures=$((failures + 1))
"$ksi" sample --model model.h5 --out mean.h5 --method microcanonical --count 2 --target mean --tolerance 1e-2 --lbfgs-history 5 -q || failures=$((failures + 1))
"$ksi" sample --model nospec.h5 --out plain.h5 --method microcanonical --count 2 -q || failures=$((failures + 1))
out=$("$ksi" sample --model model.h5 --out log.h5 --method microcanonical --count 2 2>&1) || failures=$((failures + 1))
refined=$("$ksi" sample --model model.h5 --out refined.h5 --method microcanonical --count 2 --tolerance 1e-6 --refine-below 0.1 2>&1) || failures=$((failures + 1))
grep -q "microcanonical: sample 1: residual .* iterations, .* of them Levenberg-Marquardt (training item 1)" <<<"$refined" || { echo "FAIL: no refined log line: $refined"; failures=$((failures + 1)); }
grep -q "microcanonical: sample 1: residual .* iterations (training item 1)" <<<"$out" || { echo "FAIL: no per-sample log line: $out"; failures=$((failures + 1)); }

$PY - <<'PY' || failures=$((failures + 1))
import h5py, numpy as np, sys
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAIL: ") + what)
    bad += not ok
a, b = h5py.File("m1.h5", "r"), h5py.File("m2.h5", "r")
check(a["fields"].shape == (5, 32, 32), "5 fields of 32 x 32")
check(np.array_equal(a["fields"][...], b["fields"][...]), "the same fields on 1 and 2 ranks")
for name in ("residual", "iterations", "evaluations", "target_item"):
    check(np.array_equal(a["microcanonical"][name][...], b["microcanonical"][name][...]), "the same " + name + " on 1 and 2 ranks")
g = a["microcanonical"]
check(np.all(g["residual"][...] <= 1e-3), "every residual within the default tolerance 1e-3")
check(np.all(g["iterations"][...] > 0) and np.all(g["evaluations"][...] >= g["iterations"][...]), "iterations and evaluations recorded")
check(list(g["target_item"][...]) == [0, 1, 2, 3, 4], "sample i matched to training item i mod N")
check(a.attrs["method"] == "microcanonical" and a.attrs["seed"] == 3, "method and seed attributes")
check(g.attrs["target"] == "item" and g.attrs["lbfgs_history"] == 10 and g.attrs["max_iterations"] == 500 and g.attrs["tolerance"] == 1e-3, "default settings recorded")
check(g.attrs["residual_scale"] > 0 and g.attrs["above_tolerance"] == 0, "residual scale and no sample above the tolerance")
check(g.attrs["precondition"] == "spectrum", "auto: preconditioned by the model's training spectrum")
p = h5py.File("plain.h5", "r")["microcanonical"]
check(p.attrs["precondition"] == "none" and np.all(p["residual"][...] <= 1e-3), "a model without a spectrum: unpreconditioned, within the tolerance")
check(h5py.File("model.h5", "r")["training_spectrum"].shape == (24,), "ksi fit stores the training spectrum (24 shells of 32 x 32)")
m = h5py.File("mean.h5", "r")["microcanonical"]
check(list(m["target_item"][...]) == [-1, -1] and m.attrs["target"] == "mean" and m.attrs["lbfgs_history"] == 5, "--target mean: target item -1, settings recorded")
check(np.all(m["residual"][...] <= 1e-2), "--tolerance 1e-2 met")
r = h5py.File("refined.h5", "r")["microcanonical"]
check(np.all(r["residual"][...] <= 1e-6) and np.all(r["refine_steps"][...] > 0) and r.attrs["refine_below"] == 0.1, "--refine-below 0.1: refinement steps recorded, --tolerance 1e-6 met")
data = h5py.File("f2.h5", "r")["fields"][...]
x = a["fields"][...]
check(np.all(np.isfinite(x)) and abs(x.mean() - data.mean()) < 0.5 * data.std(), "fields in data units (mean near the data's)")
sys.exit(1 if bad else 0)
PY

# Bad input: one message, a non-zero exit, nothing written.
expect_exit 2 "unknown --method 'langevin'" -- "$ksi" sample --model model.h5 --out x1.h5 --method langevin
expect_exit 2 "unknown --target 'median'" -- "$ksi" sample --model model.h5 --out x2.h5 --method microcanonical --target median
expect_exit 2 "max-iterations must be at least 1" -- "$ksi" sample --model model.h5 --out x3.h5 --method microcanonical --max-iterations 0
expect_exit 2 "lbfgs-history must be at least 1" -- "$ksi" sample --model model.h5 --out x4.h5 --method microcanonical --lbfgs-history 0
expect_exit 2 "tolerance must be a positive number" -- "$ksi" sample --model model.h5 --out x5.h5 --method microcanonical --tolerance 0
expect_exit 2 "applies to --method microcanonical only" -- "$ksi" sample --model model.h5 --out x6.h5 --target mean
expect_exit 3 "no training features" -- "$ksi" sample --model old.h5 --out x7.h5 --method microcanonical
expect_exit 3 "no training features" -- run 2 "$ksi" sample --model old.h5 --out x8.h5 --method microcanonical
expect_exit 2 "unknown --precondition 'diagonal'" -- "$ksi" sample --model model.h5 --out x9.h5 --method microcanonical --precondition diagonal
expect_exit 3 "needs the model's training spectrum" -- "$ksi" sample --model nospec.h5 --out x10.h5 --method microcanonical --precondition spectrum
expect_exit 3 "needs the model's training spectrum" -- run 2 "$ksi" sample --model nospec.h5 --out x11.h5 --method microcanonical --precondition spectrum
expect_exit 2 "refine-refresh must be in (0, 1]" -- "$ksi" sample --model model.h5 --out x12.h5 --method microcanonical --refine-below 0.1 --refine-refresh 0
expect_exit 2 "refine-below must be a number >= 0" -- "$ksi" sample --model model.h5 --out x13.h5 --method microcanonical --refine-below -1
expect_exit 2 "applies to --method microcanonical only" -- "$ksi" sample --model model.h5 --out x14.h5 --refine-below 0.1
expect_exit 2 "--steps applies to --method sde only" -- "$ksi" sample --model model.h5 --out x15.h5 --method microcanonical --steps 10
expect_exit 2 "--integrator applies to --method sde only" -- "$ksi" sample --model model.h5 --out x16.h5 --method microcanonical --integrator ode
printf '[sample]\nsteps = 10\n' >sde.cfg
out=$("$ksi" sample --config sde.cfg --model model.h5 --out cfg.h5 --method microcanonical --count 1 --max-iterations 2 2>&1) || failures=$((failures + 1))
grep -q "the config's steps apply to --method sde" <<<"$out" || { echo "FAIL: config steps not noted: $out"; failures=$((failures + 1)); }
expect_exit 4 "exists" -- "$ksi" sample --model model.h5 --out m1.h5 --method microcanonical
expect_absent x12.h5 x13.h5 x14.h5
expect_absent x1.h5 x2.h5 x3.h5 x4.h5 x5.h5 x6.h5 x7.h5 x8.h5 x9.h5 x10.h5 x11.h5 x7.h5.partial x8.h5.partial x10.h5.partial x11.h5.partial
finish
