#!/usr/bin/env bash
# ksi stats end to end: the same report (to the last digit) on 1 and 2 ranks, the baseline items file, the PNG drawn by
# jobs/plot_report.py for fields and for vectors with a model's feature coefficients.
# Arguments: the ksi binary, the source tree, a scratch folder; MPIEXEC names mpiexec.
set -uo pipefail
ksi=$1
source_dir=$2
work=$3
python=/usr/bin/python3
plot="$python $source_dir/jobs/plot_report.py"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for set in "train 1" "test 2" "gen 3"; do
  read -r name seed <<<"$set"
  "$python" "$source_dir/tests/stats/write_items.py" "$name.h5" fields 12 32 "$seed" 0.6 || fail "write $name"
done
sets=(--train train.h5 --test test.h5 --gen gen.h5)
"$ksi" stats "${sets[@]}" --out-dir one -q || fail "1 rank"
"${MPIEXEC:-mpiexec}" -n 2 "$ksi" stats "${sets[@]}" --out-dir two --baseline-out baseline.h5 -q || fail "2 ranks"
[ -s baseline.h5 ] && [ -s baseline.xmf ] || fail "baseline items or their .xmf sidecar missing"

"$python" - <<'PY' || fail "1 and 2 ranks disagree"
import json
one, two = (json.load(open(f"{d}/stats.json")) for d in ("one", "two"))
assert two["ranks"] == 2 and one["ranks"] == 1
assert two["baseline_items"].endswith("baseline.h5"), two["baseline_items"]
# P(k), PDF, skewness, kurtosis, S_2..S_6, B, Q_3, maxima, minima, V_0..V_2, 3 increment PDFs.
assert len(one["judgements"]) == 19, [j["statistic"] for j in one["judgements"]]
for a, b in zip(one["judgements"], two["judgements"]):
    for key in ("dist_train_test", "dist_gen_test", "dist_baseline_test", "q_gen", "q_baseline"):
        assert a[key] == b[key], (a["statistic"], key, a[key], b[key])  # the same bits
assert one["reference"] == two["reference"] and one["gaussian_minkowski"] == two["gaussian_minkowski"]
PY
"$python" - <<'PY' || fail "the baseline items are not the judged baseline"
import csv, h5py, numpy as np
fields = h5py.File("baseline.h5", "r")["fields"][:]
rows = {r["statistic"]: r for r in csv.DictReader(open("two/stats_moments.csv"))}
assert fields.shape == (12, 32, 32), fields.shape
assert abs(fields.mean() - float(rows["mean"]["baseline_mean"])) < 1e-9
assert abs(fields.var(axis=(1, 2)).mean() - float(rows["variance"]["baseline_mean"])) < 1e-9
PY

$plot two/stats.json || fail "plot of fields"
[ "$(head -c 8 two/stats.png | od -An -c | tr -d ' ')" = "211PNG\r\n032\n" ] || fail "two/stats.png is not a PNG"
$plot two/stats.json 2>err.txt && fail "the plot overwrote its PNG without --force"
grep -q "use --force" err.txt || fail "no message about the existing PNG"
$plot two/stats.json --force || fail "plot --force"

# Vectors with a model: the feature-coefficient table and its panel.
"$ksi" synth mixture -n 300 --seed 1 --out vtrain.h5 -q || fail "synth"
"$ksi" synth mixture -n 300 --seed 2 --out vtest.h5 -q || fail "synth"
"$ksi" synth mixture -n 300 --seed 3 --out vgen.h5 -q || fail "synth"
"$ksi" fit --data vtrain.h5 --out model.h5 --features polynomial --times 3 --draws 1 -q || fail "fit"
"$ksi" stats --train vtrain.h5 --test vtest.h5 --gen vgen.h5 --model model.h5 --out vectors \
  --baseline-out vbaseline.h5 -q || fail "vector stats"
