"""Leave-one-out cross-validation on the macrophage data (LEMBAS, Fig. 6).

23 conditions (combinations of 12 ligands) with activities of 58 TFs, on a
1,128-node network. For every condition a model is trained on the other 22
and predicts the held-out one; as the control, the same is done with the
training TF profiles shuffled among the training conditions. Reported:
Pearson r between held-out predictions and data, for both, and the wall
time. Run as ``python examples/signaling_macrophage_cv.py [epochs] [folds]``
(defaults 200 and all 23).
"""

import sys
import time

import numpy as np
import torch

from pycrn import signaling as sig
from pycrn.signaling import datasets

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
folds = int(sys.argv[2]) if len(sys.argv) > 2 else 23
net, ligands, tfs, conditions = datasets.macrophage()
print(net, f"{len(conditions)} conditions")
rng = np.random.default_rng(0)
predictions = {"data": np.zeros((folds, tfs.shape[1])), "scrambled": np.zeros((folds, tfs.shape[1]))}
start = time.perf_counter()
for k in range(folds):
    train = np.array([i for i in range(len(conditions)) if i != k])
    for label in predictions:
        y = tfs[train] if label == "data" else tfs[train][rng.permutation(len(train))]
        model = sig.SignalingModel(net, steps=100, seed=k)
        sig.fit(model, ligands[train], y, epochs=epochs, batch_size=5, lr=2e-3,
                restart_epochs=max(1, epochs // 2), seed=k)
        with torch.no_grad():
            predictions[label][k] = model(torch.as_tensor(ligands[k:k + 1])).numpy()[0]
    r = np.corrcoef(predictions["data"][k], tfs[k])[0, 1]
    print(f"fold {k + 1:2d} ({conditions[k]}): r = {r:.3f}  ({time.perf_counter() - start:.0f} s)", flush=True)
for label, pred in predictions.items():
    r = np.corrcoef(pred.ravel(), tfs[:folds].ravel())[0, 1]
    print(f"leave-one-out, trained on {label:9s}: Pearson r = {r:.3f}")
print(f"wall time {time.perf_counter() - start:.0f} s for {folds} folds x 2 models x {epochs} epochs")
