#!/usr/bin/env bash
# The stages after a fit of fields honour stop requests and resume from their checkpoints, and show
# that they did: SIGUSR1 during the guided passes, during the calibration of `ksi fit --calibrate`
# and during `ksi calibrate` ends each with exit 75 and a checkpoint; the rerun with --resume (on
# another number of ranks) reports in its --report JSON that it assembled no fit batch (the solution
# was in the fit checkpoint), where the guide resumed (a later grid time or pass), and how many
# batches of calibration fields it took from the checkpoint and how many it integrated; and gives
# the bits of the uninterrupted run. A damaged guide checkpoint is refused (exit 3, no output).
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

lognormal_fields f2.h5 16 32 2 5 1.1 0.7 || exit 1

fit_args=(--data f2.h5 --features scattering --feature-params J=3,L=4 --times 5 --draws 1 --batch 2
          --standardize copula --schedule trig --checkpoint-every 0
          --guide 2 --guide-ensemble 8 --guide-batch 2 --guide-steps 12 --guide-tolerance 0
          --calibrate 16 --calibrate-batch 2 --calibrate-steps 30 --calibrate-spread off)
run 2 "$ksi" fit "${fit_args[@]}" --out reference.h5 -q || exit 1

# 1. Stopped during the first guided pass, after its second grid time: resumed on 3 ranks.
stop_when "guide pass 1, t = 0.25" guide_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out guided.h5 -v
check "stopped in the guided passes: exit 75" [ $? -eq 75 ]
check "the guide checkpoint and the fit's solution are kept" test -f guided.h5.checkpoint.guide -a -f guided.h5.checkpoint
expect_absent guided.h5
# A damaged guide checkpoint is refused on two ranks, naming what is wrong, with no output and no
# hang (short paths hung two ranks before the checks).
cp guided.h5.checkpoint.guide guide_checkpoint.bak
damage_guide() {  # damage_guide PYTHON_EDIT MESSAGE
  cp guide_checkpoint.bak guided.h5.checkpoint.guide
  $PY -c "import h5py; f = h5py.File('guided.h5.checkpoint.guide', 'a'); $1"
  expect_exit 3 "$2" -- timeout 120 "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out guided.h5 --resume
  expect_absent guided.h5
}
damage_guide "x = f['X'][:3]; del f['X']; f['X'] = x" "guide checkpoint guided.h5.checkpoint.guide is damaged: its paths are 3 x"
damage_guide "f['Y'][1, 2] = float('nan')" "is damaged: its paths hold a non-finite value"
damage_guide "e = f['eta'][:2]; del f['eta']; f['eta'] = e" "is damaged: /eta has shape (2,"
damage_guide "f['correction'][0, 0] = float('inf')" "is damaged: /correction holds a non-finite value"
cp guide_checkpoint.bak guided.h5.checkpoint.guide
run 3 "$ksi" fit "${fit_args[@]}" --out guided.h5 --resume --report guided.json >guide_resume.log 2>&1 ||
  { echo "FAIL: resume of the guided fit"; failures=$((failures + 1)); }
check "the log says the fit was finished in its checkpoint" grep -q "fit: resuming from guided.h5.checkpoint: the fit is finished" guide_resume.log
check "the log says where the guide resumed" grep -q "guide: resuming from guided.h5.checkpoint.guide at pass" guide_resume.log

# 2. Stopped in the calibration of ksi fit --calibrate: the rerun fits nothing and samples only the
#    batches of calibration fields the checkpoint lacks.
stop_when "calibrate: 16 samples" calibrate_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit "${fit_args[@]}" --out calibrated.h5
check "stopped in the calibration: exit 75" [ $? -eq 75 ]
check "the calibration checkpoint is kept" test -f calibrated.h5.checkpoint.calibrate
expect_absent calibrated.h5
expect_exit 4 "use --resume to continue it" -- "$ksi" fit "${fit_args[@]}" --out calibrated.h5
run 3 "$ksi" fit "${fit_args[@]}" --out calibrated.h5 --resume --report calibrated.json >calibrate_resume.log 2>&1 ||
  { echo "FAIL: resume of the calibration"; failures=$((failures + 1)); }
check "the log says how many batches of calibration fields were skipped" \
  grep -q "calibrate: resuming from calibrated.h5.checkpoint.calibrate: [1-8] of 8 batches" calibrate_resume.log
expect_absent calibrated.h5.checkpoint calibrated.h5.checkpoint.calibrate calibrated.h5.checkpoint.guide

