#!/usr/bin/python3
"""Collects the tasks of a sweep (jobs/submit-sweep.sh) into RUN_DIR/sweep.csv: per task its options,
whether it finished, the model's size and fit diagnostics (R^2 = captured fraction of E|dI/dt|^2,
METHOD section 2; worst relative residual), and the fit and sample times from the ksi reports.

    /usr/bin/python3 jobs/lib/sweep_summary.py RUN_DIR
"""
import csv
import json
import os
import sys

import h5py
import numpy as np


def task_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summarise(run_dir, task, line):
    folder = os.path.join(run_dir, "sweep", f"task-{task}")
    row = {"task": task, "options": line, "status": "missing"}
    model_path = os.path.join(folder, "model.h5")
    if os.path.exists(model_path):
        with h5py.File(model_path, "r") as model:
            captured = model["diagnostics/captured"][:]
            row.update(features=model["eta"].shape[1], times=model["eta"].shape[0],
                       r2_min=float(captured.min()), r2_mean=float(captured.mean()),
                       r2_max=float(captured.max()),
                       residual_max=float(model["diagnostics/residual"][:].max()),
                       model_id=model.attrs.get("model_id", ""))
        row["status"] = "fitted"
    fit = read_json(os.path.join(folder, "fit.json"))
    if fit:
        row.update(ranks=fit["ranks"], items=fit["items"], draws=fit["draws"],
                   fit_seconds=fit["fit_seconds"])
    samples_path = os.path.join(folder, "samples.h5")
    if os.path.exists(samples_path):
        with h5py.File(samples_path, "r") as samples:
            values = samples["fields"][:]
            row.update(samples=values.shape[0], samples_finite=bool(np.isfinite(values).all()))
        row["status"] = "done"
    sample = read_json(os.path.join(folder, "sample.json"))
    if sample:
        row.update(sample_steps=sample["steps"], sample_seconds=sample["sample_seconds"])
    return row


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    lines = task_lines(os.path.join(run_dir, "sweep.tasks"))
    rows = [summarise(run_dir, task, line) for task, line in enumerate(lines)]
    columns = ["task", "status", "options", "features", "times", "draws", "items", "ranks",
               "r2_min", "r2_mean", "r2_max", "residual_max", "fit_seconds", "samples",
               "samples_finite", "sample_steps", "sample_seconds", "model_id"]
    out = os.path.join(run_dir, "sweep.csv")
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    done = sum(row["status"] == "done" for row in rows)
    print(f"{out}: {done} of {len(rows)} tasks done")
    for row in rows:
        r2 = f"mean R^2 {row['r2_mean']:.4f}" if "r2_mean" in row else ""
        print(f"  task {row['task']:3d} {row['status']:8s} {r2:18s} {row['options']}")
    sys.exit(0 if done == len(rows) else 1)


if __name__ == "__main__":
    main()
