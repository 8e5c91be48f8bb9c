#!/usr/bin/python3
"""Draws the PNG report of `ksi stats` from its JSON summary and CSV tables.

    /usr/bin/python3 jobs/plot_report.py PREFIX.json [--out PREFIX.png] [--force]

Fields: a data, a generated (and a baseline) item side by side (2D fields, the first plane of 3D
fields, the start of 1D series); P(k), the one-point PDF and S_p(r) of every set, each with its
spread over items (mean +- one standard deviation; for P(k) and S_p of the logarithm); one panel per
family of the statistics nothing is fitted on (2D/3D: the reduced bispectrum Q_3 of equilateral and
squeezed triangles, peak counts by height, the Minkowski functionals against threshold with the
Gaussian closed forms; fields and series: the increment PDFs with the normal law), every set
overlaid; the Q ratios of generated items and of the Gaussian baseline as bars and as a table; with
a model, the z-scores of the feature-map coefficients. Vectors: scatter plots of the first two coordinates, marginal PDFs, the Q
bars. An existing PNG is refused unless --force is given, as ksi does with its outputs.
"""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {"train": "tab:blue", "test": "black", "gen": "tab:red", "baseline": "tab:green"}
STYLES = {"train": "-", "test": "--", "gen": "-", "baseline": ":"}


def read_table(folder, name):
    """Rows of one CSV table as a list of dicts with floats where the text is a number."""
    rows = []
    with open(os.path.join(folder, name), newline="") as stream:
        for row in csv.DictReader(stream):
            parsed = {}
            for key, value in row.items():
                try:
                    parsed[key] = float(value)
                except ValueError:
                    parsed[key] = value
            rows.append(parsed)
    return rows


def column(rows, key):
    return np.array([r[key] for r in rows], dtype=float)


def first_item(path):
    """The first item of an item file, or None when it cannot be read (moved, no h5py)."""
    if not path:
        return None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return np.asarray(f["fields"][0], dtype=float)
    except Exception as error:  # a missing input only drops the picture, not the report
        print(f"plot_report: no picture of {path}: {error}", file=sys.stderr)
        return None


def items(path, limit):
    if not path:
        return None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return np.asarray(f["fields"][:limit], dtype=float)
    except Exception as error:
        print(f"plot_report: no scatter of {path}: {error}", file=sys.stderr)
        return None


def present_sets(summary):
    return [s for s in ("train", "test", "gen", "baseline") if s in summary["sets"]]


