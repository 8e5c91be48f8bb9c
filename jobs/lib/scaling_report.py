#!/usr/bin/python3
"""Turns the runs of jobs/scaling.sh into OUT/scaling.csv, OUT/scaling.json and OUT/scaling.png.

    /usr/bin/python3 jobs/lib/scaling_report.py OUT [--cores N]

Each point (mode, stage, ranks) keeps the best of its repeats (the least disturbed run on a shared
machine). Efficiency: strong t(1) / (p t(p)), weak t(1) / t(p), on the stage's own time from the ksi
report (fit_seconds / sample_seconds) and on the whole command's wall time. The work efficiency compares the CPU
time of all ranks with one rank's (per unit of problem for weak scaling): the parallel overheads alone,
whatever share of a core each rank got. Points with more ranks than
cores are marked oversubscribed, and every point has its core share: the CPU time of its ranks over
ranks x wall time of the launch, below 1 when the ranks did not have a core each (oversubscription or
other work on the machine; measured for local launches only). The strong-scaling results are also compared with the one-rank run:
ksi promises the same bits for any rank count, so a scaling study doubles as a check of it.
"""
import argparse
import csv
import glob
import hashlib
import json
import os
import re
import socket
import sys

import h5py
import numpy as np

FIT_PHASES = ["fit.io", "fit.features.build", "fit.noise", "fit.features", "fit.syrk", "fit.sum",
              "fit.reduce", "fit.solve", "fit.gather"]
SAMPLE_PHASES = ["sample.io"]
NAME = re.compile(r"(strong|weak)-(fit|sample)-np(\d+)-(\d+)\.json$")


def digest(path, dataset):
    """SHA-256 of a dataset's bytes, or None if the file is gone."""
    if not os.path.exists(path):
        return None
    with h5py.File(path, "r") as f:
        return hashlib.sha256(np.ascontiguousarray(f[dataset][:]).tobytes()).hexdigest()


def load_runs(out):
    launches = {}
    with open(os.path.join(out, "launches.csv")) as f:
        for row in csv.DictReader(f):
            key = (row["mode"], row["stage"], int(row["ranks"]), int(row["repeat"]))
            launches[key] = (float(row["launch_seconds"]), float(row.get("cpu_seconds") or "nan"))
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "reports", "*.json"))):
        match = NAME.search(os.path.basename(path))
        if not match:
            continue
        mode, stage, ranks, repeat = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        with open(path) as f:
            report = json.load(f)
        name = os.path.basename(path)[:-5]
        if stage == "fit":
            result = digest(os.path.join(out, "models", name + ".h5"), "eta")
        else:
            result = digest(os.path.join(out, "samples", name + ".h5"), "fields")
        launch, cpu = launches.get((mode, stage, ranks, repeat), (float("nan"), float("nan")))
        runs.append(dict(mode=mode, stage=stage, ranks=ranks, repeat=repeat, report=report,
                         launch=launch, cpu=cpu, result=result))
    return runs


def best_points(runs, cores):
    points = {}
    for run in runs:
        key = (run["mode"], run["stage"], run["ranks"])
        seconds = run["report"][f"{run['stage']}_seconds"]
        if key not in points or seconds < points[key]["stage_seconds"]:
            points[key] = dict(run=run, stage_seconds=seconds)
        points[key].setdefault("repeats", 0)
        points[key]["repeats"] += 1
    rows = []
    for (mode, stage, ranks), point in sorted(points.items()):
        report = point["run"]["report"]
        phases = report["phases"]
        row = dict(mode=mode, stage=stage, ranks=ranks, oversubscribed=ranks > cores,
                   repeats=point["repeats"], stage_seconds=point["stage_seconds"],
                   wall_seconds=report["wall_seconds"], launch_seconds=point["run"]["launch"],
                   cpu_seconds=point["run"]["cpu"],
                   # the fraction of a core each rank got while the launch ran: < 1 when the ranks
                   # shared cores (oversubscription, or other work on the machine)
                   core_share=point["run"]["cpu"] / (ranks * point["run"]["launch"]))
        if stage == "fit":
            row.update(size=report["items"], rate=report["item_draw_times_per_second"],
                       rate_unit="item-draw-times/s")
            names = FIT_PHASES
        else:
            row.update(size=report["samples"], rate=report["sample_steps_per_second"],
                       rate_unit="sample-steps/s")
            names = SAMPLE_PHASES
        for phase in names:
            row[f"{phase}.max"] = phases.get(phase, {}).get("max", 0.0)
        row["result"] = point["run"]["result"]
        rows.append(row)
    # Efficiencies against the one-rank point of the same mode and stage.
    for row in rows:
        base = next((r for r in rows if r["mode"] == row["mode"] and r["stage"] == row["stage"]
                     and r["ranks"] == 1), None)
        if base is None:
            continue
        p = row["ranks"] if row["mode"] == "strong" else 1
        row["efficiency"] = base["stage_seconds"] / (p * row["stage_seconds"])
        row["efficiency_wall"] = base["wall_seconds"] / (p * row["wall_seconds"])
        row["speedup"] = base["stage_seconds"] / row["stage_seconds"] * (1 if row["mode"] == "strong" else row["ranks"])
        # CPU work of the whole launch against one rank's (per unit of problem for weak scaling): what
        # parallel overheads cost, whether or not the ranks had a core each.
        scale = 1 if row["mode"] == "strong" else row["ranks"]
        row["work_efficiency"] = scale * base["cpu_seconds"] / row["cpu_seconds"]
        if row["mode"] == "strong" and row["result"] and base["result"]:
            row["same_bits_as_1_rank"] = row["result"] == base["result"]
    return rows


