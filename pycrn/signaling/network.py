"""Prior-knowledge signaling networks: nodes, roles and signed directed edges.

The file format is LEMBAS's (Nilsson et al., "Artificial neural networks
enable genome-scale simulations of intracellular signaling", 2022): a tab-separated edge list with columns ``source``, ``target``,
``stimulation`` and ``inhibition`` (1/0 each; both 0, or both 1, means the
mode of action is unknown), and an annotation table with columns ``code``,
``name``, ``TF`` and ``ligand``.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError

ACTIVATION, INHIBITION, UNKNOWN = 1, -1, 0


@dataclass(frozen=True, eq=False)
class SignalingNetwork:
    """A signed directed graph with ligand and TF nodes.

    Edges are stored sorted by (target, source): the weight vector of a
    model is the ``data`` of the CSR matrix ``A`` (targets x sources) in
    this order, see :meth:`csr`.

    Parameters
    ----------
    nodes
        Node identifiers (e.g. UniProt ids), in state-vector order.
    sources, targets
        Edge endpoints as node indices.
    mode
        Per edge: +1 activation, -1 inhibition, 0 unknown.
    ligands, tfs
        Indices of the input (ligand) and output (TF) nodes, in the order of
        the columns of input and output data.
    names
        Human-readable names per node (default: the identifiers).
    """

    nodes: tuple[str, ...]
    sources: np.ndarray
    targets: np.ndarray
    mode: np.ndarray
    ligands: tuple[int, ...]
    tfs: tuple[int, ...]
    names: tuple[str, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.nodes)
        index = {name: i for i, name in enumerate(self.nodes)}
        if len(index) != n:
            dup = sorted({x for x in self.nodes if list(self.nodes).count(x) > 1})
            raise ModelError(f"signaling network: duplicate node(s) {', '.join(dup[:5])}")
        src = np.asarray(self.sources, dtype=np.int64)
        tgt = np.asarray(self.targets, dtype=np.int64)
        mode = np.asarray(self.mode, dtype=np.int8)
        if not (src.shape == tgt.shape == mode.shape and src.ndim == 1):
            raise ModelError("signaling network: sources, targets and mode must be 1-D of equal length")
        if src.size and (src.min() < 0 or tgt.min() < 0 or src.max() >= n or tgt.max() >= n):
            raise ModelError("signaling network: an edge refers to a node index out of range")
        if not np.all(np.isin(mode, (ACTIVATION, INHIBITION, UNKNOWN))):
            raise ModelError("signaling network: mode must be +1, -1 or 0 per edge")
        order = np.lexsort((src, tgt))
        src, tgt, mode = src[order], tgt[order], mode[order]
        same = (np.diff(src) == 0) & (np.diff(tgt) == 0)
        if same.any():
            k = int(np.flatnonzero(same)[0])
            raise ModelError(f"signaling network: duplicate edge {self.nodes[src[k]]} -> {self.nodes[tgt[k]]}")
        for what, idx in (("ligand", self.ligands), ("TF", self.tfs)):
            if any(not 0 <= i < n for i in idx):
                raise ModelError(f"signaling network: a {what} index is out of range")
        if not self.tfs:
            raise ModelError("signaling network: no TF (output) nodes")
        if not self.ligands:
            raise ModelError("signaling network: no ligand (input) nodes")
        object.__setattr__(self, "sources", src)
        object.__setattr__(self, "targets", tgt)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "ligands", tuple(int(i) for i in self.ligands))
        object.__setattr__(self, "tfs", tuple(int(i) for i in self.tfs))
        object.__setattr__(self, "names", tuple(self.names) if self.names else tuple(self.nodes))
        object.__setattr__(self, "_index", index)

    # -- construction ------------------------------------------------------
    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str, int]],
        ligands: Sequence[str],
        tfs: Sequence[str],
        names: Mapping[str, str] | None = None,
        duplicates: str = "merge",
    ) -> SignalingNetwork:
        """Build from ``(source, target, mode)`` triples (mode +1, -1 or 0) and the ligand and TF names.

        Nodes are ordered by first appearance (ligands first).

        Parameters
        ----------
        duplicates
            What to do with an edge listed more than once (curated networks
            have them: LEMBAS's ligand-screen network lists three edges from
            O00548 twice). ``"merge"`` (default): one edge, with a warning
            naming the merged edges; its mode is the common mode if the
            listings agree and unknown (0) if they differ, e.g. activation
            and unknown. This is the mode the authors' published
            ligand-screen models carry for their three such edges (their
            ``modeOfAction``). Their loader run with the numpy and scipy
            installed here makes these edges activations instead (it sums
            the codes 1 and 0.1 and casts 1.1 to the integer 1), so their
            script's result depends on the package versions; pycrn follows
            the published models. Two agreeing signed listings keep their
            sign. ``"error"``: a :class:`ModelError`
            naming the first duplicate.
        """
        if duplicates not in ("merge", "error"):
            raise ValueError(f"duplicates must be 'merge' or 'error', got {duplicates!r}")
        edges = list(edges)
        order: dict[str, None] = dict.fromkeys(ligands)
        merged: dict[tuple[str, str], int] = {}
        repeated: list[str] = []
        for e, (s, t, m) in enumerate(edges):
            if m not in (ACTIVATION, INHIBITION, UNKNOWN):
                raise ModelError(f"edge {e + 1} ({s} -> {t}): mode must be +1, -1 or 0, got {m!r}")
            order.setdefault(s, None)
            order.setdefault(t, None)
            if (s, t) in merged:
                if duplicates == "error":
                    raise ModelError(f"signaling network: duplicate edge {s} -> {t} (edge {e + 1})")
                if merged[(s, t)] != m:
                    merged[(s, t)] = UNKNOWN
                repeated.append(f"{s} -> {t}")
            else:
                merged[(s, t)] = m
        if repeated:
            warnings.warn(
                f"signaling network: merged {len(repeated)} duplicate edge(s) into one each "
                f"(listings that disagree give an unknown mode): {', '.join(repeated[:10])}"
                + (" ..." if len(repeated) > 10 else ""),
                stacklevel=3,
            )
            edges = [(s, t, m) for (s, t), m in merged.items()]
        for name in tfs:
            order.setdefault(name, None)
        nodes = tuple(order)
        index = {n: i for i, n in enumerate(nodes)}
        label = tuple((names or {}).get(n, n) for n in nodes)
        return cls(
            nodes,
            np.array([index[s] for s, _, _ in edges], dtype=np.int64),
            np.array([index[t] for _, t, _ in edges], dtype=np.int64),
            np.array([m for _, _, m in edges], dtype=np.int8),
            tuple(index[x] for x in ligands),
            tuple(index[x] for x in tfs),
            label,
        )

    @classmethod
    def from_tsv(
        cls,
        model_path: str | Path,
        annotation_path: str | Path,
        ligands: Sequence[str] | None = None,
        tfs: Sequence[str] | None = None,
        duplicates: str = "merge",
    ) -> SignalingNetwork:
        """Read LEMBAS's network and annotation tables.

        ``ligands`` and ``tfs`` fix the order of the input and output columns
        (e.g. the columns of a data file); by default, the annotation's order.
        ``duplicates`` as for :meth:`from_edges` (default: merge, with a
        warning naming the edges). Errors name the file and line.
        """
        rows = _read_table(model_path, ("source", "target", "stimulation", "inhibition"))
        notes = _read_table(annotation_path, ("code", "TF", "ligand"))
        names: dict[str, str] = {}
        lig: list[str] = []
        tf: list[str] = []
        for line, r in notes:
            code = r["code"]
            names[code] = r.get("name") or code
            if _truthy(r["ligand"], annotation_path, line, "ligand"):
                lig.append(code)
            if _truthy(r["TF"], annotation_path, line, "TF"):
                tf.append(code)
        edges = []
        for line, r in rows:
            stim = _flag(r["stimulation"], model_path, line, "stimulation")
            inhib = _flag(r["inhibition"], model_path, line, "inhibition")
            mode = ACTIVATION if stim and not inhib else INHIBITION if inhib and not stim else UNKNOWN
            if not r["source"] or not r["target"]:
                raise ModelError(f"{model_path}, line {line}: empty source or target")
            edges.append((r["source"], r["target"], mode))
        lig_order = list(ligands) if ligands is not None else lig
        tf_order = list(tfs) if tfs is not None else tf
        for what, chosen, annotated in (("ligand", lig_order, lig), ("TF", tf_order, tf)):
            missing = [x for x in chosen if x not in annotated]
            if missing:
                raise ModelError(f"{annotation_path}: {', '.join(missing[:5])} not annotated as {what}")
        return cls.from_edges(edges, lig_order, tf_order, names, duplicates)

    # -- views -------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return int(self.sources.size)

    def index(self, node: str) -> int:
        """Index of a node given its identifier or its name."""
        if node in self._index:
            return self._index[node]
        if node in self.names:
            return self.names.index(node)
        raise KeyError(f"no node {node!r} in the signaling network")

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, indices)`` of A (targets x sources); the weights are its data in edge order."""
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.add.at(indptr, self.targets + 1, 1)
        return np.cumsum(indptr), self.sources.copy()

    def only_inhibited(self) -> np.ndarray:
        """Boolean per node: it has inputs and all of them are inhibitory."""
        has = np.zeros(self.n_nodes, dtype=bool)
        activating = np.zeros(self.n_nodes, dtype=bool)
        has[self.targets] = True
        activating[self.targets[self.mode != INHIBITION]] = True
        return has & ~activating

    def __repr__(self) -> str:
        return (
            f"SignalingNetwork({self.n_nodes} nodes, {self.n_edges} edges, "
            f"{len(self.ligands)} ligands, {len(self.tfs)} TFs)"
        )


def _read_table(path: str | Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise ModelError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
            return [(i + 2, {k: (v or "").strip() for k, v in row.items() if k is not None})
                    for i, row in enumerate(reader)]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _flag(value: str, path, line: int, column: str) -> bool:
    if value in ("1", "1.0"):
        return True
    if value in ("0", "0.0", ""):
        return False
    raise ModelError(f"{path}, line {line}: column {column!r} must be 0 or 1, got {value!r}")


def _truthy(value: str, path, line: int, column: str) -> bool:
    v = value.lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0", ""):
        return False
    raise ModelError(f"{path}, line {line}: column {column!r} must be True or False, got {value!r}")