def plot_slices(fig, cells, summary):
    sources = [("train", summary["sets"]["train"]["path"]), ("gen", summary["sets"]["gen"]["path"])]
    if summary.get("baseline_items"):
        sources.append(("baseline", summary["baseline_items"]))
    pictures = [(name, first_item(path)) for name, path in sources]
    reference = next((p for _, p in pictures if p is not None), None)
    if reference is None:
        return
    lo, hi = np.percentile(reference, [1, 99])
    for cell, (name, picture) in zip(cells, pictures):
        ax = fig.add_subplot(cell)
        ax.set_title(f"{name}: item 0")
        if picture is None:
            ax.text(0.5, 0.5, "not readable", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
        elif picture.ndim == 1:
            ax.plot(picture[: min(len(picture), 1024)], color=COLOURS[name], lw=0.7)
            ax.set_xlabel("index")
        else:
            plane = picture if picture.ndim == 2 else picture[0]
            image = ax.imshow(plane, origin="lower", cmap="viridis", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def band(ax, x, rows, name, log):
    mean, std = column(rows, f"{name}_mean"), column(rows, f"{name}_std")
    if log:
        centre, low, high = np.exp(mean), np.exp(mean - std), np.exp(mean + std)
    else:
        centre, low, high = mean, np.maximum(mean - std, 0), mean + std
    ax.plot(x, centre, STYLES[name], color=COLOURS[name], label=name, lw=1.4)
    ax.fill_between(x, low, high, color=COLOURS[name], alpha=0.15, lw=0)


def plot_spectrum(ax, folder, summary):
    rows = [r for r in read_table(folder, summary["tables"]["power_spectrum"])
            if r["statistic"] == "log_power_spectrum"]
    k = column(rows, "k")
    for name in present_sets(summary):
        band(ax, k, rows, name, log=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$k$ [$2\pi/L$]")
    ax.set_ylabel(r"$P(k)$")
    ax.set_title("power spectrum (mean $\\pm$ 1 sd of ln P)")
    ax.legend(fontsize=8)


def plot_pdf(ax, folder, summary, table, title, dimension=None):
    rows = [r for r in read_table(folder, summary["tables"][table])
            if math.isfinite(r["width"]) and (dimension is None or r["dimension"] == dimension)]
    x = 0.5 * (column(rows, "bin_lower") + column(rows, "bin_upper"))
    width = column(rows, "width")
    top = 0.0
    for name in present_sets(summary):
        mean, std = column(rows, f"{name}_mean") / width, column(rows, f"{name}_std") / width
        ax.plot(x, mean, STYLES[name], color=COLOURS[name], label=name, lw=1.4)
        top = max(top, np.max(mean))
        if dimension is None:  # per-field histograms have a meaningful spread over fields
            ax.fill_between(x, mean - std, mean + std, color=COLOURS[name], alpha=0.15, lw=0)
            top = max(top, np.max(mean + std))
    # Fields: a log scale shows the tails, down to about one value per set; vectors: linear.
    if dimension is None and top > 0:
        values = sum(summary["sets"][n]["count"] for n in ("train", "test")) * np.prod(
            summary["item_shape"]["dims"])
        ax.set_yscale("log")
        ax.set_ylim(0.5 / (values * np.max(width)), 2.0 * top)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_structure_functions(ax, folder, summary):
    rows = read_table(folder, summary["tables"]["structure_functions"])
    for order in sorted({int(r["order"]) for r in rows}):
        selected = [r for r in rows if int(r["order"]) == order]
        r = column(selected, "r")
        for name in ("test", "gen", "baseline"):
            if name not in summary["sets"]:
                continue
            ax.plot(r, np.exp(column(selected, f"{name}_mean")), STYLES[name], color=COLOURS[name],
                    lw=1.2, label=name if order == 2 else None)
        ax.annotate(f"p={order}", (r[-1], math.exp(selected[-1]["test_mean"])), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("r [grid points]")
    ax.set_ylabel(r"$S_p(r)$")
    ax.set_title(r"structure functions $S_2 \ldots S_6$")
    ax.legend(fontsize=8)


def sub_axes(fig, cell, rows, cols):
    """The axes of a rows x cols grid inside one cell of the figure's grid (one family's panel)."""
    inner = cell.subgridspec(rows, cols)
    return [fig.add_subplot(inner[r, c]) for r in range(rows) for c in range(cols)]


def spread(ax, x, rows, name, scale=None, label=True):
    """Mean +- one standard deviation of a linear statistic (no floor: B and Q_3 can be negative)."""
    scale = np.ones(len(rows)) if scale is None else scale
    mean, std = column(rows, f"{name}_mean") / scale, column(rows, f"{name}_std") / scale
    ax.plot(x, mean, STYLES[name], color=COLOURS[name], label=name if label else None, lw=1.3)
    ax.fill_between(x, mean - std, mean + std, color=COLOURS[name], alpha=0.12, lw=0)


def plot_bispectrum(fig, cell, folder, summary):
    rows = [r for r in read_table(folder, summary["tables"]["bispectrum"])
            if r["statistic"] == "reduced_bispectrum"]
    axes = sub_axes(fig, cell, 1, 2)
    for ax, shape in zip(axes, ("equilateral", "squeezed")):
        selected = [r for r in rows if r["configuration"] == shape]
        if not selected:
            ax.set_axis_off()
            continue
        k = column(selected, "k3")
        for name in present_sets(summary):
            spread(ax, k, selected, name, label=shape == "equilateral")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel(r"$k$ [$2\pi/L$]")
        if shape == "equilateral":
            ax.set_title(r"equilateral $Q_3(k, k, k)$", fontsize=10)
            ax.set_ylabel(r"reduced bispectrum $Q_3$")
            ax.legend(fontsize=7)
        else:
            ax.set_title(rf"squeezed $Q_3({selected[0]['k1']:.2g}, k, k)$", fontsize=10)


def plot_peaks(fig, cell, folder, summary):
    rows = [r for r in read_table(folder, summary["tables"]["peaks"]) if math.isfinite(r["width"])]
    axes = sub_axes(fig, cell, 1, 2)
    for ax, (statistic, title) in zip(axes, (("peak_counts", "maxima"), ("minimum_counts", "minima"))):
        selected = [r for r in rows if r["statistic"] == statistic]
        nu = 0.5 * (column(selected, "nu_lower") + column(selected, "nu_upper"))
        for name in present_sets(summary):
            spread(ax, nu, selected, name, column(selected, "width"), label=title == "maxima")
        ax.set_xlabel(r"height $\nu$ [training $\sigma$]")
        ax.set_title(f"peak counts: {title}")
        if title == "maxima":
            ax.set_ylabel("per unit volume and unit $\\nu$")
            ax.legend(fontsize=7)


def plot_minkowski(fig, cell, folder, summary):
    rows = read_table(folder, summary["tables"]["minkowski"])
    functionals = sorted({r["statistic"] for r in rows})
    axes = sub_axes(fig, cell, 2, 2)
    gaussian = summary.get("gaussian_minkowski")
    names = {0: "volume fraction", 1: "surface", 2: "curvature", 3: "Euler char."}
    if len(functionals) == 3:
        names = {0: "area fraction", 1: "perimeter", 2: "Euler char."}
    for j, ax in enumerate(axes):
        if j >= len(functionals):
            ax.set_axis_off()
            continue
        selected = [r for r in rows if r["statistic"] == f"minkowski_V{j}"]
        nu = column(selected, "nu")
        for name in present_sets(summary):
            spread(ax, nu, selected, name, label=j == 0)
        if gaussian and f"V_{j}" in gaussian:
            ax.plot(gaussian["nu"], gaussian[f"V_{j}"], color="grey", lw=0.9, alpha=0.8,
                    label="Gaussian (Tomita)" if j == 0 else None)
        ax.set_title(f"$V_{j}$: {names[j]}", fontsize=9)
        ax.tick_params(labelsize=7)
        if j >= 2:
            ax.set_xlabel(r"threshold $\nu$ [training $\sigma$]", fontsize=8)
        if j == 0:
            ax.legend(fontsize=6)


def plot_increments(fig, cell, folder, summary):
    rows = [r for r in read_table(folder, summary["tables"]["increment_pdf"])
            if math.isfinite(r["width"])]
    separations = sorted({int(r["r"]) for r in rows})
    axes = sub_axes(fig, cell, 1, len(separations))
    for ax, r in zip(axes, separations):
        selected = [row for row in rows if int(row["r"]) == r]
        x = 0.5 * (column(selected, "bin_lower") + column(selected, "bin_upper"))
        width = column(selected, "width")
        for name in present_sets(summary):
            mean = column(selected, f"{name}_mean") / width
            ax.plot(x, mean, STYLES[name], color=COLOURS[name], lw=1.2, label=name if r == separations[0] else None)
        ax.plot(x, np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), color="grey", lw=0.8,
                label="normal" if r == separations[0] else None)
        ax.set_yscale("log")
        positive = [v for v in column(selected, "test_mean") / width if v > 0]
        if positive:
            ax.set_ylim(0.3 * min(positive), 3.0 * max(positive))
        ax.set_title(f"r = {r}", fontsize=9)
        ax.set_xlabel(r"$\delta_r f$ [training rms]", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("increment PDF")
    axes[0].legend(fontsize=6)


def plot_series(fig, cell, folder, summary):
    """1D series: volatility clustering (ACF of |r|) and leverage against the lag."""
    rows = read_table(folder, summary["tables"]["series"])
    statistics = [(s, t) for s, t in (("volatility_clustering", r"ACF of $|r|$ (volatility clustering)"),
                                      ("leverage", r"leverage $E[r_t r_{t+\tau}^2] / E[r^2]^2$"))
                  if any(r["statistic"] == s for r in rows)]
    axes = sub_axes(fig, cell, 1, len(statistics))
    for i, (ax, (statistic, title)) in enumerate(zip(axes, statistics)):
        selected = [r for r in rows if r["statistic"] == statistic]
        lag = column(selected, "lag")
        for name in present_sets(summary):
            spread(ax, lag, selected, name, label=i == 0)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel(r"lag $\tau$", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    if axes:
        axes[0].legend(fontsize=6)


def plot_judgements(ax, summary):
    judgements = summary["judgements"]
    labels = [j["label"] for j in judgements]
    x = np.arange(len(labels))
    has_baseline = "baseline" in summary["sets"]
    width = 0.4 if has_baseline else 0.7
    q_gen = [j["q_gen"] if j["q_gen"] is not None else np.nan for j in judgements]
    ax.bar(x - (width / 2 if has_baseline else 0), q_gen, width, color=COLOURS["gen"], label="gen")
    if has_baseline:
        q_base = [j["q_baseline"] if j["q_baseline"] is not None else np.nan for j in judgements]
        ax.bar(x + width / 2, q_base, width, color=COLOURS["baseline"], label="Gaussian baseline")
    values = [v for v in q_gen + (q_base if has_baseline else []) if np.isfinite(v) and v > 0]
    ax.axhline(1.0, color="black", lw=0.8)
    if values:
        ax.set_yscale("log")
        ax.set_ylim(min(0.5, 0.7 * min(values)), max(2.0, 1.5 * max(values)))
    for i, v in enumerate(q_gen):
        if np.isfinite(v):
            ax.annotate(f"{v:.2g}", (i - (width / 2 if has_baseline else 0), v), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Q = dist(., test) / dist(train, test)")
    ax.set_title("Q ratios (1: as close to test as train is)")
    ax.legend(fontsize=8)


def plot_features(ax, folder, summary):
    rows = read_table(folder, summary["tables"]["features"])
    counts = {name: summary["sets"][name]["count"] for name in present_sets(summary)}
    index = column(rows, "feature")
    test_mean, test_var = column(rows, "test_mean"), column(rows, "test_std") ** 2 / counts["test"]
    for name in ("train", "gen", "baseline"):
        if name not in counts:
            continue
        error = np.sqrt(test_var + column(rows, f"{name}_std") ** 2 / counts[name])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (column(rows, f"{name}_mean") - test_mean) / error
        ax.plot(index, z, ".", ms=3, color=COLOURS[name], label=name)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("feature")
    ax.set_ylabel("z-score of the mean vs test")
    ax.set_title("feature-map coefficients")
    ax.legend(fontsize=8)


def plot_numbers(ax, summary):
    """The distances and Q ratios as a table, for reading off exact values."""
    has_baseline = "baseline" in summary["sets"]
    header = ["statistic", "train-test", "gen-test", "Q(gen)"] + (["base-test", "Q(base)"] if has_baseline else [])
    keys = ["dist_train_test", "dist_gen_test", "q_gen"] + (["dist_baseline_test", "q_baseline"] if has_baseline else [])
    cells = [[j["label"]] + ["n/a" if j[k] is None else f"{j[k]:.3g}" for k in keys]
             for j in summary["judgements"]]
    ax.set_axis_off()
    table = ax.table(cellText=cells, colLabels=header, bbox=[0.0, 0.0, 1.0, 0.94])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.set_title("distances (in standard errors) and Q")


def plot_vectors(fig, grid, folder, summary):
    ax = fig.add_subplot(grid[0, 0])
    for name, path in (("test", summary["sets"]["test"]["path"]), ("gen", summary["sets"]["gen"]["path"]),
                       ("baseline", summary.get("baseline_items"))):
        points = items(path, 2000)
        if points is None:
            continue
        y = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
        ax.scatter(points[:, 0], y, s=3, alpha=0.4, color=COLOURS[name], label=name)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("first two coordinates")
    ax.legend(fontsize=8, markerscale=3)
    plot_pdf(fig.add_subplot(grid[0, 1]), folder, summary, "marginal_pdf", "marginal PDF of x0", 0)
    if summary["item_shape"]["dims"][0] > 1:
        plot_pdf(fig.add_subplot(grid[0, 2]), folder, summary, "marginal_pdf", "marginal PDF of x1", 1)
    plot_judgements(fig.add_subplot(grid[1, :2]), summary)
    if "features" in summary["tables"]:
        plot_features(fig.add_subplot(grid[1, 2]), folder, summary)
    else:
        plot_numbers(fig.add_subplot(grid[1, 2]), summary)


def family_panels(summary):
    """The panels of the families present, in order: (table, drawing function)."""
    families = [("bispectrum", plot_bispectrum), ("peaks", plot_peaks), ("minkowski", plot_minkowski),
                ("increment_pdf", plot_increments), ("series", plot_series)]
    return [(table, draw) for table, draw in families if table in summary["tables"]]


def field_rows(summary):
    """Rows of the fields' figure: pictures; P(k), PDF, S_p; the families, three a row; the Q bars
    (beside a lone family in its row, else a row of their own); the numbers (and features)."""
    families = len(family_panels(summary))
    rest = families % 3
    return 2 + families // 3 + (1 if rest else 0) + (1 if rest == 1 else 2)


def plot_fields(fig, grid, folder, summary):
    plot_slices(fig, [grid[0, 0], grid[0, 1], grid[0, 2]], summary)
    plot_spectrum(fig.add_subplot(grid[1, 0]), folder, summary)
    plot_pdf(fig.add_subplot(grid[1, 1]), folder, summary, "pdf", "one-point PDF (mean $\\pm$ 1 sd)")
    if "structure_functions" in summary["tables"]:
        plot_structure_functions(fig.add_subplot(grid[1, 2]), folder, summary)
    families = family_panels(summary)
    for i, (_, draw) in enumerate(families):
        draw(fig, grid[2 + i // 3, i % 3], folder, summary)
    row = 2 + len(families) // 3
    if len(families) % 3 == 1:
        plot_judgements(fig.add_subplot(grid[row, 1:]), summary)
        row += 1
    else:
        row += 1 if len(families) % 3 else 0
        plot_judgements(fig.add_subplot(grid[row, :]), summary)
        row += 1
    if "features" in summary["tables"]:
        plot_features(fig.add_subplot(grid[row, 0]), folder, summary)
        plot_numbers(fig.add_subplot(grid[row, 1:]), summary)
    else:
        plot_numbers(fig.add_subplot(grid[row, :]), summary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="PREFIX.json written by ksi stats")
    parser.add_argument("--out", help="PNG file (default: the name in the JSON, beside it)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    args = parser.parse_args()
    try:
        with open(args.summary) as stream:
            summary = json.load(stream)
    except (OSError, ValueError) as error:
        sys.exit(f"plot_report: cannot read {args.summary}: {error}")
    folder = os.path.dirname(os.path.abspath(args.summary))
    out = args.out or os.path.join(folder, summary["png"])
    if os.path.exists(out) and not args.force:
        sys.exit(f"plot_report: {out} exists; use --force to overwrite it")

    is_grid = summary["item_shape"]["kind"] == "grid"
    if is_grid:
        # Plot rows of 4.2 inches; the last row holds the numbers, a line per judged statistic.
        rows = field_rows(summary)
        heights = [4.2] * (rows - 1) + [max(3.0, 0.24 * (len(summary["judgements"]) + 3))]
        fig = plt.figure(figsize=(15, sum(heights)), constrained_layout=True)
        grid = fig.add_gridspec(rows, 3, height_ratios=heights)
    else:
        fig = plt.figure(figsize=(15, 9), constrained_layout=True)
        grid = fig.add_gridspec(2, 3)
    shape = " x ".join(str(n) for n in summary["item_shape"]["dims"])
    counts = ", ".join(f"{name} {summary['sets'][name]['count']}" for name in present_sets(summary))
    fig.suptitle(f"ksi stats: {shape} {'grid' if is_grid else 'vector'} items ({counts})")
    (plot_fields if is_grid else plot_vectors)(fig, grid, folder, summary)
    # Written beside the target and renamed, so a failed plot leaves no partial PNG.
    temporary = os.path.join(os.path.dirname(os.path.abspath(out)), f".{os.path.basename(out)}.tmp.png")
    fig.savefig(temporary, dpi=110)
    os.replace(temporary, out)
    print(f"plot_report: wrote {out}")


if __name__ == "__main__":
    main()
