#!/usr/bin/env bash
# The spectral calibration from the command line: `ksi fit --calibrate N` and `ksi calibrate` give the
# same output gains (and model) for the same settings, on 1 and 2 ranks; samples of a calibrated model
# carry the model's identity; bad input ends with one message, a non-zero exit and no output.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

# Log-normal 3D fields written by h5py, and a vector data set.
$PY - <<'PY' || exit 1
import h5py, numpy as np
rng = np.random.default_rng(3)
dims = (16, 16, 16)
k2 = sum(np.meshgrid(*[np.fft.fftfreq(n) * n for n in dims], indexing="ij")[a] ** 2 for a in range(3))
shape = np.where(k2 > 0, (1.0 + k2) ** -1.2, 0.0)
fields = np.empty((12,) + dims)
for i in range(12):
    g = np.real(np.fft.ifftn(np.fft.fftn(rng.standard_normal(dims)) * shape))
    fields[i] = np.exp(0.8 * g / g.std())
with h5py.File("f3.h5", "w") as f:
    f.create_dataset("fields", data=fields).attrs["item_kind"] = "grid"
with h5py.File("f2.h5", "w") as f:
    f.create_dataset("fields", data=fields[:, 0]).attrs["item_kind"] = "grid"
# 32 Gaussian fields whose energy level varies from field to field (sd 0.5 in log amplitude).
levels = np.empty((32,) + dims)
for i in range(32):
    g = np.real(np.fft.ifftn(np.fft.fftn(rng.standard_normal(dims)) * shape))
    levels[i] = np.exp(0.5 * rng.standard_normal()) * g / g.std()
with h5py.File("levels.h5", "w") as f:
    f.create_dataset("fields", data=levels).attrs["item_kind"] = "grid"
PY
"$ksi" synth gaussian --dim 4 --count 50 --out vectors.h5 -q || exit 1

# Batches of 2 fields (fit, calibration) and of 4 samples: several per rank, so that the comparisons
# of 1 and 2 ranks below could fail.
fitargs=(--features scattering --feature-params J=2,L=3,isotropic=true,shells=false --standardize copula --schedule trig --times 4 --draws 1 --batch 2 -q)
"$ksi" fit --data f3.h5 --out plain.h5 "${fitargs[@]}" || failures=$((failures + 1))
"$ksi" fit --data f3.h5 --out fitcal.h5 "${fitargs[@]}" --calibrate 6 --calibrate-steps 5 || failures=$((failures + 1))
run 2 "$ksi" fit --data f3.h5 --out fitcal_np2.h5 "${fitargs[@]}" --calibrate 6 --calibrate-steps 5 --calibrate-batch 1 || failures=$((failures + 1))
"$ksi" calibrate --model plain.h5 --data f3.h5 --out cal.h5 --calibrate 6 --calibrate-steps 5 -q || failures=$((failures + 1))
"$ksi" calibrate --model plain.h5 --data f3.h5 --out cal_nopdf.h5 --calibrate 6 --calibrate-steps 5 --calibrate-pdf off -q || failures=$((failures + 1))
run 2 "$ksi" calibrate --model plain.h5 --data f3.h5 --out cal_np2.h5 --calibrate 6 --calibrate-steps 5 --calibrate-batch 2 -q || failures=$((failures + 1))
run 2 "$ksi" sample --model cal.h5 --out s.h5 --count 4 --steps 5 -q || failures=$((failures + 1))
# Without --steps, ksi sample integrates with the settings the calibration was fitted for (5 steps).
"$ksi" sample --model cal.h5 --out s_default.h5 --count 4 --report s_default.json >s_default.log 2>&1 || failures=$((failures + 1))
check "ksi sample says it takes the calibration's settings" grep -q "5 optimal steps, the settings the model's output calibration was fitted for" s_default.log
"$ksi" sample --model cal.h5 --out s_other.h5 --count 4 --steps 6 --diffusion-scale 0.8 >s_other.log 2>&1 || failures=$((failures + 1))
check "other settings than the calibration's: a warning naming them" grep -q "other sampler settings: --steps 6 (calibrated with 5), --diffusion-scale 0.8 (calibrated with 1)" s_other.log
# The output spread: data whose energy level varies; samples the same on 1 and 2 ranks.
"$ksi" fit --data levels.h5 --out lplain.h5 --features scattering --feature-params J=2,L=3,isotropic=true --standardize spectrum --schedule trig --times 4 --draws 1 --batch 4 -q || failures=$((failures + 1))
"$ksi" calibrate --model lplain.h5 --data levels.h5 --out lcal.h5 --calibrate 32 --calibrate-steps 5 -q || failures=$((failures + 1))
run 2 "$ksi" calibrate --model lplain.h5 --data levels.h5 --out lcal_np2.h5 --calibrate 32 --calibrate-steps 5 --calibrate-batch 4 -q || failures=$((failures + 1))
"$ksi" calibrate --model lplain.h5 --data levels.h5 --out lcal_off.h5 --calibrate 32 --calibrate-steps 5 --calibrate-spread off -q || failures=$((failures + 1))
"$ksi" sample --model lcal.h5 --out ls1.h5 --count 24 --steps 5 --batch 4 -q || failures=$((failures + 1))
run 2 "$ksi" sample --model lcal.h5 --out ls2.h5 --count 24 --steps 5 --batch 4 -q || failures=$((failures + 1))
"$ksi" sample --model lcal_off.h5 --out ls_off.h5 --count 24 --steps 5 -q || failures=$((failures + 1))

