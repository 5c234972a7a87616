"""LEMBAS's toy network: data from its reference parameters, a fresh model trained on them.

The 7-node network (2 ligands, a feedback loop S1 -> R1, one TF) with the
paper's reference parameters makes T1 activities on a 10 x 10 grid of
ligand levels; 20 random points are held out, a model initialised as the
paper says is trained on the other 80, and the script prints the fit on
both and the learned weights next to the reference ones. Run as
``python examples/signaling_toy.py [epochs]`` (default 400).
"""

import sys

import numpy as np
import torch

from pycrn import signaling as sig
from pycrn.signaling import datasets

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 400
net = datasets.toy()
reference = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
levels = np.linspace(0, 1, 10)
grid = np.array(np.meshgrid(levels, levels)).T.reshape(-1, 2)
y = sig.generate(reference, grid)
test = np.random.default_rng(0).permutation(len(grid))[:20]
train = np.setdiff1d(np.arange(len(grid)), test)

model = sig.SignalingModel(net, seed=1)
model.input_scale.fill_(1.0)  # the toy's reference uses input scale 1
history = sig.fit(model, grid[train], y[train], epochs=epochs, batch_size=8, lr=2e-2, restart_epochs=100, seed=0)
with torch.no_grad():
    fit = model(torch.as_tensor(grid)).numpy()
for name, rows in (("train", train), ("test", test)):
    r = np.corrcoef(fit[rows, 0], y[rows, 0])[0, 1]
    print(f"{name}: Pearson r = {r:.4f}, MSE = {np.mean((fit[rows] - y[rows]) ** 2):.2e}")
print("edge            reference  fitted")
for (s, t, _, ref), (_, _, _, got) in zip(reference.parameter_table(), model.parameter_table()):
    if t:
        print(f"{s:>3s} -> {t:<3s}      {ref:8.3f}  {got:8.3f}")
print(f"final spectral radius at the training states: {history.spectral_radius[-1]:.3f}")
