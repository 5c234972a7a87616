"""The network language: a Catalyst-like text format for reaction networks.

One statement per line; ``#`` starts a comment::

    @parameters beta=1e-4 nu=0.01        # defaults (a name alone: set at simulation)
    @species S=999 I=1 R=0 Src=5 [boundary]
    beta, S + I --> 2I                   # mass action: beta * S * I
    nu, I --> R
    (k1, k2), A <--> B                   # a reversible pair
    hillr(P, v, K, 2), 0 => M            # '=>': the rate is the whole propensity
    k * (1 + sin(2*pi*t/24)), 0 --> A @bound 2*k # a time-varying rate and its upper bound

``0`` or ``∅`` stands for nothing; ``2A`` (or ``2*A``) is stoichiometry 2,
whose mass-action term is ``A(A-1)/2``. ``[boundary]`` after a species makes
it a boundary species (used by rates, never changed by reactions).
``@bound EXPR`` after a reaction (``@bound (F, B)`` after a reversible one)
declares an upper bound of its rate over the run while the counts are fixed
(see :class:`~pycrn.Reaction`; ``method="extrande"`` thins against it and
checks it).

Events and derived outputs::

    @event t >= 25: X = 50, k1 = 2 * k1        # a time event, fired exactly at t = 25
    @event P2 > 30 and X < 5: P2 = 0           # a state event, when the condition becomes true
    @event(initial=true) X > 3: X = 0          # not fired if already true at the start
    @observable total = P + 2 * P2             # recorded in the results as a float variable

Continuous species (simulated as amounts by ``method="hybrid"``, see
:mod:`pycrn.engines.hybrid`) and extra terms of their rate equations::

    @species M=0 [continuous] P=0            # M: an amount; P: a count
    @equation D(V) ~ I * R / 1e5 - S * V / 1e5  # dV/dt; V becomes continuous
    @noise V ~ 0.1 * V                       # dV = ... dt + 0.1 V dW (method="hybrid_sde")
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

from .errors import ModelError
from .network import Event, Parameter, Reaction, ReactionNetwork, Species, continuous_amount, exact_count
from .ratelaws import RateLaw

# Longest arrows first, so that '<-->' is not read as '-->'.
_ARROWS = [("<-->", True, True), ("<=>", True, False), ("-->", False, True), ("=>", False, False)]
_DECL = re.compile(
    r"\s*([A-Za-z_]\w*)(?:\(t\))?\s*(?:=\s*([^\s\[]+))?\s*(\[\s*[A-Za-z_]\w*\s*\])?"
)
#: The directives, in the order the language reference gives them.
DIRECTIVES = ("@species", "@parameters", "@observable", "@event", "@equation", "@noise")
_KEYWORD = re.compile(r"@\w*")
_TERM = re.compile(r"^\s*(-?\d+)?\s*\*?\s*([A-Za-z_]\w*)\s*$")


def parse(text: str, name: str = "") -> ReactionNetwork:
    """Parse a network written in the network language.

    Parameters
    ----------
    text
        The model text (see the module docstring for the language).
    name
        Optional label for the network.

    Returns
    -------
    ReactionNetwork

    Raises
    ------
    ModelError
        Naming the line and the problem, for syntax errors, unknown names,
        bad stoichiometry or bad values.
    """
    if not isinstance(text, str):
        raise ModelError(f"parse() expects the model text as a string, got {type(text).__name__}")
    species: dict[str, Species] = {}
    parameters: dict[str, Parameter] = {}
    reactions: list[Reaction] = []
    events: list[Event] = []
    observables: list[tuple[str, RateLaw]] = []
    equations: list[tuple[str, RateLaw]] = []
    noise: list[tuple[str, RateLaw]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword = _KEYWORD.match(line).group() if line.startswith("@") else ""
        try:
            if keyword and keyword not in DIRECTIVES:
                raise ModelError(f"unknown directive {keyword!r} (known: {', '.join(DIRECTIVES)})")
            if keyword == "@event":
                events.append(_event(line, number))
            elif keyword == "@equation":
                target, expr = _equation(line)
                if any(target == known for known, _ in equations):
                    raise ModelError(f"species {target!r} has two equations; write one with both terms")
                equations.append((target, expr))
            elif keyword == "@noise":
                target, expr = _noise(line)
                if any(target == known for known, _ in noise):
                    raise ModelError(f"species {target!r} has two noise terms; write one amplitude")
                noise.append((target, expr))
            elif keyword == "@observable":
                observable = _observable(line)
                if any(observable[0] == known for known, _ in observables):
                    raise ModelError(f"observable {observable[0]!r} is defined twice")
                observables.append(observable)
            elif keyword:
                _directive(keyword, line[len(keyword):], species, parameters)
            else:
                reactions.extend(_reaction(line, number))
        except ModelError as exc:
            raise ModelError(f"line {number}: {exc} in {raw.strip()!r}") from None
    _warn_undeclared(text, species, reactions)
    try:
        return ReactionNetwork(
            species.values(), parameters.values(), reactions, name=name, events=events, observables=observables,
            equations=equations, noise=noise,
        )
    except ModelError as exc:
        msg = str(exc)
        if not msg.startswith("line "):
            raise
        # The network names the line; add its text.
        number = int(msg.split()[1].rstrip(":"))
        raise ModelError(f"{msg} in {text.splitlines()[number - 1].strip()!r}") from None


def _warn_undeclared(text: str, species: dict[str, Species], reactions: list[Reaction]) -> None:
    """With an explicit @species declaration, a reaction's species missing from it is likely a typo: warn.

    Without any @species line species are inferred from the reactions (as in Catalyst), silently.
    """
    if not species:
        return
    seen: set[str] = set()
    for r in reactions:
        for name, _ in r.reactants + r.products:
            if name not in species and name not in seen:
                seen.add(name)
                where = f"line {r.line}" if r.line is not None else "a reaction"
                declared = ", ".join(species)
                warnings.warn(
                    f"{where}: species {name!r} is not declared in @species ({declared}); it is added with "
                    f"initial count 0 (declare it to silence this) in {text.splitlines()[r.line - 1].strip()!r}"
                    if r.line is not None else f"{where}: species {name!r} is not declared in @species ({declared})",
                    UserWarning,
                    stacklevel=3,
                )


def load(path: str | Path) -> ReactionNetwork:
    """Read a network-language file (see :func:`parse`); the file stem names the network."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ModelError(f"model file {str(path)!r} is a folder") from None
    except UnicodeDecodeError:
        raise ModelError(f"model file {str(path)!r} is not UTF-8 text") from None
    try:
        return parse(text, name=path.stem)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