for table in q mean covariance marginal_pdf features; do
  [ -s "vectors_$table.csv" ] || fail "vectors_$table.csv missing"
done
grep -q "^features,2,x0\*x0," vectors_features.csv || fail "feature names missing from the table"
$plot vectors.json || fail "plot of vectors"
[ -s vectors.png ] || fail "vectors.png missing"
# 1D series: volatility clustering and leverage beside P(k), PDF and S_p; MRW with leverage against
# MRW without it as the "generated" set: the leverage must tell them apart, the |r| clustering not.
"$ksi" synth mrw --count 24 --length 2048 --leverage 0.1 --leverage-range 100 --seed 1 --out strain.h5 -q || fail "synth mrw"
"$ksi" synth mrw --count 24 --length 2048 --leverage 0.1 --leverage-range 100 --seed 2 --out stest.h5 -q || fail "synth mrw"
"$ksi" synth mrw --count 24 --length 2048 --seed 3 --out sgen.h5 -q || fail "synth mrw"
"$ksi" stats --train strain.h5 --test stest.h5 --gen sgen.h5 --out-dir series --leverage-max-lag 32 -q ||
  fail "series stats"
"$python" - <<'PY' || fail "series statistics"
import csv, json
report = json.load(open("series/stats.json"))
q = {j["statistic"]: j for j in report["judgements"]}
assert "volatility_clustering" in q and "leverage" in q, list(q)
assert "bispectrum" not in q and "peak_counts" not in q
rows = [r for r in csv.DictReader(open("series/stats_series.csv"))]
lags = [int(r["lag"]) for r in rows if r["statistic"] == "leverage"]
assert lags == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32], lags
vol = [int(r["lag"]) for r in rows if r["statistic"] == "volatility_clustering"]
assert vol[-1] == 256 and len(vol) == 16, vol
lev1 = [r for r in rows if r["statistic"] == "leverage" and r["lag"] == "1"][0]
assert float(lev1["test_mean"]) < 0 and abs(float(lev1["gen_mean"])) < abs(float(lev1["test_mean"])) / 3, lev1
assert q["leverage"]["q_gen"] > 3, q["leverage"]
# The spread judgement beside Q: defined for every statistic, near 1 for the train set by construction.
assert all(j["q_spread_gen"] == j["q_spread_gen"] and j["spread_train_test"] > 0 for j in report["judgements"]), \
    [(j["statistic"], j["q_spread_gen"]) for j in report["judgements"]]
PY
$plot series/stats.json || fail "plot of series"
[ -s series/stats.png ] || fail "series/stats.png missing"
# Fields with no power beyond a cut-off (a dealiased simulation): the report names the --kmax that
# stops before the empty shells; ordinary fields get no such warning.
"$python" - <<'PY' || fail "write cut fields"
import h5py, numpy as np
rng = np.random.default_rng(4)
n = 32
k = np.sqrt(sum(np.meshgrid(*[np.fft.fftfreq(n) * n] * 2, indexing="ij")[a] ** 2 for a in range(2)))
for name, seed in (("ctrain", 1), ("ctest", 2), ("cgen", 3)):
    fields = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((8, n, n))) * (k < 9.5)))
    with h5py.File(f"{name}.h5", "w") as f:
        f.create_dataset("fields", data=fields).attrs["item_kind"] = "grid"
PY
"$ksi" stats --train ctrain.h5 --test ctest.h5 --gen cgen.h5 --out-dir cut >cut.log 2>&1 || fail "stats of cut fields"
grep -q "hold no power from shell 10 on .*use --kmax 9" cut.log || fail "no --kmax advice for fields without power beyond shell 9: $(grep -i warn cut.log)"
"$ksi" stats "${sets[@]}" --out-dir plain --force >plain.log 2>&1 || fail "stats of ordinary fields"
grep -q "hold no power" plain.log && fail "a --kmax warning for fields with power on every shell"
echo "ksi stats report checks passed"
