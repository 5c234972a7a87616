"""The networks and data of the LEMBAS paper, shipped with pycrn (see ``data/README.md``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .network import SignalingNetwork

DATA = Path(__file__).parent / "data"


def toy() -> SignalingNetwork:
    """The paper's 7-node toy network with a feedback loop (reference parameters: :func:`toy_parameters`)."""
    return SignalingNetwork.from_tsv(DATA / "ToyNetRecurrent-Model.txt", DATA / "ToyNetRecurrent-Annotation.txt")


def toy_parameters() -> Path:
    """Path of the toy network's reference parameter table."""
    return DATA / "ToyNetRecurrent-Parameters.txt"


def kegg() -> SignalingNetwork:
    """The KEGG-restricted human signaling network: 409 nodes, 832 edges, 101 ligands, 55 TFs."""
    return SignalingNetwork.from_tsv(DATA / "KEGGnet-Model.tsv", DATA / "KEGGnet-Annotation.tsv")


def macrophage() -> tuple[SignalingNetwork, np.ndarray, np.ndarray, list[str]]:
    """The macrophage network and data: ``(network, ligands, tfs, condition_names)``.

    23 conditions x 12 ligand inputs (0/1) and the activities in [0, 1] of
    the 58 TFs of the network (the data file has 88 TF columns; the other 30
    are not in the network, as in the paper); the network's ligand and TF
    order follows the data's columns.
    """
    lig_names, conditions, ligands = _table(DATA / "macrophage-Ligands.tsv")
    tf_names, conditions_tf, tfs = _table(DATA / "macrophage-TFs.tsv")
    if conditions != conditions_tf:
        raise ValueError("macrophage ligand and TF tables list different conditions")
    model, notes = DATA / "macrophage-Model.tsv", DATA / "macrophage-Annotation.tsv"
    annotated = SignalingNetwork.from_tsv(model, notes)
    known = {annotated.nodes[i] for i in annotated.tfs}
    keep = [k for k, name in enumerate(tf_names) if name in known]
    net = SignalingNetwork.from_tsv(model, notes, ligands=lig_names, tfs=[tf_names[k] for k in keep])
    return net, ligands, tfs[:, keep], conditions


def _table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with path.open() as fh:
        header = fh.readline().rstrip("\n").split("\t")[1:]
        rows, values = [], []
        for line in fh:
            if line.strip():
                parts = line.rstrip("\n").split("\t")
                rows.append(parts[0])
                values.append([float(v) for v in parts[1:]])
    return header, rows, np.array(values)
