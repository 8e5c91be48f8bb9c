# Shared helpers of the CLI tests: expect_exit CODE PATTERN -- command...
set -u
PY=/usr/bin/python3
failures=0

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
