#!/usr/bin/env bash
# ksi fit --features scattering on 1D, 2D and 3D field data sets and ksi sample in the field shape
# (.xmf sidecar for 2D and 3D), the same model and samples on 1 and 2 ranks, rebuilding the map from a
# model (--features-from), and the usage errors of the scattering parameters.
ksi=$1 src=$2 work=$3
source "$src/tests/app/cli_lib.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
run() { "$MPIEXEC" -n "$1" --oversubscribe "${@:2}"; }

# Log-normal fields written by h5py, as a user's script would: fields_<dims>.h5
$PY - <<'PY' || exit 1
import h5py, numpy as np
rng = np.random.default_rng(7)
def write(name, count, dims):
    k2 = sum(np.meshgrid(*[np.fft.fftfreq(n) * n for n in dims], indexing="ij")[a] ** 2 for a in range(len(dims)))
    shape = np.where(k2 > 0, (1.0 + k2) ** -1.0, 0.0)
    fields = np.empty((count,) + tuple(dims))
    for i in range(count):
        g = np.real(np.fft.ifftn(np.fft.fftn(rng.standard_normal(dims)) * shape))
        fields[i] = np.exp(0.7 * g / g.std())
    with h5py.File(name, "w") as f:
        d = f.create_dataset("fields", data=fields)
        d.attrs["item_kind"] = "grid"
write("f1.h5", 12, (64,))
write("f2.h5", 10, (32, 32))
write("f3.h5", 6, (16, 16, 16))
PY
"$ksi" synth gaussian --dim 4 --count 50 --out vectors.h5 -q || exit 1

# --batch 2 (and --batch 1 when sampling): several batches per rank, so the comparisons of 1 and 2
# ranks below could fail.
fit() { "$ksi" fit --features scattering --times 4 --draws 1 --batch 2 -q "$@"; }
fit --data f1.h5 --out m1.h5 --feature-params J=3 || failures=$((failures + 1))
fit --data f2.h5 --out m2.h5 --feature-params J=3,L=4,phi4_diagonal=true || failures=$((failures + 1))
run 2 "$ksi" fit --features scattering --times 4 --draws 1 --batch 2 -q --data f2.h5 --out m2_np2.h5 \
    --feature-params J=3,L=4,phi4_diagonal=true || failures=$((failures + 1))
fit --data f3.h5 --out m3.h5 --feature-params J=2,L=3,isotropic=true || failures=$((failures + 1))
fit --data f2.h5 --out m2_again.h5 --features-from m2.h5 || failures=$((failures + 1))
# A map, parameters or units beside --features-from would be ignored: refused.
expect_exit 2 "drop --feature-params" -- fit --data f2.h5 --out x_from.h5 --features-from m2.h5 --feature-params J=2
expect_exit 2 "holds a scattering map: drop --features" -- "$ksi" fit --data f2.h5 --out x_from.h5 --features-from m2.h5 --features fourier
expect_exit 2 "drop --standardize" -- fit --data f2.h5 --out x_from.h5 --features-from m2.h5 --standardize none
expect_absent x_from.h5
"$ksi" sample --model m1.h5 --out s1.h5 --count 5 --steps 6 -q || failures=$((failures + 1))
"$ksi" sample --model m2.h5 --out s2.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))
run 2 "$ksi" sample --model m2.h5 --out s2_np2.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))
"$ksi" sample --model m3.h5 --out s3.h5 --count 3 --steps 6 -q || failures=$((failures + 1))
# Spectral whitening (standardize = spectrum) with the trig schedule, on 1 and 2 ranks.
fit --data f2.h5 --out mw.h5 --feature-params J=3,L=4 --standardize spectrum --schedule trig --shell-correction auto || failures=$((failures + 1))
run 2 "$ksi" fit --features scattering --times 4 --draws 1 --batch 2 -q --data f2.h5 --out mw_np2.h5 \
    --feature-params J=3,L=4 --standardize spectrum --schedule trig --shell-correction on || failures=$((failures + 1))
"$ksi" sample --model mw.h5 --out sw.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))
run 2 "$ksi" sample --model mw.h5 --out sw_np2.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))
# Gaussian-copula standardisation with the marginal family, on 1 and 2 ranks; --features-from.
fit --data f2.h5 --out mc.h5 --feature-params J=3,L=4,marginal=8 --standardize copula --schedule trig || failures=$((failures + 1))
run 2 "$ksi" fit --features scattering --times 4 --draws 1 --batch 2 -q --data f2.h5 --out mc_np2.h5 \
    --feature-params J=3,L=4,marginal=8 --standardize copula --schedule trig || failures=$((failures + 1))
