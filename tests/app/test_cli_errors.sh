#!/usr/bin/env bash
# Bad input to every subcommand: one clear message, the documented exit code, nothing written,
# nothing overwritten without --force.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

"$ksi" synth gaussian --dim 3 --count 400 --out data3.h5 -q || exit 1
"$ksi" synth gaussian --dim 2 --count 300 --out data2.h5 -q || exit 1
"$ksi" fit --data data3.h5 --out model3.h5 --features polynomial --times 5 -q || exit 1

# usage errors (exit 2)
expect_exit 2 "usage" -- "$ksi"
expect_exit 2 "unknown subcommand" -- "$ksi" frobnicate
expect_exit 2 "unknown option '--bogus'" -- "$ksi" fit --data data3.h5 --out m.h5 --bogus 1
expect_exit 2 "unknown generator" -- "$ksi" synth nothing --out x.h5
expect_exit 2 "--out FILE is required" -- "$ksi" fit --data data3.h5
expect_exit 2 "unknown feature map" -- "$ksi" fit --data data3.h5 --out m.h5 --features wavelet
expect_exit 2 "has no parameter 'cuont'" -- "$ksi" fit --data data3.h5 --out m.h5 --feature-params cuont=5
expect_exit 2 "unknown interpolant schedule" -- "$ksi" fit --data data3.h5 --out m.h5 --schedule cubic
expect_exit 2 "unknown --gram 'sketch'" -- "$ksi" fit --data data3.h5 --out m.h5 --gram sketch
expect_exit 2 "add --gram randomized" -- "$ksi" fit --data data3.h5 --out m.h5 --gram-probes 8
expect_exit 2 "--gram-probes must be" -- "$ksi" fit --data data3.h5 --out m.h5 --gram randomized --gram-probes 0
# 400 items x 1 draw x 1 probe cannot estimate a Gram of 2 000 features: refused, nothing written.
expect_exit 2 "rank at most 400, below its P = 2000" -- "$ksi" fit --data data3.h5 --out mr.h5 \
  --features fourier --feature-params count=2000 --draws 1 --gram randomized --gram-probes 1
