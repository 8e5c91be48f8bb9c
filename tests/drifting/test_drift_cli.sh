#!/usr/bin/env bash
# ksi drift from the command line: a good run writes particles and diagnostics of the right shapes,
# identical on 1 and 2 ranks; bad input gives one message, the exit code of its class, and no output.
# Arguments: ksi binary, source tree, scratch folder.
set -uo pipefail
ksi=$1
work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
mpiexec=${MPIEXEC:-mpiexec}
python=/usr/bin/python3
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN command...: the exit code and a message on standard error matching PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 2
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" -ne "$code" ]; then fail "'$*' exited $got, expected $code: $(cat err.txt)"; return; fi
  if ! grep -qi -- "$pattern" err.txt; then fail "'$*': message '$(cat err.txt)' lacks '$pattern'"; fi
  if [ "$(grep -c . err.txt)" -ne 1 ]; then fail "'$*': expected one line of error, got: $(cat err.txt)"; fi
}

"$ksi" synth mixture -d 2 --components 2 -n 300 --seed 1 --out train.h5 -q || fail "synth train"
"$ksi" synth mixture -d 2 --components 2 -n 200 --seed 2 --out test.h5 -q || fail "synth test"
"$ksi" synth mixture -d 3 --components 2 -n 200 --seed 2 --out test3.h5 -q || fail "synth test3"

# A good run, on one, two and three ranks (300 particles in tiles of 64: tiles on every rank).
"$ksi" drift --data train.h5 --test test.h5 --out one.h5 --iterations 20 --energy-every 5 --tile 64 -q ||
  fail "drift on one rank"
"$mpiexec" -n 2 --oversubscribe "$ksi" drift --data train.h5 --test test.h5 --out two.h5 \
  --iterations 20 --energy-every 5 --tile 64 -q || fail "drift on two ranks"
"$mpiexec" -n 3 --oversubscribe "$ksi" drift --data train.h5 --test test.h5 --out three.h5 \
  --iterations 20 --energy-every 5 --tile 64 --kernel laplace -q || fail "drift on three ranks"
"$ksi" drift --data train.h5 --test test.h5 --out three_serial.h5 --iterations 20 --energy-every 5 --tile 64 \
  --kernel laplace -q || fail "laplace drift on one rank"
"$python" - <<'PY' || fail "output contents"
import h5py, numpy as np
one, two = h5py.File("one.h5", "r"), h5py.File("two.h5", "r")
assert one["fields"].shape == (300, 2), one["fields"].shape
assert one.attrs["ksi_file_kind"] == "particles"
res = one["diagnostics/residual_velocity"][...]
assert res.shape == (21,) and np.all(np.isfinite(res)) and res[-1] < res[0], res
assert list(one["diagnostics/energy_iterations"][...]) == [0, 5, 10, 15, 20]
ed = one["diagnostics/energy_distance"][...]
assert ed[-1] < ed[0], ed
# Bitwise the same on any number of ranks (README), particles and diagnostics.
for a, b in ((one, two), (h5py.File("three_serial.h5", "r"), h5py.File("three.h5", "r"))):
    assert a["fields"][...].tobytes() == b["fields"][...].tobytes()
    for name in a["diagnostics"]:
        assert a["diagnostics"][name][...].tobytes() == b["diagnostics"][name][...].tobytes(), name
PY

# Bad input: usage errors (2), input errors (3), output errors (4); nothing written.
expect 2 "--data FILE is required" "$ksi" drift --out x.h5
expect 2 "unknown option" "$ksi" drift --data train.h5 --out x.h5 --bandwith 0.3
expect 2 "unknown kernel" "$ksi" drift --data train.h5 --out x.h5 --kernel cauchy
expect 2 "multiple of 8" "$ksi" drift --data train.h5 --out x.h5 --tile 12
expect 2 "--step" "$ksi" drift --data train.h5 --out x.h5 --step -1
expect 3 "missing.h5" "$ksi" drift --data missing.h5 --out x.h5
expect 3 "shape" "$ksi" drift --data train.h5 --test test3.h5 --out x.h5
"$python" - <<'PY'
import h5py, numpy as np
x = np.random.default_rng(0).normal(size=(50, 2)); x[7, 1] = np.nan
with h5py.File("nan.h5", "w") as f:
    f["fields"] = x
    f["fields"].attrs["item_kind"] = "vector"
PY
expect 3 "finite\|nan" "$ksi" drift --data nan.h5 --out x.h5
expect 4 "exists" "$ksi" drift --data train.h5 --out one.h5 --iterations 1
[ -e x.h5 ] && fail "a failed run left x.h5 behind"
expect 2 "input" "$ksi" drift --data train.h5 --out train.h5 --force

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all ksi drift CLI checks passed"
