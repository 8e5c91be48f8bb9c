#!/usr/bin/python3
"""Performance model of ksi fit and ksi sample on a cluster (README "Performance model").

    /usr/bin/python3 jobs/perf_model.py MACHINE.json [--config inputs/perf-model.cfg]
                                        [--markdown FILE] [--json FILE] [--gram-probes M]

MACHINE.json is the output of tests/benchmarks/bench_machine (one rank: per-core rates of this machine);
inputs/perf-model.cfg states the reference job, the feature-map cost and the cluster (network, file
system). The model follows src/fit/fit.cpp step by step:

  read       every rank reads its block of items (io::read_items), N d bytes in all
  build      the feature map's normalisation from the data: one forward pass per local item
  assembly   for each of the rank's batches (whole items, dealt in contiguous blocks) and each time:
             noise draws, the feature map's accumulate (FFTs + Gram update) for items x draws rows, and
             the double-double accumulation of the packed upper triangle (P(P+1)/2 + P + 1 values);
             with checkpoints one small allreduce per batch (stop/checkpoint agreement)
  reduce     per time, Comm::reduce_sum of the packed double-double sums (16 bytes a value) to the rank
             that solves that time (k mod p): a pipelined tree, first inside a node, then across nodes
  solve      each owner solves its ceil(T/p) times (dense Cholesky + eigenvalue estimates, measured)
  gather     allreduce of eta (T x P) and diagnostics
  write      the model file (small)
  checkpoint every checkpoint_every seconds: the T reductions to rank 0 and one writer of T x packed x 16 B
Efficiency E(p) = t(1) / (p t(p)). Start-up (MPI, PETSc, FFTW plans) is reported but not counted.
"""
import argparse
import configparser
import json
import math
import sys


def load_machine(path):
    with open(path) as f:
        machine = json.load(f)
    if machine.get("benchmark") != "machine":
        sys.exit(f"{path} is not bench_machine output")
    return machine


def syrk_rate(machine, P):
    """GFLOP/s of the measured dsyrk nearest to P, with the largest inner dimension measured."""
    runs = machine["syrk"]
    nearest = min({r["P"] for r in runs}, key=lambda q: abs(math.log(q / P)))
    return max((r for r in runs if r["P"] == nearest), key=lambda r: r["B"])["gflops"]


def solve_seconds(machine, P):
    """Measured solve time scaled as P^3 from the nearest measured size."""
    nearest = min(machine["solve"], key=lambda r: abs(math.log(r["P"] / P)))
    return nearest["seconds"] * (P / nearest["P"]) ** 3


