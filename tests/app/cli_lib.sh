# Shared helpers of the CLI tests: expect_exit CODE PATTERN -- command..., run, lognormal_fields, ...
set -u
PY=/usr/bin/python3
# The Python parts of the tests import cli_checks (check, busy, same, done) from this folder.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
failures=0

# run N command...: the command on N ranks (MPIEXEC from ctest).
run() { "$MPIEXEC" -n "$1" --oversubscribe "${@:2}"; }

# lognormal_fields FILE COUNT SIDE DIMENSION SEED SLOPE AMPLITUDE: COUNT log-normal fields exp(a g / sd g)
# of SIDE^DIMENSION points, g Gaussian with spectrum (1 + k^2)^-SLOPE, written by h5py as a user's
# script would (dataset "fields", item_kind grid).
lognormal_fields() {
  $PY - "$@" <<'PY'
import sys, h5py, numpy as np
path, count, side, dimension, seed = sys.argv[1], *(int(v) for v in sys.argv[2:6])
slope, amplitude = float(sys.argv[6]), float(sys.argv[7])
rng = np.random.default_rng(seed)
dims = (side,) * dimension
k2 = sum(np.meshgrid(*[np.fft.fftfreq(n) * n for n in dims], indexing="ij")[a] ** 2 for a in range(dimension))
shape = np.where(k2 > 0, (1.0 + k2) ** -slope, 0.0)
fields = np.empty((count,) + dims)
for i in range(count):
    g = np.real(np.fft.ifftn(np.fft.fftn(rng.standard_normal(dims)) * shape))
    fields[i] = np.exp(amplitude * g / g.std())
with h5py.File(path, "w") as f:
    f.create_dataset("fields", data=fields).attrs["item_kind"] = "grid"
PY
}

expect_exit() {
  local want=$1 pattern=$2
  shift 3
  local out
  out=$("$@" 2>&1)
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: '$*' exited $got, expected $want; output: $out"
    failures=$((failures + 1))
  elif [ -n "$pattern" ] && ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: '$*' output lacks '$pattern': $out"
    failures=$((failures + 1))
  else
    echo "ok: $* -> $got"
  fi
}

expect_absent() {
  for f in "$@"; do
    if [ -e "$f" ]; then
      echo "FAIL: $f should not exist"
      failures=$((failures + 1))
    fi
  done
}

# stop_when PATTERN LOG SIGNAL -- command...: runs the command in the background (output to LOG), sends
# SIGNAL to it once LOG matches PATTERN (a stage has begun, so ksi answers signals), and returns its
# exit code. The stop is then answered at ksi's next agreement point, whatever the machine's speed.
stop_when() {
  local pattern=$1 log=$2 signal=$3
  shift 4
  : >"$log"  # before the launch: a stale match would signal a run still starting
  "$@" >"$log" 2>&1 &
  local pid=$!
  until grep -q -- "$pattern" "$log" 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done
  kill -"$signal" $pid 2>/dev/null
  wait $pid
}

# check DESCRIPTION COMMAND...: counts a failure when COMMAND fails.
check() {
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
