"""``pycrn.load``: read a model file of any supported format, chosen by its suffix."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelError
from .network import ReactionNetwork

#: Suffix -> format, for :func:`load`.
FORMATS = {
    ".crn": "network language",
    ".txt": "network language",
    ".xml": "SBML",
    ".sbml": "SBML",
    ".net": "BioNetGen network",
    ".bngl": "BioNetGen model",
}


def load(path: str | os.PathLike) -> ReactionNetwork:
    """Read a model file: the network language (``.crn``), SBML (``.xml``, ``.sbml``) or BioNetGen (``.net``, ``.bngl``).

    Files with another suffix are read as the network language.

    Raises
    ------
    ModelError
        If the file does not exist or is not a valid model, naming the line where there is one.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelError(f"model file {str(path)!r} is a folder")
    suffix = path.suffix.lower()
    if suffix in (".xml", ".sbml"):
        from .sbml import load_sbml

        return load_sbml(path)
    if suffix in (".net", ".bngl"):
        from .bionetgen import load_bionetgen

        return load_bionetgen(path)
    from .dsl import load as load_network_language

    return load_network_language(path)