# 3. ksi calibrate on a fitted model: stopped, refused without --resume, foreign settings refused,
#    resumed on 1 rank.
"$ksi" fit --data f2.h5 --features scattering --feature-params J=3,L=4 --times 5 --draws 1 \
  --standardize copula --schedule trig --out plain.h5 -q || exit 1
cal_args=(--model plain.h5 --data f2.h5 --calibrate 16 --calibrate-batch 2 --calibrate-steps 30 --calibrate-spread off --checkpoint-every 0)
run 2 "$ksi" calibrate "${cal_args[@]}" --out cal_reference.h5 -q || exit 1
stop_when "calibrate: 16 samples" cal_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" calibrate "${cal_args[@]}" --out cal.h5
check "ksi calibrate stopped: exit 75" [ $? -eq 75 ]
check "its checkpoint is kept" test -f cal.h5.checkpoint
expect_absent cal.h5
expect_exit 4 "use --resume to continue it" -- "$ksi" calibrate "${cal_args[@]}" --out cal.h5
expect_exit 3 "belongs to another model or other settings; steps = 30 there, 31 here" -- \
  "$ksi" calibrate "${cal_args[@]/#30/31}" --out cal.h5 --resume
"$ksi" calibrate "${cal_args[@]}" --out cal.h5 --resume --report cal.json >cal_resume.log 2>&1 ||
  { echo "FAIL: resume of ksi calibrate"; failures=$((failures + 1)); }
expect_absent cal.h5.checkpoint

# 4. ksi guide on a one-shot model: the passes of ksi fit --guide, without fitting again. The fit's
#    seed, ridge and bin ridge are none of the defaults (ksi guide must take them from the model), on a
#    map with bins in data units. Stopped in the first pass, refused without --resume, resumed on 3
#    ranks: the eta of the fit's own guided passes (2 ranks), bitwise; the same from the guide keys of a
#    config's [fit] section; another seed gives another eta. A calibrated model, zero passes, bad
#    options and a missing model are refused.
oneshot_args=(--data f2.h5 --features scattering --feature-params J=3,L=4,marginal=4,units=data --times 5
              --draws 1 --batch 2 --standardize copula --schedule trig --checkpoint-every 0
              --seed 7 --ridge 1e-6 --bin-ridge 1e-2)
guide_args=(--guide 2 --guide-ensemble 8 --guide-batch 2 --guide-steps 12 --guide-tolerance 0 --checkpoint-every 0)
run 2 "$ksi" fit "${oneshot_args[@]}" "${guide_args[@]:0:10}" --out fit_guided.h5 -q || exit 1
run 2 "$ksi" fit "${oneshot_args[@]}" --out oneshot.h5 -q || exit 1
stop_when "guide pass 1, t = 0.25" kg_stop.log USR1 -- "$MPIEXEC" -n 2 --oversubscribe "$ksi" guide --model oneshot.h5 "${guide_args[@]}" --out kg.h5 -v
check "ksi guide stopped: exit 75" [ $? -eq 75 ]
check "its checkpoint is kept" test -f kg.h5.checkpoint
expect_absent kg.h5
expect_exit 4 "use --resume to continue it" -- "$ksi" guide --model oneshot.h5 "${guide_args[@]}" --out kg.h5
run 3 "$ksi" guide --model oneshot.h5 "${guide_args[@]}" --out kg.h5 --resume --report kg.json >kg_resume.log 2>&1 ||
  { echo "FAIL: resume of ksi guide"; failures=$((failures + 1)); }
check "the log says where ksi guide resumed" grep -q "guide: resuming from kg.h5.checkpoint at pass" kg_resume.log
expect_absent kg.h5.checkpoint
printf '[fit]\nfeatures = scattering\nguide = 2\nguide-ensemble = 8\nguide-batch = 2\nguide-steps = 12\nguide-tolerance = 0\n[sample]\nsteps = 5\n' >guide.cfg
run 2 "$ksi" guide --config guide.cfg --model oneshot.h5 --out kg_config.h5 -q ||
  { echo "FAIL: ksi guide --config"; failures=$((failures + 1)); }
run 2 "$ksi" guide --model oneshot.h5 "${guide_args[@]}" --seed 1 --out kg_seed1.h5 -q ||
  { echo "FAIL: ksi guide --seed 1"; failures=$((failures + 1)); }
