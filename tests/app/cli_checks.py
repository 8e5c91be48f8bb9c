"""Checks shared by the Python parts of the CLI tests: each check prints "ok: ..." or "FAIL: ..."
and counts failures; done() ends the script with the exit code the shell side counts."""
import json
import sys

failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    failures += 0 if ok else 1


def busy(report, phase):
    """Every rank spent time in `phase` of a --report JSON: each had work."""
    p = json.load(open(report))["phases"]
    return phase in p and p[phase]["min"] > 0.0


def same(a, b, name):
    """Dataset `name` of two open HDF5 files, present in both and the same bytes."""
    return name in a and name in b and a[name][...].tobytes() == b[name][...].tobytes()


def done():
    sys.exit(1 if failures else 0)