$PY - <<'PY' || failures=$((failures + 1))
import h5py, numpy as np, sys
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAIL: ") + what)
    bad += not ok
gains = {n: h5py.File(n + ".h5", "r")["output_gain"][...] for n in ("fitcal", "fitcal_np2", "cal", "cal_np2")}
ids = {n: h5py.File(n + ".h5", "r").attrs["model_id"] for n in ("plain", "fitcal", "fitcal_np2", "cal", "cal_np2")}
check("output_gain" not in h5py.File("plain.h5", "r"), "an uncalibrated model has no output gains")
maps = {n: h5py.File(n + ".h5", "r")["output_map_targets"][...] for n in ("fitcal", "fitcal_np2", "cal", "cal_np2")}
check(all(np.array_equal(maps["cal"], m) for m in maps.values()), "the same output map from fit --calibrate and ksi calibrate, 1 and 2 ranks")
nopdf = h5py.File("cal_nopdf.h5", "r")
check("output_map_values" not in nopdf and "output_gain" in nopdf, "--calibrate-pdf off: gains without an output map")
data = h5py.File("f3.h5", "r")["fields"][...]
check(all(np.array_equal(gains["cal"], g) for g in gains.values()), "the same gains from fit --calibrate and ksi calibrate, 1 and 2 ranks")
check([h5py.File(n + ".h5", "r").attrs["created_by"] for n in ("fitcal", "cal")] == ["ksi fit", "ksi calibrate"], "provenance names the command that wrote the model")
check(len(set(ids[n] for n in ("fitcal", "fitcal_np2", "cal", "cal_np2"))) == 1 and ids["cal"] != ids["plain"], "one model identity, not the uncalibrated one")
g = gains["cal"]
check(g.shape == (15,) and g[0] == 1.0 and np.all(np.isfinite(g)) and np.all(g > 0), "one positive gain per shell, 1 on the mean")
rec = h5py.File("cal.h5", "r")["calibration"].attrs
check(rec["samples"] == 6 and rec["steps"] == 5 and rec["integrator"] == "optimal" and rec["error_after"] <= 0.1 and rec["pdf"] == 1, "settings and the converged error recorded in /calibration")
check(not any(k.startswith("calibration_") for k in h5py.File("cal.h5", "r")["fit"].attrs), "no calibration settings among the fit's")
check("calibration" not in h5py.File("plain.h5", "r"), "an uncalibrated model has no /calibration")
check(np.array_equal(h5py.File("s_default.h5", "r")["fields"][...], h5py.File("s.h5", "r")["fields"][...]), "ksi sample without --steps = with the calibration's --steps 5, bitwise")
s = h5py.File("s.h5", "r")
check(s.attrs["model_id"] == ids["cal"] and s["fields"].shape == (4, 16, 16, 16), "samples of the calibrated model")
v = s["fields"][...]
check(v.min() >= data.min() - 1e-12 and v.max() <= data.max() + 1e-12, "samples within the data's range (the output map)")
def level_sd(name):  # sd over fields of the log of each field's power at 2 <= |k| <= 7
    x = h5py.File(name, "r")["fields"][...]
    k = np.sqrt(sum(np.meshgrid(*[np.fft.fftfreq(16) * 16] * 3, indexing="ij")[a] ** 2 for a in range(3)))
    band = (k >= 2) & (k <= 7)
    return np.std([np.log(np.mean(np.abs(np.fft.fftn(f - f.mean()))[band] ** 2)) for f in x], ddof=1)
lcal, loff = h5py.File("lcal.h5", "r"), h5py.File("lcal_off.h5", "r")
check("output_spread" in lcal and "output_spread" not in loff and lcal["calibration"].attrs["spread"] == 1 and loff["calibration"].attrs["spread"] == 0, "--calibrate-spread on: an output spread; off: none")
check(np.array_equal(lcal["output_spread"][...], h5py.File("lcal_np2.h5", "r")["output_spread"][...]), "the same spread on 1 and 2 ranks")
check(np.array_equal(h5py.File("ls1.h5", "r")["fields"][...], h5py.File("ls2.h5", "r")["fields"][...]), "samples with a spread are the same on 1 and 2 ranks")
sd_data, sd_spread, sd_off = level_sd("levels.h5"), level_sd("ls1.h5"), level_sd("ls_off.h5")
print("energy level sd: data %.3f, with the spread %.3f, without %.3f" % (sd_data, sd_spread, sd_off))
check(0.6 < sd_spread / sd_data < 1.5 and sd_off < 0.4 * sd_data, "samples' energy levels scatter as the data's with the spread, not without")
sys.exit(1 if bad else 0)
PY