def _directive(keyword: str, rest: str, species: dict[str, Species], parameters: dict[str, Parameter]) -> None:
    pos = 0
    rest = rest.strip()
    if not rest:
        raise ModelError(f"{keyword} declares nothing")
    while pos < len(rest):
        m = _DECL.match(rest, pos)
        if not m or m.end() == pos:
            raise ModelError(f"cannot read declaration at {rest[pos:]!r}")
        pos = m.end()
        while pos < len(rest) and rest[pos] in " ,\t":
            pos += 1
        ident, value, flag = m.group(1), m.group(2), m.group(3)
        if keyword == "@species":
            kind = None if flag is None else flag.strip("[] \t")
            if kind not in (None, "boundary", "continuous"):
                raise ModelError(f"unknown species flag {flag!r} (known: [boundary], [continuous])")
            count: int | float = 0
            if value is not None:
                try:
                    # Digits are read as an exact integer, never through float.
                    number = int(value) if value.strip().isdigit() else float(value)
                except ValueError:
                    raise ModelError(f"initial count of {ident!r} must be a number, got {value!r}") from None
                if kind == "continuous":
                    count = continuous_amount(number, f"initial value of continuous species {ident!r}")
                else:
                    whole = isinstance(number, int) or (math.isfinite(number) and number.is_integer())
                    if not whole or number < 0:
                        raise ModelError(f"initial count of {ident!r} must be a non-negative integer, got {value!r} "
                                         "(a fractional amount needs the flag [continuous])")
                    count = exact_count(number, f"initial count of {ident!r}")
            if ident in species:
                raise ModelError(f"species {ident!r} is declared twice")
            species[ident] = Species(ident, count, kind == "boundary", kind == "continuous")
        else:
            if flag is not None:
                raise ModelError(f"parameters take no flags, got {flag!r}")
            val = None
            if value is not None:
                try:
                    val = float(value)
                except ValueError:
                    raise ModelError(f"value of parameter {ident!r} must be a number, got {value!r}") from None
                if not math.isfinite(val):
                    raise ModelError(f"value of parameter {ident!r} is not finite")
            if ident in parameters:
                raise ModelError(f"parameter {ident!r} is declared twice")
            parameters[ident] = Parameter(ident, val)


_EVENT = re.compile(r"^@event(?:\(\s*initial\s*=\s*(true|false)\s*\))?\s+(.*)$", re.IGNORECASE)


def _event(line: str, number: int) -> Event:
    m = _EVENT.match(line)
    if not m or ":" not in m.group(2):
        raise ModelError("expected '@event CONDITION: TARGET = EXPR, ...'")
    condition, _, body = m.group(2).partition(":")
    assignments: dict[str, str] = {}
    for part in _split_top_level(body):
        target, eq, expr = part.partition("=")
        target = target.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_]\w*", target) or not expr.strip() or expr.lstrip().startswith("="):
            raise ModelError(f"event assignment {part.strip()!r} must look like 'NAME = EXPR'")
        if target in assignments:
            raise ModelError(f"event assigns {target!r} twice")
        assignments[target] = expr.strip()
    initial = (m.group(1) or "false").lower() == "true"
    return Event.make(condition.strip(), assignments, initial_value=initial, line=number)


_EQUATION = re.compile(r"^@equation\s+D\(\s*([A-Za-z_]\w*)\s*\)\s*~\s*(\S.*)$")


def _equation(line: str) -> tuple[str, RateLaw]:
    m = _EQUATION.match(line)
    if not m:
        raise ModelError("expected '@equation D(NAME) ~ EXPR' (the rate of change of a continuous species)")
    return m.group(1), RateLaw.parse(m.group(2).strip())


