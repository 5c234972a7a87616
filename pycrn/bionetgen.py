"""BioNetGen networks: ``.net`` files, and ``.bngl`` rule files through BioNetGen's ``BNG2.pl``.

A ``.net`` file is the reaction network BioNetGen generates from a rule-based
model (J. R. Faeder, M. L. Blinov and W. S. Hlavacek, "Rule-based modeling
of biochemical systems with BioNetGen", Methods Mol. Biol. 500:113-167,
2009). It has the blocks ``parameters`` (index, name, value or expression),
``species`` (index, BioNetGen species string, initial amount: a number,
parameter or expression), ``reactions`` (index, reactant indices, product
indices, rate-constant expression; index 0 means no species) and
``groups`` (observables: index, name, species indices, each optionally
``coef*index``). ``#`` starts a comment; a trailing ``\\`` continues a line.

Conventions, made to match BioNetGen's own simulator (``run_network``):

- The rate constant BioNetGen writes already contains the reaction's
  symmetry factor (e.g. ``0.5*kp2`` for two identical reactants), and its
  SSA propensity is ``k x (x-1)`` without a further ``1/2``. pycrn's
  mass-action law divides by ``nu!`` for ``nu`` identical reactants (as
  Catalyst does), so the importer multiplies each rate by the product of
  the factorials of the reactant multiplicities; the propensities are then
  exactly BioNetGen's.
- Species are named ``S1 .. Sn`` by their index (BioNetGen's strings, like
  ``L(r!1).R(a,l!1)``, are not identifiers); :func:`read_net` returns the
  strings too.
- Parameters given by a number stay parameters (``params=`` overrides
  them); parameters given by an expression are inlined, in parentheses,
  into the rates and amounts that use them, so that overriding a base
  parameter changes the derived ones as in BioNetGen.
- Initial amounts must be whole numbers of molecules in a stochastic
  simulation. BioNetGen writes fractional amounts (equilibrated
  concentrations); they are rounded to the nearest integer, ties to even
  (Python's and Julia's ``round``). JumpProcesses' benchmarks ask for
  ``u0_eltype = Int64``; whether ModelingToolkit rounds or truncates there
  was not checked here; the two differ by at most one molecule per species.
- ``functions`` blocks (BioNetGen's global functions and local rate laws)
  are not supported: the importer refuses them, naming the line.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .network import Parameter, Reaction, ReactionNetwork, Species, check_name
from .ratelaws import RateLaw

_BLOCKS = ("parameters", "species", "reactions", "groups")
_UNSUPPORTED = {
    "functions": "functions (BioNetGen global functions and local rate laws) are not supported",
    "energy patterns": "energy patterns are not supported",
}
#: Blocks that describe the rules a network was generated from; they carry nothing the simulation needs.
_IGNORED = ("molecule types", "compartments", "observables", "reaction rules", "population maps", "model")


@dataclass(frozen=True)
class BioNetGenNetwork:
    """A ``.net`` file as read: the network, and BioNetGen's string for each species (``S1`` first)."""

    network: ReactionNetwork
    species_strings: tuple[str, ...]


