#!/usr/bin/python3
"""Fits log-log slopes of the drifting N-study and plots it.

Reads the CSV of tests/benchmarks/study_drifting (one row per dimension, kernel and N), writes
<stem>_slopes.csv (fitted slope of each quantity against N beside the analysis's -1/(d+4)) and
<stem>.png (one column per quantity, one line per dimension and kernel).

    /usr/bin/python3 jobs/plot_drifting_study.py build/study/drifting_study.csv
"""
import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

QUANTITIES = [
    ("train_residual_velocity", "residual velocity (training data, end of run)"),
    ("heldout_residual_velocity", "residual velocity against held-out data"),
    ("energy_distance", "energy distance to held-out data"),
    ("data_energy_distance", "energy distance, N training items (yardstick)"),
]


def slope(n, y):
    """Least-squares slope of log y against log n."""
    n, y = np.asarray(n, float), np.asarray(y, float)
    keep = y > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(n[keep]), np.log(y[keep]), 1)[0])


def main(path):
    path = Path(path)
    runs = defaultdict(list)
    with path.open() as f:
        for row in csv.DictReader(f):
            runs[(int(row["dimension"]), row["kernel"])].append(row)
    if not runs:
        sys.exit(f"{path}: no rows")

    slopes_path = path.with_name(path.stem + "_slopes.csv")
    with slopes_path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["dimension", "kernel", "sizes", "predicted_slope"] +
                     [f"slope_{q}" for q, _ in QUANTITIES])
        for (d, kernel), rows in sorted(runs.items()):
            n = [int(r["n"]) for r in rows]
            out.writerow([d, kernel, f"{min(n)}-{max(n)}", f"{-1.0 / (d + 4):.4f}"] +
                         [f"{slope(n, [float(r[q]) for r in rows]):.4f}" for q, _ in QUANTITIES])

    fig, axes = plt.subplots(1, len(QUANTITIES), figsize=(5 * len(QUANTITIES), 4.4))
    colours = {1: "tab:blue", 2: "tab:orange", 4: "tab:green"}
    for ax, (q, title) in zip(axes, QUANTITIES):
        for (d, kernel), rows in sorted(runs.items()):
            n = np.array([int(r["n"]) for r in rows], float)
            y = np.array([float(r[q]) for r in rows])
            style = "-o" if kernel == "gauss" else "--s"
            ax.loglog(n, y, style, color=colours.get(d, "k"), ms=4,
                      label=f"d={d} {kernel} (slope {slope(n, y):.2f})")
            # The analysis's rate N^(-1/(d+4)) through the first point, for comparison.
            if kernel == "gauss" and q != "data_energy_distance":
                ax.loglog(n, y[0] * (n / n[0]) ** (-1.0 / (d + 4)), ":", color=colours.get(d, "k"),
                          lw=1)
        ax.set_xlabel("N (particles = data items)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Drifting generator: convergence in N (dotted: N^(-1/(d+4)) through the first point)",
                 fontsize=11)
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=120)
    print(f"wrote {slopes_path} and {png}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/study/drifting_study.csv")
