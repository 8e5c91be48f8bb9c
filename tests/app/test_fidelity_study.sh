#!/usr/bin/env bash
# jobs/fidelity_study.sh runs every row of its rows file (the launcher once read the rest of the
# file from the loop's standard input, so only the first row ran), a row reusing another row's
# model, a row adding guided passes to another row's model (ksi guide), skips rows already done on a
# rerun, and writes the study table with one line per row; a row guiding a row without a model stops
# the study with one message naming both.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

cat >small.cfg <<'CFG'
[synth]
generator = mixture
count = 600
dim = 2

[fit]
features = fourier
feature-params = count=32,length_scale=1
times = 5
draws = 1

[sample]
count = 200
steps = 8
CFG
cat >rows <<'ROWS'
# a comment line
coarse | --times 5 |
fine | --times 9 | --steps 12
again | - | reuse=fine --seed 7
guided | guide=fine --guide 1 --guide-ensemble 16 --guide-steps 8 |
swept | guide=fine --guide 3 --guide-update sweep --guide-interpolation hybrid --guide-ensemble 16 --guide-steps 8 --guide-tolerance 0 |
ROWS
KSI=$ksi bash "$src/jobs/fidelity_study.sh" small.cfg rows out 2 >study.log 2>&1
check "the study ran (exit 0)" [ $? -eq 0 ]
for row in coarse fine again guided swept; do
  check "row $row judged" test -f "out/$row/report/stats_q.csv"
done
check "the reusing row sampled the model of the row it names" grep -q "out/fine/model.h5" out/again/sample.log
check "the guided row ran ksi guide on the model of the row it names" grep -q "guide --config small.cfg --model out/fine/model.h5" out/guided/guide.log
check "its table line has the guide's seconds and passes, no fit" grep -q '^| guided |  | - | [0-9.]* (1) |' out/study.md
check "one table line per row" [ "$(grep -c '^| \(coarse\|fine\|again\|guided\|swept\) |' out/study.md)" -eq 5 ]
# Sweep updates end to end: three passes, each the model measured whole, the best kept; ksi info
# says so.
"$ksi" info out/swept/model.h5 >swept_info.txt
check "ksi info shows the sweep passes" grep -q "guided passes: 3, sweep updates, eta hybrid, kept pass [123]; RMS z per pass: [0-9.e+]* [0-9.e+]* [0-9.e+]* (each the model measured whole; last damping" swept_info.txt
check "the sweep guide logged each pass's whole model" grep -q "pass 1: the model measured whole has RMS z" out/swept/guide.log
check "sweep updates start at w = 0.125 unless --guide-damping is given" grep -q "sweep updates, damping 0.125" out/swept/guide.log
KSI=$ksi bash "$src/jobs/fidelity_study.sh" small.cfg rows out 2 >rerun.log 2>&1
check "a rerun skips the rows already done" [ "$(grep -c 'done$' rerun.log)" -eq 5 ]
printf 'early | guide=later --guide 1 |\nlater | --times 5 |\n' >bad_rows
KSI=$ksi bash "$src/jobs/fidelity_study.sh" small.cfg bad_rows out_bad 2 >bad.log 2>&1
check "a row guiding a row not yet fitted stops the study (exit != 0)" [ $? -ne 0 ]
check "... with a message naming both rows" grep -q "row early adds passes to later, which has no model" bad.log
finish
