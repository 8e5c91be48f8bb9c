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

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