# A model file of an earlier version kept the calibration's settings as text among the fit's: they
# are read as the record (ksi sample follows them, ksi info shows them once).
$PY - <<'PY' || failures=$((failures + 1))
import h5py, shutil
shutil.copy("cal.h5", "legacy.h5")
with h5py.File("legacy.h5", "r+") as f:
    del f["calibration"]
    fit = f["fit"].attrs
    for k, v in {"samples": "6", "steps": "5", "integrator": "optimal", "seed": "1", "pdf": "true",
                 "spread": "true", "spread_components": "0", "error_before": "0.5", "error_after": "0.01"}.items():
        fit["calibration_" + k] = v
PY
"$ksi" sample --model legacy.h5 --out s_legacy.h5 --count 4 >s_legacy.log 2>&1 || failures=$((failures + 1))
check "an earlier version's calibration settings: ksi sample follows them" grep -q "5 optimal steps, the settings the model's output calibration was fitted for" s_legacy.log
"$ksi" info legacy.h5 >legacy_info.log 2>&1 || failures=$((failures + 1))
check "... and ksi info shows them as the record, not among the fit's" \
  bash -c 'grep -q "output calibration (post-processing): 6 samples of 5 optimal steps" legacy_info.log && ! grep -q "calibration_steps" legacy_info.log'
check "... the same fields as the current file's" $PY -c 'import h5py, numpy as np, sys; sys.exit(0 if np.array_equal(h5py.File("s_legacy.h5", "r")["fields"][...], h5py.File("s_default.h5", "r")["fields"][...]) else 1)'

# A model whose own fields saturate the data's range (one guided pass on this small copula model:
# its whole model has RMS z 64, 14 % of its pixels at the data's extremes): the calibration's gains
# hardly move the power there. Unbounded secant steps ran them to 1e6 and the fields to constants
# ("no power on shell |k| = 1", exit 5); with bounded steps it ends, warning that it did not converge.
lognormal_fields sat.h5 16 32 2 5 1.1 0.7 || exit 1
run 2 "$ksi" fit --data sat.h5 --features scattering --feature-params J=3,L=4 --times 5 --draws 1 --batch 2 \
  --standardize copula --schedule trig --checkpoint-every 0 --guide 1 --guide-ensemble 8 --guide-batch 2 \
  --guide-steps 12 --guide-tolerance 0 --calibrate 16 --calibrate-batch 2 --calibrate-steps 30 \
  --calibrate-spread off --out sat_cal.h5 >sat.log 2>&1
check "a calibration of a saturating model ends (exit 0)" [ $? -eq 0 ]
check "... and says it did not converge" grep -q "not converged" sat.log

# Bad input: no partial output in any case.
expect_exit 2 "unrecognised\|unknown" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --bogus 3
expect_exit 2 "required" -- "$ksi" calibrate --model plain.h5 --out x1.h5
expect_exit 2 "unknown --calibrate-pdf 'maybe' (known: on, off)" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --calibrate-pdf maybe
expect_exit 2 "unknown --calibrate-spread '1'" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --calibrate-spread 1
expect_exit 2 "unrecognised\|unknown" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --samples 6
expect_exit 2 "calibrate-tolerance must be positive" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --calibrate-tolerance 0
expect_exit 2 "unknown --calibrate-spread 'yes'" -- "$ksi" fit --data f3.h5 --out x1.h5 "${fitargs[@]}" --calibrate 4 --calibrate-spread yes
expect_exit 2 "calibration samples) must be positive" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out x1.h5 --calibrate 0
expect_exit 3 "shape" -- "$ksi" calibrate --model plain.h5 --data f2.h5 --out x2.h5
expect_exit 3 "file not found" -- "$ksi" calibrate --model missing.h5 --data f3.h5 --out x3.h5
expect_exit 4 "exists" -- "$ksi" calibrate --model plain.h5 --data f3.h5 --out cal.h5 --calibrate 6 --calibrate-steps 5
"$ksi" fit --data vectors.h5 --out vec.h5 --features polynomial --times 3 -q || failures=$((failures + 1))
expect_exit 2 "periodic grid" -- "$ksi" calibrate --model vec.h5 --data vectors.h5 --out x4.h5
expect_exit 2 "periodic grid" -- "$ksi" fit --data vectors.h5 --out x5.h5 --features polynomial --times 3 --calibrate 4
expect_exit 2 "calibrate-steps" -- "$ksi" fit --data f3.h5 --out x6.h5 "${fitargs[@]}" --calibrate 4 --calibrate-steps 0
expect_absent x1.h5 x2.h5 x3.h5 x4.h5 x5.h5 x6.h5
finish