[ -e mr.h5 ] && { echo "FAIL: a refused randomized fit wrote mr.h5"; failures=$((failures + 1)); }
expect_exit 2 "unknown --guide-fallback 'limited' (known: residual, none)" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-fallback limited
expect_exit 2 "unknown --guide-keep 'first' (known: best, last)" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-keep first
expect_exit 2 "unknown --guide-gram 'once' (known: every, first)" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-gram once
expect_exit 2 "unknown --guide-interpolation 'cubic' (known: linear, step, hybrid, ramp)" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-interpolation cubic
expect_exit 2 "--guide-update sweep needs --guide-interpolation hybrid or step" -- "$ksi" guide --model model3.h5 --out g.h5 --guide 2 --guide-update sweep
expect_exit 2 "--guide-update sweep needs --guide-interpolation hybrid or step" -- "$ksi" guide --model model3.h5 --out g.h5 --guide 2 --guide-update sweep --guide-interpolation ramp
expect_exit 2 "--guide-ramp-fraction must be in (0, 1]" -- "$ksi" guide --model model3.h5 --out g.h5 --guide 1 --guide-interpolation ramp --guide-ramp-fraction 0
expect_exit 2 "--guide-ramp-fraction must be in (0, 1]" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-interpolation ramp --guide-ramp-fraction 1.5
expect_exit 2 "--guide-interval-retries must be at most 30" -- "$ksi" guide --model model3.h5 --out g.h5 --guide 1 --guide-interval-retries 31
expect_exit 2 "--guide-interval-retries needs --guide-update full or residual" -- "$ksi" fit --data data3.h5 --out m.h5 --guide 1 --guide-update sweep --guide-interpolation step --guide-interval-retries 2
expect_absent g.h5 m.h5
expect_exit 2 "unknown integrator" -- "$ksi" sample --model model3.h5 --out s.h5 --integrator rk4
cp model3.h5 model3_badeta.h5 && $PY -c "import h5py; h5py.File('model3_badeta.h5', 'a').attrs['eta_interpolation'] = 'cubic'"
expect_exit 3 "unknown eta_interpolation of the model 'cubic' (known: linear, step, hybrid, ramp)" -- "$ksi" sample --model model3_badeta.h5 --out s_badeta.h5 --count 2
expect_absent s_badeta.h5
cp model3.h5 model3_badramp.h5 && $PY -c "import h5py; f = h5py.File('model3_badramp.h5', 'a'); f.attrs['eta_interpolation'] = 'ramp'; f.attrs['eta_ramp_fraction'] = 0.0"
expect_exit 3 "the ramp fraction of eta must be in (0, 1]" -- "$ksi" sample --model model3_badramp.h5 --out s_badramp.h5 --count 2
expect_absent s_badramp.h5
cp model3.h5 model3_nobase.h5 && $PY -c "import h5py; h5py.File('model3_nobase.h5', 'a').attrs['eta_interpolation'] = 'hybrid'"
expect_exit 3 "hybrid in time (eta_interpolation) but it has no eta_base" -- "$ksi" sample --model model3_nobase.h5 --out s_nobase.h5 --count 2
expect_absent s_nobase.h5
expect_exit 2 "is not a finite number" -- "$ksi" synth gaussian --mean 0,x --covariance 1,0,0,1 --out g.h5
expect_exit 2 "positive definite" -- "$ksi" synth gaussian --mean 0,0 --covariance 1,2,2,1 --out g.h5
printf 'times = 5\nfeatures = polynomial\ncolour = blue\n' > bad.cfg
expect_exit 2 "unknown key 'colour' in config file bad.cfg" -- "$ksi" fit --config bad.cfg --data data3.h5 --out m.h5
expect_exit 2 "is also an input" -- "$ksi" fit --data data3.h5 --out data3.h5 --force
# A checkpoint file that is an input or the output: refused before anything is read or written, in
# every command that checkpoints (with --force, ksi fit used to remove the data file as a stale
# checkpoint and run on without it).
before=$(sha256sum data3.h5 model3.h5)
expect_exit 2 "the checkpoint file data3.h5 is also an input or the output" -- "$ksi" fit --data data3.h5 --out m.h5 --checkpoint data3.h5 --force
expect_exit 2 "the checkpoint file ./m.h5 is also an input or the output" -- "$ksi" fit --data data3.h5 --out m.h5 --checkpoint ./m.h5
expect_exit 2 "the checkpoint file m.h5.guide is also an input or the output" -- "$ksi" fit --data data3.h5 --out m.h5.guide --checkpoint m.h5 --force
expect_exit 2 "the checkpoint file model3.h5 is also an input or the output" -- "$ksi" calibrate --model model3.h5 --data data3.h5 --out c.h5 --checkpoint model3.h5 --force
expect_exit 2 "the checkpoint file model3.h5 is also an input or the output" -- "$ksi" guide --model model3.h5 --out g.h5 --checkpoint model3.h5 --force
for every in -1 nan inf; do
  for cmd in "fit --data data3.h5" "calibrate --model model3.h5 --data data3.h5" "guide --model model3.h5"; do
    expect_exit 2 "--checkpoint-every must be a finite number of seconds >= 0" -- "$ksi" $cmd --out m.h5 --checkpoint-every $every
  done
done
expect_exit 2 "the checkpoint file model3.h5 is also an input or the output" -- "$ksi" fit --data data3.h5 --features-from model3.h5 --out m.h5 --checkpoint model3.h5 --force
expect_exit 2 "the checkpoint file name is empty" -- "$ksi" fit --data data3.h5 --out m.h5 --checkpoint ""
expect_exit 2 "no output file given" -- "$ksi" fit --data data3.h5 --out ""
check "the inputs named as checkpoints are intact" [ "$(sha256sum data3.h5 model3.h5)" = "$before" ]
expect_absent m.h5 m.h5.guide c.h5 g.h5
expect_absent m.h5 x.h5 g.h5 s.h5

printf '[fit]\ntimes = 5\n[fitt]\ndraws = 2\n' > section.cfg
expect_exit 2 "unknown section \\[fitt\\]" -- "$ksi" fit --config section.cfg --data data3.h5 --out m.h5
expect_absent m.h5

