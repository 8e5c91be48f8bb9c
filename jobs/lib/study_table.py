#!/usr/bin/python3
"""Collects the rows of a fidelity study (jobs/fidelity_study.sh) into OUTDIR/study.csv and
OUTDIR/study.md: per row every judged statistic's Q = dist(gen, test) / dist(train, test) (METHOD
section 8) with the Gaussian baseline's in brackets, and the seconds of the fit, the guided passes and
the sampling.

    /usr/bin/python3 jobs/lib/study_table.py ROWS OUTDIR
"""
import csv
import json
import os
import sys


def rows_of(path):
    names = []
    with open(path) as f:
        for line in f:
            name = line.split("|")[0].strip()
            if name and not name.startswith("#"):
                names.append((name, line.strip()))
    return names


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def main():
    rows_path, out = sys.argv[1], sys.argv[2]
    table, columns = [], []
    for name, line in rows_of(rows_path):
        q_path = os.path.join(out, name, "report", "stats_q.csv")
        if not os.path.exists(q_path):
            continue
        fit_options = line.split("|")[1].strip() if "|" in line else ""
        if fit_options.startswith("guide="):  # passes added to another row's model by ksi guide
            guided = read_json(os.path.join(out, name, "guide.json"))
            fit = {"guide_seconds": guided.get("guide_seconds", ""),
                   "guide_passes": guided.get("guide_passes", "")}
        else:
            fit = read_json(os.path.join(out, name, "fit.json"))
        sample = read_json(os.path.join(out, name, "sample.json"))
        row = {"row": name, "options": line.split("|", 1)[1].strip() if "|" in line else "",
               "P": fit.get("features", ""),
               "fit_s": fit.get("fit_seconds", ""), "guide_s": fit.get("guide_seconds", ""),
               "guide_passes": fit.get("guide_passes", ""),
               "sample_s": sample.get("wall_seconds", sample.get("sample_seconds", ""))}
        with open(q_path) as f:
            for r in csv.DictReader(f):
                label = r["statistic"]
                if label not in columns:
                    columns.append(label)
                row[label] = float(r["q_gen"])
                row[label + "_baseline"] = float(r["q_baseline"]) if r["q_baseline"] not in ("", "nan") else float("nan")
        table.append(row)
    if not table:
        print("study: no finished rows")
        return
    fields = ["row", "P", "fit_s", "guide_passes", "guide_s", "sample_s"]
    fields += [c for label in columns for c in (label, label + "_baseline")] + ["options"]
    with open(os.path.join(out, "study.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in table:
            w.writerow(row)

    def seconds(v):
        return f"{float(v):.0f}" if v not in ("", None) else "-"

    def q(row, label):
        v, b = row.get(label), row.get(label + "_baseline")
        if v is None:
            return "-"
        return f"{v:.2f} ({b:.1f})" if b == b else f"{v:.2f}"

    lines = ["| row | P | fit s | guide s (passes) | sample s | " + " | ".join(columns) + " |",
             "|---" * (5 + len(columns)) + "|"]
    for row in table:
        guide = f"{seconds(row['guide_s'])} ({row['guide_passes']})" if row.get("guide_passes") not in ("", 0, None) else "-"
        lines.append(f"| {row['row']} | {row['P']} | {seconds(row['fit_s'])} | {guide} | "
                     f"{seconds(row['sample_s'])} | " + " | ".join(q(row, c) for c in columns) + " |")
    with open(os.path.join(out, "study.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