expect_exit 3 "carries an output calibration" -- "$ksi" guide --model cal_reference.h5 --out kg2.h5
expect_exit 2 "--guide (the passes) must be at least 1" -- "$ksi" guide --model oneshot.h5 --guide 0 --out kg2.h5
expect_exit 2 "--guide-tau must be positive" -- "$ksi" guide --model missing.h5 --guide-tau -1 --out kg2.h5
expect_exit 3 "missing.h5" -- "$ksi" guide --model missing.h5 --out kg2.h5
expect_exit 2 "the checkpoint file oneshot.h5 is also an input or the output" -- "$ksi" guide --model oneshot.h5 --checkpoint oneshot.h5 --out kg2.h5
expect_exit 4 "exists; use --force to overwrite it" -- "$ksi" guide --model oneshot.h5 --out kg.h5
expect_absent kg2.h5

$PY - <<'PY' || failures=$((failures + 1))
import h5py, json, sys
from cli_checks import check, done
def same(a, b):
    a, b = h5py.File(a, "r"), h5py.File(b, "r")
    keys = [k for k in ("eta", "shell_gain", "output_gain", "output_map_values", "output_map_targets") if k in a]
    return a.attrs["model_id"] == b.attrs["model_id"] and all(a[k][...].tobytes() == b[k][...].tobytes() for k in keys), keys
r = json.load(open("guided.json"))["resume"]
print("guided resume:", r)
check(r["fit"]["resumed"] and r["fit"]["finished"] and r["fit"]["batches_assembled"] == 0
      and r["fit"]["batches_skipped"] == r["fit"]["batches"] == 8, "guided: no fit batch assembled, all 8 from the checkpoint")
check(r["guide"]["resumed"] and (r["guide"]["pass"], r["guide"]["time"]) >= (0, 2),
      "guided: the guide resumed at pass 1 from grid time 2 or later")
ok, keys = same("reference.h5", "guided.h5")
check(ok, f"guided, resumed on 3 ranks == uninterrupted on 2 ranks, bitwise ({', '.join(keys)})")
r = json.load(open("calibrated.json"))["resume"]
print("calibration resume:", r)
check(r["fit"]["finished"] and r["fit"]["batches_assembled"] == 0, "calibrated: no fit batch assembled")
c = r["calibrate"]
check(c["resumed"] and c["batches"] == 8 and c["batches_skipped"] >= 1 and c["batches_skipped"] + c["batches_integrated"] == 8,
      f"calibrated: {c['batches_skipped']} of 8 batches of calibration fields from the checkpoint, {c['batches_integrated']} integrated")
ok, keys = same("reference.h5", "calibrated.h5")
check(ok, f"calibrated, resumed on 3 ranks == uninterrupted on 2 ranks, bitwise ({', '.join(keys)})")
c = json.load(open("cal.json"))["resume"]["calibrate"]
print("ksi calibrate resume:", c)
check(c["resumed"] and c["batches_skipped"] >= 1 and c["batches_skipped"] + c["batches_integrated"] == 8,
      f"ksi calibrate: {c['batches_skipped']} of 8 batches from the checkpoint, {c['batches_integrated']} integrated")
ok, keys = same("cal_reference.h5", "cal.h5")
check(ok, f"ksi calibrate resumed on 1 rank == uninterrupted on 2 ranks, bitwise ({', '.join(keys)})")
g = json.load(open("kg.json"))["resume"]["guide"]
print("ksi guide resume:", g)
check(g["resumed"] and (g["pass"], g["time"]) >= (0, 2), "ksi guide resumed at pass 1 from grid time 2 or later")
a, b = h5py.File("fit_guided.h5", "r"), h5py.File("kg.h5", "r")
check(a["eta"][...].tobytes() == b["eta"][...].tobytes(),
      "ksi fit --guide 0 then ksi guide (stopped, resumed on 3 ranks) == ksi fit --guide 2 on 2 ranks: eta bitwise")
o = h5py.File("oneshot.h5", "r")
check(o["eta"][...].tobytes() != b["eta"][...].tobytes(), "the passes changed the one-shot eta")
c = h5py.File("kg_config.h5", "r")
check(a["eta"][...].tobytes() == c["eta"][...].tobytes(),
      "ksi guide --config (the guide keys of [fit]) == ksi fit --guide 2: eta bitwise")
s1 = h5py.File("kg_seed1.h5", "r")
check(a["eta"][...].tobytes() != s1["eta"][...].tobytes(),
      "ksi guide --seed 1 differs from the fit's seed 7 (the default is the model's seed)")
done()
PY
finish