# one config file for the whole pipeline: each subcommand reads its own [section]
printf '[synth]\ngenerator = gaussian\ndim = 2\ncount = 80\n[fit]\nfeatures = polynomial\ntimes = 4\n[sample]\ncount = 9\n' > pipeline.cfg
"$ksi" synth --config pipeline.cfg --out p_data.h5 -q && "$ksi" fit --config pipeline.cfg --data p_data.h5 --out p_model.h5 -q \
  && "$ksi" sample --config pipeline.cfg --model p_model.h5 --out p_samples.h5 -q
shapes=$($PY -c "import h5py; print(h5py.File('p_data.h5')['fields'].shape, h5py.File('p_model.h5')['eta'].shape, h5py.File('p_samples.h5')['fields'].shape)")
[ "$shapes" = "(80, 2) (4, 5) (9, 2)" ] && echo "ok: sectioned config ($shapes)" || { echo "FAIL: sectioned config $shapes"; failures=$((failures+1)); }

# the command line wins over the config file
printf 'count = 100\ndim = 2\n' > synth.cfg
"$ksi" synth gaussian --config synth.cfg --count 50 --out small.h5 -q
items=$($PY -c "import h5py; print(h5py.File('small.h5')['fields'].shape)")
[ "$items" = "(50, 2)" ] && echo "ok: command line wins ($items)" || { echo "FAIL: config precedence $items"; failures=$((failures+1)); }

# input errors (exit 3)
expect_exit 3 "file not found: missing.h5" -- "$ksi" fit --data missing.h5 --out m.h5
echo "plain text" > text.h5
expect_exit 3 "not an HDF5 file" -- "$ksi" fit --data text.h5 --out m.h5
$PY - <<'PY'
import h5py, numpy as np
with h5py.File('flat.h5', 'w') as f: f['fields'] = np.zeros(10)
with h5py.File('ints.h5', 'w') as f: f['fields'] = np.zeros((10, 3), dtype=np.int64)
with h5py.File('nofields.h5', 'w') as f: f['other'] = np.zeros((10, 3))
x = np.random.default_rng(1).normal(size=(50, 3)); x[17, 1] = np.nan
with h5py.File('nan.h5', 'w') as f: f['fields'] = x
PY
expect_exit 3 "one-dimensional" -- "$ksi" fit --data flat.h5 --out m.h5
expect_exit 3 "holds integers" -- "$ksi" fit --data ints.h5 --out m.h5
expect_exit 3 "has no /fields dataset" -- "$ksi" fit --data nofields.h5 --out m.h5
expect_exit 3 "item 17 contains NaN" -- "$ksi" fit --data nan.h5 --out m.h5
expect_exit 3 "fitted on items of shape vector of 3" -- "$ksi" fit --data data2.h5 --features-from model3.h5 --out m.h5
expect_exit 3 "is not a ksi model file" -- "$ksi" sample --model data3.h5 --out s.h5
expect_exit 3 "file not found" -- "$ksi" sample --model nomodel.h5 --out s.h5
expect_absent m.h5 s.h5

# existing outputs are kept without --force (exit 4), replaced with it
before=$(md5sum model3.h5)
expect_exit 4 "exists; use --force" -- "$ksi" fit --data data2.h5 --out model3.h5 --features polynomial
[ "$(md5sum model3.h5)" = "$before" ] && echo "ok: model3.h5 untouched" || { echo "FAIL: model3.h5 changed"; failures=$((failures+1)); }
expect_exit 0 "" -- "$ksi" fit --data data2.h5 --out model3.h5 --features polynomial --times 5 --force -q
expect_exit 0 "vector of 2" -- "$ksi" info model3.h5
mkdir -p ro && chmod 500 ro
if [ "$(id -u)" -ne 0 ]; then
  expect_exit 4 "not writable" -- "$ksi" synth gaussian --dim 2 --out ro/x.h5