def plot(rows, cores, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 4.8))
    max_ranks = max(r["ranks"] for r in rows)
    styles = {("strong", "fit"): ("C0", "o-"), ("weak", "fit"): ("C0", "s--"),
              ("strong", "sample"): ("C1", "o-"), ("weak", "sample"): ("C1", "s--")}
    for (mode, stage), (color, style) in styles.items():
        points = sorted((r for r in rows if r["mode"] == mode and r["stage"] == stage and "efficiency" in r),
                        key=lambda r: r["ranks"])
        if points:
            left.plot([r["ranks"] for r in points], [r["efficiency"] for r in points], style, color=color,
                      label=f"{stage}, {mode}")
            work = [(r["ranks"], r["work_efficiency"]) for r in points if r.get("work_efficiency") == r.get("work_efficiency")]
            if work:
                left.plot(*zip(*work), style[0] + ":", color=color, alpha=0.6, lw=1,
                          label=f"{stage}, {mode}: CPU work")
    left.axhline(1.0, color="grey", lw=0.8)
    if max_ranks > cores:
        left.axvspan(cores + 0.5, max_ranks + 0.5, color="0.9", zorder=0)
        left.text(cores + 0.6, 0.05, f"oversubscribed\n(> {cores} cores)", fontsize=8, va="bottom")
    left.set_xlabel("MPI ranks")
    left.set_ylabel("parallel efficiency (stage time)")
    left.set_ylim(0, 1.25)
    left.set_xticks(sorted({r["ranks"] for r in rows}))
    left.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    left.set_title("efficiency: strong t1/(p tp), weak t1/tp")

    fits = sorted((r for r in rows if r["mode"] == "strong" and r["stage"] == "fit"), key=lambda r: r["ranks"])
    bottom = np.zeros(len(fits))
    x = np.arange(len(fits))
    for i, phase in enumerate(FIT_PHASES):
        values = np.array([r[f"{phase}.max"] for r in fits])
        if values.max() <= 0:
            continue
        right.bar(x, values, bottom=bottom, label=phase.replace("fit.", ""), color=f"C{i}")
        bottom += values
    right.set_xticks(x, [str(r["ranks"]) for r in fits])
    right.set_xlabel("MPI ranks (strong scaling of fit)")
    right.set_ylabel("seconds (max over ranks, per phase)")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    right.set_title("where the fit's time goes")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    runs = load_runs(args.out)
    if not runs:
        sys.exit(f"no reports in {args.out}/reports")
    rows = best_points(runs, args.cores)
    columns = ["mode", "stage", "ranks", "oversubscribed", "size", "repeats", "stage_seconds",
               "wall_seconds", "launch_seconds", "cpu_seconds", "core_share", "efficiency", "efficiency_wall",
               "work_efficiency", "speedup", "rate",
               "rate_unit", "same_bits_as_1_rank"] + [f"{p}.max" for p in FIT_PHASES + SAMPLE_PHASES]
    with open(os.path.join(args.out, "scaling.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    git_hash = runs[0]["report"].get("git_hash", "")
    load_path = os.path.join(args.out, "loadavg.txt")
    load = open(load_path).read().split("\n") if os.path.exists(load_path) else []
    with open(os.path.join(args.out, "scaling.json"), "w") as f:
        json.dump({"host": socket.gethostname(), "cores": args.cores, "git_hash": git_hash,
                   "load_average": [line for line in load if line], "points": rows}, f, indent=1)
    title = f"ksi scaling on {socket.gethostname()} ({args.cores} cores, git {git_hash})"
    plot(rows, args.cores, os.path.join(args.out, "scaling.png"), title)

    print(f"{'mode':6s} {'stage':6s} {'ranks':>5s} {'seconds':>9s} {'wall':>8s} {'eff':>6s} {'eff(wall)':>9s} "
          f"{'core share':>10s} {'work eff':>8s}  same bits")
    for r in rows:
        print(f"{r['mode']:6s} {r['stage']:6s} {r['ranks']:5d} {r['stage_seconds']:9.3f} {r['wall_seconds']:8.3f} "
              f"{r.get('efficiency', float('nan')):6.3f} {r.get('efficiency_wall', float('nan')):9.3f} "
              f"{r['core_share']:10.2f} {r.get('work_efficiency', float('nan')):8.3f}  "
              f"{r.get('same_bits_as_1_rank', '')}{'  (oversubscribed)' if r['oversubscribed'] else ''}")
    for line in load:
        if line:
            print(f"load average {line}")
    print(f"wrote {args.out}/scaling.csv, scaling.json, scaling.png")
    if any(r.get("same_bits_as_1_rank") is False for r in rows):
        sys.exit("results differ from the one-rank run")


if __name__ == "__main__":
    main()
