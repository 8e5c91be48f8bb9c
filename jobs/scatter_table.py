#!/usr/bin/env python3
"""Per-item scatter of a ksi stats report: how far each set's mean lies from the test set's mean, in
units of the test set's item-to-item standard deviation (not of its standard error, as Q).

    jobs/scatter_table.py REPORT_DIR [REPORT_DIR ...] [--markdown]

For each judged statistic: z = RMS over its components of (mean_set - mean_test) / sd_test, for the
train, gen and baseline sets. This is the judgement of generation from ONE realization (a single
training series or field): its model can only know that realization, whose own statistics deviate
from the process's mean by about one sd, so Q (in standard errors of 64-item means) says little; z <= 1
means "as typical as a fresh realization". Components where the test set has no scatter are skipped.
"""
import csv
import json
import math
import os
import sys


def scatter(folder):
    report = json.load(open(os.path.join(folder, "stats.json")))
    tables = report["tables"]
    out = {}
    for statistic in report["statistics"]:
        if not statistic["judged"] or statistic["table"] not in tables:
            continue
        rows = [r for r in csv.DictReader(open(os.path.join(folder, tables[statistic["table"]])))
                if r.get("statistic", statistic["name"]) == statistic["name"]]
        sums = {}
        for r in rows:
            sd = float(r["test_std"])
            if not sd > 0:
                continue
            for name in ("train", "gen", "baseline"):
                if f"{name}_mean" in r and r[f"{name}_mean"] not in ("", "nan"):
                    z = (float(r[f"{name}_mean"]) - float(r["test_mean"])) / sd
                    s = sums.setdefault(name, [0.0, 0])
                    s[0] += z * z
                    s[1] += 1
        out[statistic["label"]] = {n: math.sqrt(s / c) for n, (s, c) in sums.items() if c}
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    for folder in args:
        table = scatter(folder)
        print(f"{folder}: RMS (set mean - test mean) / test sd per statistic")
        if "--markdown" in sys.argv:
            print("| statistic | train | gen | baseline |\n|---|---|---|---|")
            for label, z in table.items():
                escaped = label.replace("|", "\\|")
                print(f"| {escaped} | " + " | ".join(f"{z.get(n, float('nan')):.2f}"
                                                  for n in ("train", "gen", "baseline")) + " |")
        else:
            for label, z in table.items():
                print(f"  {label:16s}" + "".join(f"  {n} {z.get(n, float('nan')):6.2f}"
                                              for n in ("train", "gen", "baseline")))


if __name__ == "__main__":
    main()