fi
expect_exit 4 "does not exist" -- "$ksi" synth gaussian --dim 2 --out nofolder/x.h5
# Unsigned options refuse a sign (Boost took -1 as 2^64 - 1: a sample of 2^64 - 1 steps crashed,
# a drift of 2^64 - 1 iterations ran on) and anything but a whole number.
expect_exit 2 "argument ('-1 (a whole number 0 or above is expected)') for option '--steps'" -- "$ksi" sample --model model3.h5 --out sneg.h5 --count 4 --steps -1
expect_exit 2 "for option '--count' is invalid" -- "$ksi" synth gaussian --dim 2 --count -4 --out gneg.h5
expect_exit 2 "for option '--times' is invalid" -- "$ksi" fit --data data3.h5 --out mneg.h5 --times 1e3
expect_exit 2 "for option '--guide' is invalid" -- "$ksi" guide --model model3.h5 --out gneg2.h5 --guide -1
expect_absent sneg.h5 sneg.h5.partial gneg.h5 mneg.h5 gneg2.h5
# --report FILE is an output like --out: not over an existing file without --force, never over an
# input or the run's own output, and checked before any work.
echo '{"kept": true}' > old_report.json
before=$(sha256sum data3.h5 model3.h5 old_report.json)
expect_exit 4 "output old_report.json exists; use --force" -- "$ksi" fit --data data3.h5 --out mrep.h5 --features polynomial --times 3 --report old_report.json
expect_exit 2 "choose another --report" -- "$ksi" fit --data data3.h5 --out mrep.h5 --features polynomial --times 3 --report data3.h5 --force
expect_exit 2 "choose another --report" -- "$ksi" fit --data data3.h5 --out mrep.h5 --features polynomial --times 3 --report mrep.h5 --force
expect_exit 2 "choose another --report" -- "$ksi" sample --model model3.h5 --out srep.h5 --count 2 --report model3.h5 --force
expect_exit 4 "folder of output nodir/r.json does not exist" -- "$ksi" sample --model model3.h5 --out srep.h5 --count 2 --report nodir/r.json
[ "$before" = "$(sha256sum data3.h5 model3.h5 old_report.json)" ] && echo "ok: reports overwrote nothing" || { echo "FAIL: a --report overwrote a file"; failures=$((failures + 1)); }
expect_absent mrep.h5 srep.h5
# A config file that is a folder, a synth config without its generator, a checkpoint in a missing
# folder (said before the fit's work, not after it), a non-positive or NaN box size.
mkdir -p cfgdir
expect_exit 2 "config file cfgdir is a folder" -- "$ksi" fit --config cfgdir --data data3.h5 --out mcfg.h5
printf 'generator gaussian\n' > nogen.cfg
expect_exit 2 "has no 'generator = NAME' line" -- "$ksi" synth --config nogen.cfg --out gcfg.h5
expect_exit 4 "folder of the checkpoint nodir/ck.h5 does not exist" -- "$ksi" fit --data data3.h5 --out mck.h5 --features polynomial --times 3 --checkpoint nodir/ck.h5
for box in nan -5; do
  cp data3.h5 box.h5 && $PY -c "import h5py; h5py.File('box.h5', 'a')['fields'].attrs['box_size'] = float('$box')"
  expect_exit 3 "has box_size $box, not a positive length" -- "$ksi" fit --data box.h5 --out mbox.h5 --features polynomial --times 3 --force
done
expect_absent mcfg.h5 gcfg.h5 mck.h5 mbox.h5
# On two ranks a usage error every rank sees is one line (no message per rank, no MPI abort).
out=$(run 2 "$ksi" sample --model model3.h5 --out s2.h5 --stepz 4 2>&1)
[ $? -eq 2 ] && [ "$(grep -c 'ksi: error' <<<"$out")" -eq 1 ] && ! grep -q "MPI_ABORT" <<<"$out" \
  && echo "ok: one message on two ranks" || { echo "FAIL: two ranks' usage error: $out"; failures=$((failures + 1)); }
# no temporary files are left behind by any failure above
leftovers=$(ls -A | grep '\.tmp\.' || true)
[ -z "$leftovers" ] && echo "ok: no temporaries" || { echo "FAIL: leftovers $leftovers"; failures=$((failures+1)); }
finish