def _lines(text: str, source: str):
    """(line number, content) pairs with comments removed and continuations joined."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.strip():
            yield start, line.strip()
    if pending.strip():
        raise ModelError(f"{source}: line {start}: the file ends inside a continued line")


def _expression(text: str, where: str) -> RateLaw:
    try:
        return RateLaw.parse(re.sub(r"\bln\(", "log(", text))
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None


def _evaluate(law: RateLaw, values: dict[str, float], where: str) -> float:
    missing = sorted(law.names - set(values))
    if missing:
        raise ModelError(f"{where}: {law} uses undefined parameter(s) {', '.join(missing)}")
    try:
        value = float(eval(law.to_source({n: repr(values[n]) for n in law.names}), {"math": math}))  # noqa: S307
    except (ArithmeticError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ModelError(f"{where}: {law} is not a finite number")
    return value


def _balanced_sum(terms: list[str]) -> str:
    """``a + b + ...`` as a balanced tree, so that long sums are not nested thousands deep."""
    while len(terms) > 1:
        terms = [f"({terms[i]} + {terms[i + 1]})" if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0] if terms else "0"


def _indices(field: str, count: int, where: str, what: str) -> list[int]:
    out = []
    for part in field.split(","):
        try:
            k = int(part)
        except ValueError:
            raise ModelError(f"{where}: {what} index {part!r} is not an integer") from None
        if k == 0:
            continue
        if not 1 <= k <= count:
            raise ModelError(f"{where}: {what} index {k} is not a species (the file has {count})")
        out.append(k)
    return out


def parse_net(text: str, name: str = "", source: str = "<net>") -> BioNetGenNetwork:
    """Read the text of a BioNetGen ``.net`` file (see the module docstring).

    Raises
    ------
    ModelError
        For a malformed line, an unknown species index or parameter, or an
        unsupported block, naming the line.
    """
    block = None
    seen: set[str] = set()
    constants: dict[str, float] = {}
    derived: dict[str, RateLaw] = {}
    order: list[str] = []
    species_rows: list[tuple[int, str, str]] = []
    reaction_rows: list[tuple[int, str, str, str]] = []
    group_rows: list[tuple[int, str, str]] = []
    for number, line in _lines(text, source):
        where = f"{source}: line {number}"
        lower = line.lower()
        if lower.startswith("begin "):
            title = " ".join(lower.split()[1:])
            if block is not None:
                raise ModelError(f"{where}: 'begin {title}' inside block {block!r}")
            if title in _UNSUPPORTED:
                raise ModelError(f"{where}: {_UNSUPPORTED[title]}")
            if title not in _BLOCKS and title not in _IGNORED:
                raise ModelError(f"{where}: unknown block {title!r} (pycrn reads {', '.join(_BLOCKS)})")
            block = title
            continue
        if lower.startswith("end "):
            title = " ".join(lower.split()[1:])
            if title != block:
                raise ModelError(f"{where}: 'end {title}' does not close block {block!r}")
            seen.add(block)
            block = None
            continue
        if block is None:
            raise ModelError(f"{where}: {line!r} is outside any block")
        if block in _IGNORED:
            continue
        fields = line.split()
        if block == "parameters":
            if len(fields) < 2:
                raise ModelError(f"{where}: a parameter needs an index, a name and a value")
            if fields[0].isdigit():
                fields = fields[1:]
            pname, expr = fields[0], "".join(fields[1:]) or None
            if expr is None:
                raise ModelError(f"{where}: parameter {pname!r} has no value")
            check_name(pname, "parameter")
            if pname in constants or pname in derived:
                raise ModelError(f"{where}: parameter {pname!r} is defined twice")
            law = _expression(expr, where)
            value = law.constant_value()
            if value is not None:
                if not math.isfinite(value):
                    raise ModelError(f"{where}: parameter {pname!r} = {expr} is not finite")
                constants[pname] = value
                order.append(pname)
            else:
                unknown = sorted(law.names - set(constants) - set(derived))
                if unknown:
                    raise ModelError(f"{where}: parameter {pname!r} uses undefined parameter(s) {', '.join(unknown)}")
                derived[pname] = law
        elif block == "species":
            if len(fields) != 3 or not fields[0].isdigit():
                raise ModelError(f"{where}: a species line is 'index species-string amount', got {line!r}")
            if int(fields[0]) != len(species_rows) + 1:
                raise ModelError(f"{where}: species index {fields[0]} out of order (expected {len(species_rows) + 1})")
            species_rows.append((number, fields[1], fields[2]))
        elif block == "reactions":
            if len(fields) != 4 or not fields[0].isdigit():
                raise ModelError(
                    f"{where}: a reaction line is 'index reactants products rate', got {line!r}"
                )
            reaction_rows.append((number, fields[1], fields[2], fields[3]))
        elif block == "groups":
            if len(fields) not in (2, 3) or not fields[0].isdigit():
                raise ModelError(f"{where}: a group line is 'index name species', got {line!r}")
            group_rows.append((number, fields[1], fields[2] if len(fields) == 3 else ""))
    if block is not None:
        raise ModelError(f"{source}: the file ends inside block {block!r}")
    for needed in ("species", "reactions"):
        if needed not in seen:
            raise ModelError(f"{source}: no '{needed}' block")

    inline = _inliner(derived)
    values = dict(constants)
    for pname, law in derived.items():
        values[pname] = _evaluate(RateLaw.parse(inline(law)), values, f"{source}: parameter {pname!r}")
    nspecies = len(species_rows)
    species = []
    for k, (number, _, amount) in enumerate(species_rows, 1):
        where = f"{source}: line {number}"
        law = _expression(amount, where)
        value = _evaluate(law, values, where)
        if value < 0:
            raise ModelError(f"{where}: initial amount {amount} = {value!r} of species {k} is negative")
        species.append(Species(f"S{k}", round(value)))
    laws: dict[str, RateLaw] = {}
    reactions = []
    for number, left, right, rate in reaction_rows:
        where = f"{source}: line {number}"
        reactants = _indices(left, nspecies, where, "reactant")
        products = _indices(right, nspecies, where, "product")
        key = rate
        law = laws.get(key)
        if law is None:
            law = _expression(rate, where)
            unknown = sorted(law.names - set(values))
            if unknown:
                raise ModelError(f"{where}: rate {rate} uses undefined parameter(s) {', '.join(unknown)}")
            law = RateLaw.parse(inline(law))
            laws[key] = law
        multiplicity: dict[int, int] = {}
        for k in reactants:
            multiplicity[k] = multiplicity.get(k, 0) + 1
        symmetry = math.prod(math.factorial(nu) for nu in multiplicity.values())
        if symmetry != 1:
            law = RateLaw.parse(f"{symmetry} * ({law.text})")
        reactions.append(Reaction(
            law,
            tuple((f"S{k}", nu) for k, nu in multiplicity.items()),
            _count(products),
            True,
            number,
        ))
    observables = []
    for number, gname, members in group_rows:
        where = f"{source}: line {number}"
        terms = []
        for part in filter(None, members.split(",")):
            coef, _, index = part.rpartition("*")
            k = _indices(index, nspecies, where, "group")
            if coef:
                try:
                    c = float(coef)
                except ValueError:
                    raise ModelError(f"{where}: group coefficient {coef!r} is not a number") from None
                terms += [f"{coef} * S{i}" for i in k] if c != 1 else [f"S{i}" for i in k]
            else:
                terms += [f"S{i}" for i in k]
        try:
            observables.append((check_name(gname, "group"), _balanced_sum(terms)))
        except ModelError as exc:
            raise ModelError(f"{where}: {exc}") from None
    parameters = [Parameter(p, constants[p]) for p in order]
    try:
        net = ReactionNetwork(species, parameters, reactions, name=name, observables=observables)
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from None
    return BioNetGenNetwork(net, tuple(s for _, s, _ in species_rows))


def _count(indices: list[int]) -> tuple[tuple[str, int], ...]:
    counts: dict[int, int] = {}
    for k in indices:
        counts[k] = counts.get(k, 0) + 1
    return tuple((f"S{k}", nu) for k, nu in counts.items())


def _inliner(derived: dict[str, RateLaw]):
    """A function rendering a rate law with derived parameters replaced by their (inlined) expressions."""
    expanded: dict[str, str] = {}

    def text_of(name: str) -> str:
        if name not in expanded:
            expanded[name] = f"({render(derived[name])})"
        return expanded[name]

    def render(law: RateLaw) -> str:
        if not law.names & derived.keys():
            return law.text
        table = {n: (text_of(n) if n in derived else n) for n in law.names}
        return law.to_source(table).replace("**", "^")

    return render


def read_net(path: str | os.PathLike) -> BioNetGenNetwork:
    """Read a BioNetGen ``.net`` file: the network and BioNetGen's species strings."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"network file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ModelError(f"network file {str(path)!r} is a folder") from None
    except UnicodeDecodeError:
        raise ModelError(f"network file {str(path)!r} is not UTF-8 text") from None
    return parse_net(text, name=path.stem, source=str(path))