_NOISE = re.compile(r"^@noise\s+([A-Za-z_]\w*)\s*~\s*(\S.*)$")


def _noise(line: str) -> tuple[str, RateLaw]:
    m = _NOISE.match(line)
    if not m:
        raise ModelError("expected '@noise NAME ~ EXPR' (the amplitude g of a continuous species' noise g dW)")
    return m.group(1), RateLaw.parse(m.group(2).strip())


def _observable(line: str) -> tuple[str, RateLaw]:
    rest = line[len("@observable") :].strip()
    name, eq, expr = rest.partition("=")
    if not eq or not re.fullmatch(r"[A-Za-z_]\w*", name.strip()):
        raise ModelError("expected '@observable NAME = EXPR'")
    return name.strip(), RateLaw.parse(expr.strip())


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


_BOUND = re.compile(r"^(.*?)@bound\b(.*)$")


def _split_bound(line: str) -> tuple[str, str | None]:
    """The reaction and its ``@bound`` clause (None without one)."""
    if "@" not in line:
        return line, None
    m = _BOUND.match(line)
    if m is None:
        raise ModelError("unknown reaction annotation after '@' (known: @bound EXPR)")
    if not m.group(2).strip():
        raise ModelError("@bound needs an expression: the most the rate can reach while the counts are fixed")
    return m.group(1), m.group(2).strip()


def _reaction(line: str, number: int) -> list[Reaction]:
    line, bound = _split_bound(line)
    found = next((spec for spec in _ARROWS if spec[0] in line), None)
    if found is None:
        raise ModelError("no reaction arrow (-->, <-->, =>, <=>) and not a @directive")
    arrow, reversible, mass_action = found
    left, right = line.split(arrow, 1)
    if left.count("(") != left.count(")"):
        raise ModelError("unbalanced parentheses in the rate expression")
    comma = _last_top_level_comma(left)
    if comma is None:
        raise ModelError("expected 'rate, reactants --> products' (missing comma after the rate)")
    rate_text, lhs = left[:comma].strip(), left[comma + 1 :]
    reactants, products = _side(lhs), _side(right)
    if not rate_text:
        raise ModelError("missing rate expression")
    if reversible:
        inner = rate_text
        if not (inner.startswith("(") and inner.endswith(")")):
            raise ModelError(f"a reversible reaction needs two rates, '(forward, backward)', got {rate_text!r}")
        split = _last_top_level_comma(inner[1:-1])
        if split is None:
            raise ModelError(f"a reversible reaction needs two rates, '(forward, backward)', got {rate_text!r}")
        forward, backward = inner[1:-1][:split], inner[1:-1][split + 1 :]
        bounds: tuple[str | None, str | None] = (None, None)
        if bound is not None:
            comma = _last_top_level_comma(bound[1:-1]) if bound.startswith("(") and bound.endswith(")") else None
            if comma is None:
                raise ModelError(f"a reversible reaction's @bound needs two bounds, '(forward, backward)', got {bound!r}")
            bounds = (bound[1:-1][:comma], bound[1:-1][comma + 1 :])
        return [
            Reaction.make(RateLaw.parse(forward), reactants, products, mass_action, number, bounds[0]),
            Reaction.make(RateLaw.parse(backward), products, reactants, mass_action, number, bounds[1]),
        ]
    return [Reaction.make(RateLaw.parse(rate_text), reactants, products, mass_action, number, bound)]


def _last_top_level_comma(text: str) -> int | None:
    depth, found = 0, None
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            found = i
    return found


def _side(text: str) -> dict[str, int]:
    text = text.strip()
    if text in ("", "0", "∅"):
        return {}
    counts: dict[str, int] = {}
    for term in text.split("+"):
        m = _TERM.match(term)
        if not m:
            raise ModelError(f"cannot read reaction term {term.strip()!r}")
        nu = int(m.group(1)) if m.group(1) is not None else 1
        if nu <= 0:
            raise ModelError(f"stoichiometry of {m.group(2)!r} must be a positive integer, got {nu}")
        counts[m.group(2)] = counts.get(m.group(2), 0) + nu
    return counts


def format_network(net: ReactionNetwork) -> str:
    """Print ``net`` in the network language (:func:`parse` reads it back to an equal network)."""
    lines = []
    if net.name:
        lines.append(f"# {net.name}")
    if net.parameters:
        decl = [p.name if p.value is None else f"{p.name}={p.value!r}" for p in net.parameters]
        lines.append("@parameters " + " ".join(decl))
    if net.species:
        decl = [f"{s.name}={s.initial!r}" + (" [boundary]" if s.boundary else " [continuous]" if s.continuous else "")
                for s in net.species]
        lines.append("@species " + " ".join(decl))
    lines.extend(str(r) for r in net.reactions)
    lines.extend(f"@equation D({k}) ~ {v}" for k, v in net.equations)
    lines.extend(f"@noise {k} ~ {v}" for k, v in net.noise)
    lines.extend(str(e) for e in net.events)
    lines.extend(f"@observable {k} = {v}" for k, v in net.observables)
    return "\n".join(lines) + "\n"
