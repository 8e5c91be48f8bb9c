#!/usr/bin/env bash
# ksi stats on bad input: the documented exit code, one clear message, and nothing written.
# Arguments: the ksi binary, the source tree, a scratch folder.
set -uo pipefail
ksi=$1
source_dir=$2
work=$3
python=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect CODE PATTERN command...: the exit code, the pattern in the one error line, no report.
expect() {
  local code=$1 pattern=$2
  shift 2
  "$@" >out.txt 2>err.txt
  local got=$?
  [ "$got" = "$code" ] || { cat out.txt err.txt >&2; fail "'$*' exited $got, expected $code"; }
  grep -q -- "$pattern" err.txt || { cat err.txt >&2; fail "'$*' did not say '$pattern'"; }
  [ "$(grep -c 'error' err.txt)" = 1 ] || { cat err.txt >&2; fail "'$*' printed more than one error"; }
  if compgen -G "report*" >/dev/null || compgen -G ".report*" >/dev/null || [ -e newdir ]; then
    ls -a >&2
    fail "'$*' left output behind"
  fi
}

make_fields() { "$python" "$source_dir/tests/stats/write_items.py" "$@" || fail "cannot write $1"; }
make_fields train.h5 fields 6 16 1 0.5
make_fields test.h5 fields 6 16 2 0.5
make_fields gen.h5 fields 6 16 3 0.5
make_fields small.h5 fields 6 8 4 0.5
make_fields tiny.h5 fields 3 3 5 0.5
make_fields nan.h5 fields 4 16 6 0.5 nan
make_fields constant.h5 fields 4 16 7 0.5 constant
"$ksi" synth gaussian --dim 2 -n 50 --out v2.h5 -q || fail "synth v2"
"$ksi" synth gaussian --dim 3 -n 50 --out v3.h5 -q || fail "synth v3"
"$ksi" fit --data v3.h5 --out m3.h5 --features polynomial --times 3 --draws 1 -q || fail "fit m3"
sets=(--train train.h5 --test test.h5 --gen gen.h5)

expect 2 "--gen FILE is required" "$ksi" stats --train train.h5 --test test.h5 --out report
expect 2 "unknown option" "$ksi" stats "${sets[@]}" --out report --bogus 1
expect 2 "exactly one of --out" "$ksi" stats "${sets[@]}"
expect 2 "exactly one of --out" "$ksi" stats "${sets[@]}" --out report --out-dir newdir
expect 2 "pdf-range takes two numbers" "$ksi" stats "${sets[@]}" --out report --pdf-range 1
expect 2 "kmax 9 exceeds" "$ksi" stats "${sets[@]}" --out report --kmax 9
expect 2 "bispectrum-kmax 5 exceeds 4" "$ksi" stats "${sets[@]}" --out report --bispectrum-kmax 5
expect 2 "bispectrum-bins 5 exceeds" "$ksi" stats "${sets[@]}" --out report --bispectrum-bins 5
expect 2 "peak height range \[2, 1\] is empty" "$ksi" stats "${sets[@]}" --out report --peak-range 2,1
expect 2 "minkowski-range takes two numbers" "$ksi" stats "${sets[@]}" --out report --minkowski-range 1
expect 2 "minkowski-thresholds must be at least 1" "$ksi" stats "${sets[@]}" --out report \
  --minkowski-thresholds 0
expect 2 "increment-separations: 9 is outside 1 .. 8" "$ksi" stats "${sets[@]}" --out report \
  --increment-separations 1,9
expect 2 "1.5 is not a positive whole number" "$ksi" stats "${sets[@]}" --out report \
  --increment-separations 1.5
expect 2 "increment separation 2 is given twice" "$ksi" stats "${sets[@]}" --out report \
  --increment-separations 2,2
expect 2 "increment-range -1 is not positive" "$ksi" stats "${sets[@]}" --out report --increment-range -1
expect 3 "missing.h5" "$ksi" stats --train train.h5 --test missing.h5 --gen gen.h5 --out report
expect 3 "item shapes differ: train.h5 holds 16 x 16 grid items but small.h5 holds 8 x 8 grid" \
  "$ksi" stats --train train.h5 --test test.h5 --gen small.h5 --out report
expect 3 "m3.h5 was fitted on items of shape vector of 3" \
  "$ksi" stats --train v2.h5 --test v2.h5 --gen v2.h5 --model m3.h5 --out report
expect 3 "nan.h5: item 3 contains NaN" "$ksi" stats --train train.h5 --test test.h5 --gen nan.h5 --out report
expect 3 "constant.h5: item 0: the field is constant" \
  "$ksi" stats --train train.h5 --test test.h5 --gen constant.h5 --out report
expect 3 "too small for statistics" "$ksi" stats --train tiny.h5 --test tiny.h5 --gen tiny.h5 --out report
expect 4 "folder nodir of the report does not exist" "$ksi" stats "${sets[@]}" --out nodir/report
expect 2 "is also an input" "$ksi" stats "${sets[@]}" --out report --baseline-out train.h5
expect 2 "needs the baseline" "$ksi" stats "${sets[@]}" --out report --baseline off --baseline-out b.h5

# A good run, then the same outputs again: refused without --force and left untouched.
"$ksi" stats "${sets[@]}" --out report -q || fail "the good run failed"
"$python" -c "import json; json.load(open('report.json'))" || fail "report.json is not JSON"
for table in q power_spectrum pdf moments structure_functions bispectrum peaks minkowski increment_pdf; do
  [ -s "report_$table.csv" ] || fail "report_$table.csv missing"
done
before=$(md5sum report*)
"$ksi" stats "${sets[@]}" --out report >out.txt 2>err.txt
[ $? = 4 ] || fail "an existing report was overwritten without --force"
grep -q "report.json exists; use --force" err.txt || fail "no message about the existing report"
[ "$before" = "$(md5sum report*)" ] || fail "the existing report changed"
"$ksi" stats "${sets[@]}" --out report --force -q || fail "--force did not overwrite"
"$ksi" stats "${sets[@]}" --out-dir newdir -q || fail "--out-dir did not make its folder"
[ -s newdir/stats.json ] || fail "newdir/stats.json missing"
"$ksi" stats "${sets[@]}" --out-dir newdir >out.txt 2>err.txt
[ $? = 4 ] || fail "an existing --out-dir report was overwritten without --force"
ls -a | grep -q "tmp" && fail "temporary files left behind"
echo "ksi stats bad-input checks passed"