def load_bionetgen(path: str | os.PathLike) -> ReactionNetwork:
    """Read a BioNetGen network: a ``.net`` file, or a ``.bngl`` model (generated with ``BNG2.pl``).

    Parameters
    ----------
    path
        The file. For ``.bngl``, BioNetGen's ``BNG2.pl`` (from the PyPI
        package ``bionetgen``; needs Perl) generates the network first.

    Returns
    -------
    ReactionNetwork
        Species ``S1 .. Sn``, the groups as observables; see the module
        docstring for the conventions (symmetry factors, rounding of amounts).
    """
    path = Path(path)
    if path.suffix.lower() == ".bngl":
        return read_net(generate_network(path)).network
    return read_net(path).network


def bionetgen_dir() -> Path:
    """The directory of BioNetGen's executables in the installed ``bionetgen`` package."""
    try:
        import bionetgen
    except ImportError:
        raise ModelError(
            "reading .bngl files needs BioNetGen: pip install bionetgen (or pip install 'pycrn[bionetgen]')"
        ) from None
    root = Path(bionetgen.__file__).parent / "bng-linux"
    if not (root / "BNG2.pl").exists():
        raise ModelError(f"the bionetgen package has no BNG2.pl under {root}")
    return root


def generate_network(path: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Run ``BNG2.pl`` on a ``.bngl`` file; return the path of the ``.net`` file it writes.

    The model must call ``generate_network()`` in its actions block (most do).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} {'is a folder' if path.is_dir() else 'does not exist'}")
    perl = shutil.which("perl")
    if perl is None:
        raise ModelError("reading .bngl files needs Perl (BioNetGen's BNG2.pl is a Perl program)")
    bng = bionetgen_dir() / "BNG2.pl"
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="pycrn-bng-"))
    done = subprocess.run([perl, str(bng), "--outdir", str(out), str(path)], capture_output=True, text=True)
    net = out / (path.stem + ".net")
    if done.returncode != 0 or not net.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise ModelError(f"BNG2.pl could not generate the network of {path.name}:\n{tail}")
    return net
