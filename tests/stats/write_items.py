#!/usr/bin/python3
"""Writes a small item file for the ksi stats script tests (h5py, as any user's script would).

    write_items.py OUT.h5 fields COUNT N SEED AMPLITUDE [nan|constant]   log-normal N x N fields
"""
import sys

import h5py
import numpy as np

out, kind, count, n, seed, amplitude = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
damage = sys.argv[7] if len(sys.argv) > 7 else ""
rng = np.random.default_rng(seed)
k = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :]) * n
shape = np.where(k > 0, (1.0 + k) ** -1.5, 0.0)
fields = np.empty((count, n, n))
for i in range(count):
    g = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((n, n))) * shape, s=(n, n))
    fields[i] = np.exp(amplitude * g / g.std())
if damage == "nan":
    fields[count - 1, 0, 0] = np.nan
elif damage == "constant":
    fields[0] = 1.0
with h5py.File(out, "w") as f:
    dataset = f.create_dataset("fields", data=fields)
    dataset.attrs["item_kind"] = "grid"
    dataset.attrs["box_size"] = 25.0