class Model:
    def __init__(self, machine, cfg):
        self.m = machine
        ref, feat, net, fs = cfg["reference"], cfg["features"], cfg["network"], cfg["filesystem"]
        self.n = ref.getint("grid")
        self.d = self.n ** 3
        self.P = ref.getint("features")
        self.T = ref.getint("times")
        self.N = ref.getint("items")
        self.M = ref.getint("draws")
        self.g = ref.getint("items_per_batch")
        self.value_bytes = ref.getint("bytes_per_value")
        self.every = ref.getfloat("checkpoint_every")
        self.S = ref.getint("samples")
        self.K = ref.getint("steps")
        self.sample_batch = ref.getint("sample_batch")
        self.packed = self.P * (self.P + 1) // 2 + self.P + 1
        self.message = 16.0 * self.packed  # bytes of one time's reduction

        fft = 0.5 * (machine["fft"]["r2c_seconds"] + machine["fft"]["c2r_seconds"])
        if machine["fft"]["shape"] != f"{self.n}x{self.n}x{self.n}":
            sys.exit(f"bench_machine measured FFTs of {machine['fft']['shape']}, the model needs {self.n}^3")
        self.t_fft = fft
        self.rate_syrk = syrk_rate(machine, self.P) * 1e9
        self.t_noise = machine["random"]["normal_ns_per_value"] * 1e-9 * self.d
        self.t_fft_part = feat.getfloat("ffts_per_row") * fft
        self.t_gram_part = self.P * (self.P + 1) * feat.getfloat("gram_inner_dimension") / self.rate_syrk
        self.t_row = self.t_fft_part + self.t_gram_part + self.t_noise
        self.t_drift = feat.getfloat("ffts_per_drift") * fft
        # A forward pass alone (normalisation constants): about half a drift evaluation (bench_scattering:
        # vjp / evaluate = 1.7-1.9).
        self.t_forward = 0.5 * self.t_drift
        self.gamma_acc = machine["double_double"]["accumulate_ns_per_value"] * 1e-9
        self.gamma_merge = machine["double_double"]["merge_ns_per_value"] * 1e-9
        self.t_solve = solve_seconds(machine, self.P)

        self.per_node = net.getint("ranks_per_node")
        self.alpha = net.getfloat("latency_us") * 1e-6
        self.b_nic = net.getfloat("node_bandwidth_gb_s") * 1e9
        self.b_shm = net.getfloat("shared_memory_gb_s") * 1e9
        self.segment = net.getfloat("segment_kb") * 1024
        self.fs_aggregate = fs.getfloat("aggregate_gb_s") * 1e9
        self.fs_node = fs.getfloat("per_node_gb_s") * 1e9
        self.fs_single = fs.getfloat("single_writer_gb_s") * 1e9
        self.fs_meta = fs.getfloat("metadata_seconds")
        st = cfg["startup"]
        self.start_base, self.start_doubling = st.getfloat("base_seconds"), st.getfloat("per_doubling_seconds")

    # --- communication -------------------------------------------------------------------------
    def nodes(self, p):
        return math.ceil(p / self.per_node)

    def tree_reduce(self, nbytes, p):
        """Pipelined tree reduce of nbytes of double-doubles: inside each node over shared memory,
        then over the nodes. Each inner rank receives two streams and merges them (two merges per
        value on the critical path); the pipeline fill costs one segment per tree level."""
        if p <= 1:
            return 0.0
        values = nbytes / 16.0
        seg_values = self.segment / 16.0
        c = min(p, self.per_node)
        time = 0.0
        if c > 1:
            levels = math.ceil(math.log2(c))
            time += (2 * nbytes / self.b_shm + 2 * values * self.gamma_merge
                     + levels * (2 * self.segment / self.b_shm + 2 * seg_values * self.gamma_merge))
        nodes = self.nodes(p)
        if nodes > 1:
            levels = math.ceil(math.log2(nodes))
            time += (2 * nbytes / self.b_nic + 2 * values * self.gamma_merge
                     + levels * (self.alpha + 2 * self.segment / self.b_nic + 2 * seg_values * self.gamma_merge))
        return time

    def reduce_scatter(self, nbytes_total, p):
        """The alternative: one reduce-scatter of all T times (ring / recursive halving): every rank
        moves (p-1)/p of the whole volume, and a node's ranks share its link."""
        if p <= 1:
            return 0.0
        per_rank = (p - 1) / p * nbytes_total
        link = self.b_nic / min(p, self.per_node) if self.nodes(p) > 1 else self.b_shm
        return math.ceil(math.log2(p)) * self.alpha + per_rank / link + per_rank / 16.0 * self.gamma_merge

    def small_allreduce(self, p):
        return 0.0 if p <= 1 else 2 * math.ceil(math.log2(p)) * self.alpha

    def allreduce(self, nbytes, p):
        if p <= 1:
            return 0.0
        return 2 * math.ceil(math.log2(p)) * self.alpha + 2 * nbytes / self.b_nic

    def read(self, nbytes, p):
        bandwidth = min(self.fs_aggregate, self.nodes(p) * self.fs_node)
        return self.fs_meta + nbytes / bandwidth

    # --- stages --------------------------------------------------------------------------------
    def fit(self, p):
        batches = math.ceil(self.N / self.g)
        mine = math.ceil(batches / p)  # block distribution: the largest block
        busy = min(p, batches)
        rows_per_batch = self.g * self.M
        t = {}
        t["read"] = self.read(self.N * self.d * self.value_bytes, busy)
        t["build"] = math.ceil(self.N / p) * self.t_forward + self.small_allreduce(p)
        per_batch = self.T * (rows_per_batch * self.t_row + self.packed * self.gamma_acc)
        t["assembly"] = mine * (per_batch + (self.small_allreduce(p) if self.every > 0 else 0.0))
        t["reduce"] = self.T * self.tree_reduce(self.message, p)
        t["solve"] = math.ceil(self.T / p) * self.t_solve
        t["gather"] = self.allreduce(8.0 * self.T * (self.P + 6), p)
        t["write"] = self.fs_meta + 8.0 * self.T * self.P / self.fs_single
        if self.every > 0:
            count = math.floor(t["assembly"] / self.every)
            one = (self.T * self.tree_reduce(self.message, p) + self.allreduce(8.0 * self.T * self.P, p)
                   + self.fs_meta + self.T * self.message / self.fs_single)
            t["checkpoint"] = count * one
        else:
            t["checkpoint"] = 0.0
        return t

    def fit_split_times(self, p):
        """ksi fit --time-groups G: ranks in G groups, each group assembling ceil(T/G) of the times
        for all items (a second dimension of parallelism). Every item is then read by G groups; each
        time's sums are still reduced over all p ranks (the other groups add zeros, which keeps
        checkpoints independent of G), and every rank keeps the sums of all times of a chunk."""
        batches = math.ceil(self.N / self.g)
        groups = min(self.T, max(1, math.ceil(p / batches)))
        ranks = p // groups
        times = math.ceil(self.T / groups)
        mine = math.ceil(batches / ranks)
        t = self.fit(p)
        t["read"] = self.read(groups * self.N * self.d * self.value_bytes, p)
        per_batch = times * (self.g * self.M * self.t_row + self.packed * self.gamma_acc)
        t["assembly"] = mine * (per_batch + (self.small_allreduce(ranks) if self.every > 0 else 0.0))
        t["reduce"] = self.T * self.tree_reduce(self.message, p)
        return t

    def memory_per_rank(self):
        """Bytes of the partial sums every rank keeps (all T times in one chunk), plus one batch's K and
        the owner's unpacked K."""
        return self.T * self.message + 2 * 8.0 * self.P * self.P

    def sample(self, p):
        batches = math.ceil(self.S / self.sample_batch)
        mine = math.ceil(batches / p)
        busy = min(p, batches)
        t = {}
        t["read"] = self.fs_meta + 8.0 * self.T * self.P / min(self.fs_aggregate, self.fs_node)
        t["integrate"] = mine * self.sample_batch * self.K * 2 * self.t_drift
        t["write"] = self.read(self.S * self.d * 8.0, busy)  # collective write of float64 samples
        return t

    def startup(self, p):
        return self.start_base + self.start_doubling * math.log2(max(1, p))


