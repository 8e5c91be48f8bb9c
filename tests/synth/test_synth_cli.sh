#!/usr/bin/env bash
# ksi synth cosmology | turbulence | mrw from the command line: data sets are bitwise the same on 1, 2
# and 3 ranks (items keyed by index, turbulence runs dealt whole), carry their attributes and sidecar,
# and bad options give one message, the exit code of their class and no output.
# Arguments: ksi binary, source tree, scratch folder.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
run() { "$MPIEXEC" -n "$1" --oversubscribe "${@:2}"; }

for n in 1 2 3; do
  run $n "$ksi" synth --config "$src/inputs/cosmology-test.cfg" --out cosmo_np$n.h5 -q || failures=$((failures + 1))
  run $n "$ksi" synth cosmology --config "$src/inputs/cosmology-test.cfg" --geometry projection --lpt 1 \
      --out proj_np$n.h5 -q || failures=$((failures + 1))
  run $n "$ksi" synth turbulence --config "$src/inputs/turbulence-test.cfg" --quantity pressure \
      --out turb_np$n.h5 -q || failures=$((failures + 1))
  run $n "$ksi" synth turbulence --dimension 2 --grid 32 --count 4 --snapshots-per-chain 3 \
      --spinup-turnovers 1 --out turb2d_np$n.h5 -q || failures=$((failures + 1))
  run $n "$ksi" synth mrw --count 5 --length 512 --integral-scale 64 --leverage 0.1 --out mrw_np$n.h5 -q ||
    failures=$((failures + 1))
done
$PY - <<'PY'
import h5py, numpy as np, os, sys
bad = 0
def check(cond, message):
    global bad
    if not cond:
        print("FAIL:", message); bad += 1
shapes = {"cosmo": (5, 16, 16, 16), "proj": (5, 16, 16), "turb": (5, 16, 16, 16),
          "turb2d": (4, 32, 32), "mrw": (5, 512)}
for name, shape in shapes.items():
    one = h5py.File(f"{name}_np1.h5", "r")
    check(one["fields"].shape == shape, f"{name}: shape {one['fields'].shape}")
    check(one.attrs["ksi_file_kind"] == "dataset", f"{name}: file kind")
    check(np.all(np.isfinite(one["fields"][...])), f"{name}: non-finite values")
    check(os.path.exists(f"{name}_np1.xmf") == (len(shape) > 2), f"{name}: sidecar")
    for n in (2, 3):
        other = h5py.File(f"{name}_np{n}.h5", "r")
        same = one["fields"][...].tobytes() == other["fields"][...].tobytes()
        print(f"{name} on {n} ranks byte-identical: {same}")
        check(same, f"{name} differs on {n} ranks")
c = h5py.File("cosmo_np1.h5", "r")
check(c["fields"].attrs["box_size"] == 64.0, "cosmology box size")
check(c.attrs["output"] == "log-density" and c.attrs["lpt_order"] == 2, "cosmology attributes")
# log(1 + delta): the mean of 1 + delta over each field is 1 (mass conservation), floored cells aside.
rho = np.exp(c["fields"][...].astype(np.float64))
check(np.allclose(rho.mean(axis=(1, 2, 3)), 1.0, atol=1e-3), f"mean density {rho.mean(axis=(1, 2, 3))}")
p = h5py.File("proj_np1.h5", "r")
check(p.attrs["geometry"] == "projection", "projection attribute")
t = h5py.File("turb_np1.h5", "r")
check(abs(t["fields"].attrs["box_size"] - 2 * np.pi) < 1e-12, "turbulence box")
check(t.attrs["quantity"] == "pressure" and t.attrs["snapshots_per_chain"] == 2, "turbulence attributes")
check(0.5 < t.attrs["mean_dissipation"] < 1.5, f"dissipation {t.attrs['mean_dissipation']}")
f = t["fields"][...]
check(not np.array_equal(f[0], f[1]) and not np.array_equal(f[0], f[2]), "snapshots repeat")
m = h5py.File("mrw_np1.h5", "r")
check(abs(m.attrs["kurtosis"] - 3 * np.exp(4 * m.attrs["log_volatility_variance"])) < 1e-9, "mrw kurtosis")
sys.exit(bad)
PY
[ $? -eq 0 ] || failures=$((failures + 1))

# Bad options: one message, the usage or I/O exit code, nothing written.
expect_exit 2 "even size" -- "$ksi" synth cosmology --grid 15 --count 2 --out bad.h5
expect_exit 2 "LPT order" -- "$ksi" synth cosmology --grid 16 --lpt 3 --count 2 --out bad.h5
expect_exit 2 "geometry" -- run 2 "$ksi" synth cosmology --grid 16 --geometry cube --count 2 --out bad.h5
expect_exit 2 "applies to --dimension 2" -- "$ksi" synth turbulence --drag 0.1 --count 2 --out bad.h5
expect_exit 2 "one large-eddy turnover" -- "$ksi" synth turbulence --snapshot-turnovers 0.5 --out bad.h5
expect_exit 2 "dealiasing limit" -- "$ksi" synth turbulence --grid 16 --forcing-max 6 --out bad.h5
expect_exit 2 "unknown option" -- "$ksi" synth mrw --grid 16 --out bad.h5
expect_exit 2 "too large" -- "$ksi" synth mrw --intermittency 0.9 --out bad.h5
expect_exit 4 "exists" -- "$ksi" synth mrw --count 2 --length 64 --out mrw_np1.h5
expect_absent bad.h5 bad.xmf
finish