fit --data f2.h5 --out mc_again.h5 --features-from mc.h5 --schedule trig || failures=$((failures + 1))
# bin_tail: the bins across the data's quantiles; ksi info shows each bin family's range.
fit --data f2.h5 --out mt.h5 --feature-params J=3,L=4,marginal=8,conditional=2,bin_tail=0.01 --standardize copula \
  --schedule trig || failures=$((failures + 1))
"$ksi" info mc.h5 > info_mc.txt && "$ksi" info mt.h5 > info_mt.txt || failures=$((failures + 1))
grep -q "bin_tail = 0.01" info_mt.txt && ! grep -q "bin_tail" info_mc.txt && echo "ok: ksi info shows bin_tail" ||
  { echo "FAIL: bin_tail in ksi info"; failures=$((failures + 1)); }
grep -Eq "^    marginal bins over z in \[-?[0-9.]+, [0-9.]+\]: [0-9]+ of 8 at the mass floor" info_mc.txt &&
  grep -Eq "^    conditional bins over z in .*: [0-9]+ of 6 at the mass floor" info_mt.txt &&
  echo "ok: ksi info shows the bins' ranges" || { echo "FAIL: bin ranges in ksi info"; failures=$((failures + 1)); }
"$ksi" sample --model mc.h5 --out sc.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))
run 2 "$ksi" sample --model mc.h5 --out sc_np2.h5 --count 4 --steps 6 --batch 1 -q || failures=$((failures + 1))

$PY - <<'PY' || failures=$((failures + 1))
import h5py, numpy as np, os, sys
from cli_checks import check, done
for name, shape in [("s1.h5", (5, 64)), ("s2.h5", (4, 32, 32)), ("s3.h5", (3, 16, 16, 16))]:
    f = h5py.File(name)["fields"]
    check(f.shape == shape and np.all(np.isfinite(f[:])), f"{name} holds {shape} finite fields ({f.shape})")
check(not os.path.exists("s1.xmf") and os.path.exists("s2.xmf") and os.path.exists("s3.xmf"),
      "xmf sidecars for 2D and 3D samples only")
m = h5py.File("m2.h5")
names = [n.decode() if isinstance(n, bytes) else n for n in m["features/names"][:]]
check(m["features"].attrs["kind"] in (b"scattering", "scattering"), "model feature kind is scattering")
check(names[0] == "mean" and "Phi2(low)" in names and "Re Phi3(j=2,l=0;j'=0,l'=1)" in names,
      f"feature names describe the coefficients ({len(names)} of them)")
check(m["eta"].shape[1] == len(names), "one name per feature")
arrays = m["features/arrays"]
check(arrays["first_layer_power"].shape == (3 * 4 + 1,) and np.all(arrays["first_layer_power"][:] > 0),
      "first-layer normalisation stored (12 wavelets + low-pass)")
check(np.array_equal(m["eta"][:], h5py.File("m2_np2.h5")["eta"][:]), "the same eta on 1 and 2 ranks")
check(np.array_equal(m["eta"][:], h5py.File("m2_again.h5")["eta"][:]), "--features-from rebuilds the same map")
check(h5py.File("s2.h5")["fields"][:].tobytes() == h5py.File("s2_np2.h5")["fields"][:].tobytes(),
      "byte-identical samples on 1 and 2 ranks")
names3 = h5py.File("m3.h5")["features/names"][:]
names3 = [n.decode() if isinstance(n, bytes) else n for n in names3]
check(all(n == "mean" or n.startswith("iso ") or n.startswith("shell power |k| = ") for n in names3),
      "isotropic 3D features are named iso (shell powers are isotropic by construction)")
check([n for n in names3 if n.startswith("shell power")] == [f"shell power |k| = {s}" for s in range(1, 15)],
      "the shell family is on by default: one feature per shell 1 .. 14 of a 16^3 grid")
w = h5py.File("mw.h5")
check(w["data"].attrs["standardization"] in (b"spectrum", "spectrum") and w["data/shell_power"].shape == (24,)
      and np.all(w["data/shell_power"][1:] > 0), "spectral standardisation stored (24 shells of a 32^2 grid: round(16 sqrt 2) = 23)")
check(np.array_equal(w["eta"][:], h5py.File("mw_np2.h5")["eta"][:]), "whitened fit: the same eta on 1 and 2 ranks")
check("shell_gain" in w and w["shell_gain"].shape == (4, 24) and np.all(np.isfinite(w["shell_gain"][:]))
      and np.array_equal(w["shell_gain"][:], h5py.File("mw_np2.h5")["shell_gain"][:]),
      "whitened fit: shell gains (4 times x 24 shells, --shell-correction auto and on), the same on 1 and 2 ranks")
