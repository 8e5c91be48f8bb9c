#!/usr/bin/env bash
# Model combination study (README "Combining models"): weak models, each fitted on its own small
# subset of the data, then combined through one P x P system on all the data (--features models),
# against each member and against the number of members.
#   usage: jobs/combination_study.sh mixture|cosmology32 OUTDIR [RANKS]
# mixture: 2D ring of 8 Gaussians; 8 members of 16 random Fourier features, each fitted on 250
#   items of its own; combinations of the first 1, 2, 4, 8 members (and 8 + the exact Gaussian
#   drift) on 2000 items; judged by the energy distance to 2000 held-out items.
# cosmology32: 32^3 log-density fields of the quick start; 4 members on the quick-start scattering
#   map without guided passes, each fitted on 8 fields of its own (in the units of a reference fitted
#   on all 32, also a row); combinations of 1, 2, 4 members (and 4 + Gaussian) on all 32; judged by
#   ksi stats against 32 held-out fields, Q(features) on the reference's map.
# Writes OUTDIR/<row>/ and OUTDIR/combination.md (one row per model, with fit and sample seconds).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${1:?usage: combination_study.sh mixture|cosmology32 OUTDIR [RANKS]}
out=${2:?usage: combination_study.sh mixture|cosmology32 OUTDIR [RANKS]}
ranks=${3:-2}
export KSI=${KSI:-${KSI_BUILD_DIR:-$root/build}/ksi}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
# The job scripts' launcher (mpirun or srun, one thread per rank, stop signals passed on).
source "$root/jobs/lib/launch.sh"
launch() { ksi_run "$ranks" "$@"; }
mkdir -p "$out"
cd "$out"

# subset FILE FIRST COUNT OUT: items FIRST .. FIRST + COUNT - 1 of FILE (attributes kept).
subset() {
  /usr/bin/python3 - "$@" <<'PY'
import sys, h5py
src, first, count, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
    for k, v in f.attrs.items():
        g.attrs[k] = v
    d = g.create_dataset("fields", data=f["fields"][first:first + count])
    for k, v in f["fields"].attrs.items():
        d.attrs[k] = v
PY
}

# row NAME FIT_OPTIONS...: fits NAME/model.h5 on the training set (unless it exists), samples and
# judges it.
declare -a rows=()
row() {
  local name=$1
  shift
  rows+=("$name")
  mkdir -p "$name"
  if [ ! -f "$name/model.h5" ]; then
    launch fit --data train.h5 --out "$name/model.h5" --report "$name/fit.json" --force "$@" -q
  fi
  judge "$name"
}

if [ "$kind" = mixture ]; then
  [ -f train.h5 ] || launch synth mixture --count 2000 --seed 1 --out train.h5 -q
  [ -f test.h5 ] || launch synth mixture --count 2000 --seed 2 --out test.h5 -q
  judge() {
    [ -f "$1/report/stats.json" ] && return
    launch sample --model "$1/model.h5" --out "$1/samples.h5" --count 2000 --steps 100 \
      --report "$1/sample.json" --force -q
    launch stats --train train.h5 --test test.h5 --gen "$1/samples.h5" --out-dir "$1/report" --force -q
  }
  common=(--times 17 --draws 8)
  row reference --features fourier --feature-params count=256 "${common[@]}"
  members=()
  for i in 1 2 3 4 5 6 7 8; do
    mkdir -p member$i
    [ -f member$i/data.h5 ] || subset train.h5 $(((i - 1) * 250)) 250 member$i/data.h5
    if [ ! -f member$i/model.h5 ]; then
      launch fit --data member$i/data.h5 --out member$i/model.h5 --features fourier \
        --feature-params count=16,seed=$i --units-from reference/model.h5 "${common[@]}" \
        --report member$i/fit.json --force -q
    fi
    rows+=("member$i")
    judge member$i
    members+=("member$i/model.h5")
  done
  join() { local IFS=+; echo "$*"; }
  for k in 1 2 4 8; do
    row "combined$k" --features models --feature-params "paths=$(join "${members[@]:0:$k}")" "${common[@]}"
  done
  row combined8+gaussian --features models --feature-params "paths=$(join "${members[@]}")+gaussian" "${common[@]}"
  row gaussian --features models --feature-params paths=gaussian --units-from reference/model.h5 "${common[@]}"
elif [ "$kind" = cosmology32 ]; then
  config="$root/inputs/quickstart.cfg"
  [ -f train.h5 ] || launch synth --config "$config" --seed 1 --out train.h5 -q
  [ -f test.h5 ] || launch synth --config "$config" --seed 2 --out test.h5 -q
  judge() {
    [ -f "$1/report/stats.json" ] && return
    launch sample --config "$config" --model "$1/model.h5" --out "$1/samples.h5" \
      --report "$1/sample.json" --force -q
    launch stats --config "$config" --train train.h5 --test test.h5 --gen "$1/samples.h5" \
      --model reference/model.h5 --out-dir "$1/report" --force -q
  }
  # The quick start's map and units without its guided passes.
  common=(--config "$config" --guide 0)
  row reference "${common[@]}"
  members=()
  for i in 1 2 3 4; do
    mkdir -p member$i
    [ -f member$i/data.h5 ] || subset train.h5 $(((i - 1) * 8)) 8 member$i/data.h5
    if [ ! -f member$i/model.h5 ]; then
      launch fit --config "$config" --guide 0 --data member$i/data.h5 --out member$i/model.h5 \
        --units-from reference/model.h5 --report member$i/fit.json --force -q
    fi
    rows+=("member$i")
    judge member$i
    members+=("member$i/model.h5")
  done
  join() { local IFS=+; echo "$*"; }
  for k in 1 2 4; do
    row "combined$k" --config "$config" --guide 0 --features models \
      --feature-params "paths=$(join "${members[@]:0:$k}")"
  done
  row combined4+gaussian --config "$config" --guide 0 --features models \
    --feature-params "paths=$(join "${members[@]}")+gaussian"
  row gaussian --config "$config" --guide 0 --features models --feature-params paths=gaussian
else
  echo "unknown study '$kind' (mixture, cosmology32)" >&2
  exit 2
fi

/usr/bin/python3 - "${rows[@]}" <<'PY'
import json, os, sys
rows = sys.argv[1:]
judged, lines = None, []
for name in rows:
    report = json.load(open(f"{name}/report/stats.json"))
    q = {j["statistic"]: j for j in report["judgements"]}
    if judged is None:
        judged = [s for s in q if s not in ("mean", "covariance")]
    fit = json.load(open(f"{name}/fit.json")) if os.path.exists(f"{name}/fit.json") else {}
    sample = json.load(open(f"{name}/sample.json")) if os.path.exists(f"{name}/sample.json") else {}
    cells = [name, str(fit.get("features", "")), "%.1f" % fit.get("fit_seconds", float("nan")),
             "%.1f" % sample.get("sample_seconds", float("nan"))]
    for s in judged:
        j = q.get(s)
        if j is None or j.get("q_gen") is None:
            cells.append("-")
        elif s == "energy_distance":
            cells.append("%.4f (Q %.2f)" % (j["dist_gen_test"], j["q_gen"]))
        else:
            cells.append("%.2f" % j["q_gen"])
    lines.append("| " + " | ".join(cells) + " |")
head = ["row", "P", "fit s", "sample s"] + judged
table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + lines
open("combination.md", "w").write("\n".join(table) + "\n")
print("\n".join(table))
PY
