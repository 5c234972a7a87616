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


def ligand_screen() -> tuple[SignalingNetwork, np.ndarray, np.ndarray, list[str]]:
    """The authors' ligand-screen network and data: ``(network, ligands, tfs, condition_names)``.

    103 conditions (60 ligands, alone or with LPS) x 60 ligand inputs (0/1)
    and the activities in [0, 1] of 74 TFs, on a 1,262-node, 6,594-edge
    network. The network file lists three edges from O00548 twice; they are
    merged (see :meth:`SignalingNetwork.from_edges`), with the warning naming
    them. Cross-validation folds: :func:`ligand_screen_folds`.
    """
    lig_names, conditions, ligands = _table(DATA / "ligandScreen-Ligands.tsv")
    tf_names, conditions_tf, tfs = _table(DATA / "ligandScreen-TFs.tsv")
    if conditions != conditions_tf:
        raise ValueError("ligand-screen ligand and TF tables list different conditions")
    net = SignalingNetwork.from_tsv(DATA / "ligandScreen-Model.tsv", DATA / "ligandScreen-Annotation.tsv",
                                    ligands=lig_names, tfs=tf_names)
    return net, ligands, tfs, conditions


def ligand_screen_folds() -> list[list[str]]:
    """The authors' cross-validation folds of the ligand screen: 28 folds of 3 held-out conditions."""
    folds: dict[int, list[str]] = {}
    with (DATA / "ligandScreen-CVfolds.tsv").open() as fh:
        fh.readline()
        for line in fh:
            if line.strip():
                index, condition = line.rstrip("\n").split("\t")
                folds.setdefault(int(index), []).append(condition)
    return [folds[k] for k in sorted(folds)]


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