check("shell_gain" not in m, "no shell gains by default")
gw = h5py.File("sw.h5")["fields"][:]
check(gw.shape == (4, 32, 32) and np.all(np.isfinite(gw)) and gw.tobytes() == h5py.File("sw_np2.h5")["fields"][:].tobytes(),
      "whitened model: finite samples in data units, byte-identical on 1 and 2 ranks")
c = h5py.File("mc.h5")
cnames = [n.decode() if isinstance(n, bytes) else n for n in c["features/names"][:]]
check(c["data"].attrs["standardization"] in (b"copula", "copula") and c["data/copula_values"].shape == c["data/copula_levels"].shape
      and np.all(np.diff(c["data/copula_values"][:]) > 0), "copula standardisation stored (monotone table)")
check(sum(n.startswith("marginal ") for n in cnames) == 8 and c["features/arrays/marginal_colour"].shape == (24,),
      "marginal family: 8 named bins, the copula's colour per shell")
check(np.array_equal(c["eta"][:], h5py.File("mc_np2.h5")["eta"][:]) and np.array_equal(c["eta"][:], h5py.File("mc_again.h5")["eta"][:]),
      "copula fit: the same eta on 1 and 2 ranks and with --features-from")
src = h5py.File("f2.h5")["fields"][:]
gc = h5py.File("sc.h5")["fields"][:]
check(gc.shape == (4, 32, 32) and gc.tobytes() == h5py.File("sc_np2.h5")["fields"][:].tobytes()
      and gc.min() >= src.min() and gc.max() <= src.max(),
      "copula model: samples byte-identical on 1 and 2 ranks, within the data's range")
done()
PY

expect_exit 2 "J = 4 scales need at least 52 grid points per axis.*n = 32" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=4
expect_exit 2 "has no parameter 'scales'" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params scales=3
expect_exit 2 "unknown family 'phi5'" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params families=phi2+phi5
expect_exit 2 "L must be 3, 7 or 13 in 3D" -- \
  "$ksi" fit --data f3.h5 --out e.h5 --features scattering --feature-params L=4
expect_exit 2 "need fields on a periodic grid" -- \
  "$ksi" fit --data vectors.h5 --out e.h5 --features scattering
expect_exit 2 "--shell-correction must be on, off or auto, not 'maybe'" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3 --shell-correction maybe
expect_exit 2 "--shell-correction on needs fields on a periodic grid" -- \
  "$ksi" fit --data vectors.h5 --out e.h5 --features polynomial --shell-correction on
expect_exit 2 "standardization 'copula' needs fields on a periodic grid" -- \
  "$ksi" fit --data vectors.h5 --out e.h5 --features polynomial --standardize copula
expect_exit 2 "marginal must be between 0 and 256 bins, not 300" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3,marginal=300
expect_exit 2 "isotropic reduction needs 2D or 3D" -- \
  "$ksi" fit --data f1.h5 --out e.h5 --features scattering --feature-params isotropic=true
# On several ranks the same error is agreed: printed once, exit code 2, no MPI abort.
expect_exit 2 "^ksi: error: scattering features: J = 4" -- \
  "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=4
out=$("$MPIEXEC" -n 2 --oversubscribe "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=4 2>&1)
[ "$(grep -c 'ksi: error' <<<"$out")" -eq 1 ] && ! grep -q "MPI_ABORT" <<<"$out" && echo "ok: one message on 2 ranks" ||
  { echo "FAIL: expected one error line and no abort on 2 ranks: $out"; failures=$((failures + 1)); }
expect_exit 2 "^ksi: error: --bin-ridge penalises the bins of a one-point law, and this feature map has none" -- \
  "$MPIEXEC" -n 2 --oversubscribe "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3 --bin-ridge 0.01
expect_exit 2 "bin_tail must be a quantile in .0, 0.5., not 0.5" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3,marginal=4,bin_tail=0.5
expect_exit 2 "bin_tail places the bins of the marginal, conditional or contrast family, and the map has none" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3,bin_tail=0.01
expect_exit 2 "--bin-ridge must be non-negative" -- \
  "$ksi" fit --data f2.h5 --out e.h5 --features scattering --feature-params J=3,marginal=4 --bin-ridge -1
expect_exit 2 "standardization 'spectrum' needs fields on a periodic grid" -- \
  "$ksi" fit --data vectors.h5 --out e.h5 --features polynomial --standardize spectrum
expect_absent e.h5 e.xmf
finish