def efficiency_table(model, stage, ranks):
    base = sum(getattr(model, stage)(1).values())
    rows = []
    for p in ranks:
        parts = getattr(model, stage)(p)
        total = sum(parts.values())
        rows.append(dict(ranks=p, total=total, efficiency=base / (p * total), parts=parts))
    return rows


def first_below(model, stage, threshold):
    """Smallest power of two at which the modelled efficiency falls below threshold."""
    base = sum(getattr(model, stage)(1).values())
    p = 1
    while p <= 2 ** 24:
        if base / (p * sum(getattr(model, stage)(p).values())) < threshold:
            return p
        p *= 2
    return None


def row_cost_for_efficiency(model, p, target):
    """The per-row cost (seconds per item, draw and time) below which E_fit(p) < target (bisection)."""
    saved = model.t_row
    lo, hi = 1e-7, 1e3
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        model.t_row = mid
        base = sum(model.fit(1).values())
        eff = base / (p * sum(model.fit(p).values()))
        lo, hi = (mid, hi) if eff < target else (lo, mid)
    model.t_row = saved
    return hi


def human(seconds):
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("machine")
    parser.add_argument("--config", default=None)
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    parser.add_argument("--gram-probes", type=int, default=0,
                        help="also model ksi fit --gram randomized with this many probes per pair")
    args = parser.parse_args()
    import os
    config_path = args.config or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inputs",
                                              "perf-model.cfg")
    cfg = configparser.ConfigParser(inline_comment_prefixes=None)
    if not cfg.read(config_path):
        sys.exit(f"cannot read {config_path}")
    machine = load_machine(args.machine)
    model = Model(machine, cfg)
    ranks = [int(r) for r in cfg["reference"]["ranks"].split(",")]

    lines = []
    out = lines.append
    out(f"Machine ({machine['host']}, git {machine['git_hash']}, 1 rank): {model.n}^3 r2c FFT "
        f"{machine['fft']['r2c_seconds'] * 1e3:.2f} ms ({machine['fft']['r2c_gflops']:.1f} GFLOP/s), "
        f"dsyrk {model.rate_syrk / 1e9:.1f} GFLOP/s near P = {model.P}, double-double accumulate "
        f"{model.gamma_acc * 1e9:.2f} ns and merge {model.gamma_merge * 1e9:.2f} ns per value, "
        f"solve P = {model.P} {model.t_solve * 1e3:.0f} ms, normal draws "
        f"{machine['random']['normal_ns_per_value']:.2f} ns per value, HDF5 write "
        f"{machine['hdf5']['write_mb_per_s']:.0f} MB/s and read {machine['hdf5']['read_mb_per_s']:.0f} MB/s.")
    out("")
    out(f"Reference job: N = {model.N} fields of {model.n}^3, M = {model.M}, T = {model.T}, P = {model.P}; "
        f"per (item, draw, time) {human(model.t_row)} = FFTs {human(model.t_fft_part)} + Gram "
        f"{human(model.t_gram_part)} + noise {human(model.t_noise)}; one time's reduction "
        f"{model.message / 1e6:.1f} MB ({model.packed} double-doubles), all times "
        f"{model.T * model.message / 1e9:.2f} GB.")
    out("")
    for stage, unit in (("fit", "fit"), ("sample", "sample")):
        table = efficiency_table(model, stage, ranks)
        parts = list(table[0]["parts"].keys())
        out(f"| {unit}: ranks | " + " | ".join(parts) + " | total | efficiency |")
        out("|---:|" + "---:|" * (len(parts) + 2))
        for row in table:
            out(f"| {row['ranks']} | " + " | ".join(human(row["parts"][k]) for k in parts)
                + f" | {human(row['total'])} | {100 * row['efficiency']:.1f}% |")
        out("")
    batches = math.ceil(model.N / model.g)
    below = first_below(model, "fit", 0.8)
    base = sum(model.fit(1).values())
    out(f"Fit: the parallel unit is a batch of {model.g} whole item(s) over all T times: {batches} units, "
        f"so ranks beyond {batches} idle and E <= {batches}/p; the modelled efficiency first falls below "
        f"80% at p = {below} ({100 * base / (below * sum(model.fit(below).values())):.1f}%).")
    for p in ranks:
        if p > batches:
            split = model.fit_split_times(p)
            out(f"Splitting the times over rank groups as well (--time-groups) gives "
                f"E({p}) = {100 * base / (p * sum(split.values())):.1f}% "
                f"({min(model.T, math.ceil(p / batches))} groups of {p // min(model.T, math.ceil(p / batches))} "
                f"ranks; total {human(sum(split.values()))}).")
    mem = model.memory_per_rank()
    out(f"Memory: every rank keeps the partial sums of all {model.T} times, {mem / 1e9:.2f} GB "
        f"({mem * model.per_node / 1e9:.0f} GB per node of {model.per_node} ranks); with less "
        f"--memory-mb the times are processed in chunks (more reductions, the same assembly work).")
    threshold = row_cost_for_efficiency(model, 1024, 0.8)
    if threshold <= 1e-6:
        out(f"E_fit(1024) stays >= 80% for any cost of one (item, draw, time) (assumed: {human(model.t_row)}): "
            f"the other phases that shrink as 1/p (reading, the normalisation pass) outweigh the fixed ones.")
    else:
        out(f"E_fit(1024) stays >= 80% as long as one (item, draw, time) costs at least {human(threshold)} "
            f"(assumed: {human(model.t_row)}; one {model.n}^3 FFT alone is {human(model.t_fft)}).")
    rs = model.reduce_scatter(model.T * model.message, 1024)
    tr = model.T * model.tree_reduce(model.message, 1024)
    out(f"At 1024 ranks the T per-time tree reductions take {human(tr)}; one reduce-scatter of all "
        f"T x packed values would take {human(rs)} (every rank moves the whole volume through a link "
        f"shared by {model.per_node} ranks), so per-time reductions to owners are the right pattern here.")
    sample_batches = math.ceil(model.S / model.sample_batch)
    out(f"Sample: {sample_batches} batches of {model.sample_batch}: ranks beyond {sample_batches} idle; "
        f"efficiency first below 80% at p = {first_below(model, 'sample', 0.8)}.")
    if args.gram_probes > 0:
        # ksi fit --gram randomized: m + 2 forward passes per pair (phi(x), J v, m probes: forward
        # differences), one rank-m update of the P x P sums, m + 1 fields of probes and shifts.
        m = args.gram_probes
        exact_row, exact_fit = model.t_row, sum(model.fit(1024).values())
        randomized_row = ((m + 2) * model.t_forward + model.P * (model.P + 1) * m / model.rate_syrk
                          + (m + 1) * model.t_noise)
        model.t_row = randomized_row
        randomized_fit = sum(model.fit(1024).values())
        model.t_row = exact_row
        out(f"With --gram randomized --gram-probes {m}: per (item, draw, time) {human(randomized_row)} "
            f"({exact_row / randomized_row:.1f}x less; bench_scattering probes=m measures it: on the "
            f"development machine at P = 1332 7.6x with 16 probes, 12x with 8), the fit on 1024 ranks {human(randomized_fit)} instead of "
            f"{human(exact_fit)}; at equal quality it needs more items or draws (docs/fidelity.md).")
    out(f"Start-up (not in the efficiencies): {', '.join(f'{p}: {human(model.startup(p))}' for p in ranks)}.")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "fit": efficiency_table(model, "fit", ranks),
                       "sample": efficiency_table(model, "sample", ranks),
                       "row_seconds": model.t_row, "row_seconds_for_80pct_at_1024": threshold}, f, indent=1)


if __name__ == "__main__":
    main()
