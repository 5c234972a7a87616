"""SBML import (Level 2 and 3) with python-libsbml, for stochastic simulation.

:func:`load_sbml` maps a model onto a :class:`~pycrn.ReactionNetwork`:

* species are counts; ``hasOnlySubstanceUnits="false"`` species enter rate
  laws as concentrations (amount divided by the compartment size), and their
  initial concentrations are converted to amounts (which must be whole
  numbers); boundary or constant species are boundary species;
* compartments become parameters holding their size (1 if unset); global
  parameters are parameters; local parameters are renamed
  ``<reaction>_<parameter>`` and made global;
* each kinetic law is the whole propensity of its reaction (an ``=>``
  reaction), with function definitions inlined;
* initial assignments are evaluated at load time;
* assignment rules become observables (recorded in the results), and are
  substituted wherever their variable is used;
* events become :class:`~pycrn.Event` s with SBML trigger semantics.

What a jump process cannot represent exactly is refused with a
:class:`~pycrn.ModelError` naming the element: rate rules, algebraic rules,
delays (in events or in math), fast reactions, reversible reactions (one net
rate cannot be split into two propensities), piecewise functions, non-integer
stoichiometry and event priorities among several events.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import ModelError
from .network import (
    MAX_EXACT_DOUBLE,
    RESERVED,
    Event,
    Parameter,
    Reaction,
    ReactionNetwork,
    Species,
    exact_count,
)
from .ratelaws import RateLaw


def _libsbml():
    try:
        import libsbml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ModelError("SBML import needs python-libsbml: pip install 'pycrn[sbml]'") from None
    return libsbml


def load_sbml(source: str | Path) -> ReactionNetwork:
    """Read an SBML model (a file path or the XML text) into a :class:`ReactionNetwork`.

    Parameters
    ----------
    source
        Path to an SBML file, or the XML document as a string or bytes (a
        byte-order mark is allowed).

    Raises
    ------
    ModelError
        For unreadable or invalid XML (with libsbml's line numbers), and for
        SBML features that cannot be simulated exactly (naming the element).
    """
    libsbml = _libsbml()
    if isinstance(source, (bytes, bytearray)):
        try:
            source = bytes(source).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ModelError("the SBML document (given as bytes) is not UTF-8 text") from None
    text = str(source).lstrip("\ufeff")  # a byte-order mark before the XML declaration
    if isinstance(source, Path) or not text.lstrip().startswith("<"):
        path = Path(text)
        if not path.exists():
            raise ModelError(f"SBML file {text!r} does not exist")
        if path.is_dir():
            raise ModelError(f"SBML file {text!r} is a folder")
        doc = libsbml.readSBMLFromFile(str(path))
        name = path.stem
    else:
        doc = libsbml.readSBMLFromString(text)
        name = ""
    errors = [
        doc.getError(i)
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        shown = "; ".join(f"line {e.getLine()}: {e.getMessage().strip()}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ModelError(f"invalid SBML: {shown}{more}")
    model = doc.getModel()
    if model is None:
        raise ModelError("the SBML document contains no model")
    return _Importer(libsbml, model, name).network()


class _Importer:
    def __init__(self, libsbml, model, name: str) -> None:
        self.sb = libsbml
        self.model = model
        self.name = model.getId() or name
        self.rename: dict[str, str] = {}
        self.functions: dict[str, tuple[list[str], object]] = {}
        self.rules: dict[str, str] = {}  # assignment-rule variable -> expression (our language)
        self.concentration: dict[str, str] = {}  # species id -> compartment id

    # -- names ---------------------------------------------------------------
    def _name(self, sid: str) -> str:
        """Our name for an SBML id (ids that clash with reserved words get a suffix)."""
        if sid not in self.rename:
            new = sid
            while new in RESERVED:
                new = new + "_"
            self.rename[sid] = new
        return self.rename[sid]

    # -- math ------------------------------------------------------------------
    def math(self, node, where: str, local: dict[str, str] | None = None, boolean: bool = False) -> str:
        """Convert a libsbml ASTNode to an expression in pycrn's rate language."""
        if node is None:
            raise ModelError(f"{where}: missing math")
        return self._math(node, where, local or {}, boolean)

    def _math(self, node, where: str, local: dict[str, str], boolean: bool) -> str:
        sb = self.sb
        t = node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]

        def sub(k, b=False):
            return self._math(k, where, local, b)

        if t == sb.AST_INTEGER:
            return str(node.getInteger())
        if t in (sb.AST_REAL, sb.AST_REAL_E, sb.AST_RATIONAL):
            v = node.getReal()
            if not math.isfinite(v):
                raise ModelError(f"{where}: non-finite number in math")
            return repr(v)
        if t == sb.AST_NAME_TIME:
            return "t"
        if t == sb.AST_NAME_AVOGADRO:
            return repr(6.02214076e23)
        if t == sb.AST_CONSTANT_PI:
            return repr(math.pi)
        if t == sb.AST_CONSTANT_E:
            return repr(math.e)
        if t == sb.AST_NAME:
            sid = node.getName()
            if sid in local:
                return local[sid]
            if sid in self.rules:
                return f"({self.rules[sid]})"
            if sid in self.concentration:
                return f"({self._name(sid)} / {self._name(self.concentration[sid])})"
            return self._name(sid)
        if t == sb.AST_PLUS:
            return "(" + " + ".join(sub(k) for k in kids) + ")" if kids else "0"
        if t == sb.AST_MINUS:
            if len(kids) == 1:
                return f"(-{sub(kids[0])})"
            return f"({sub(kids[0])} - {sub(kids[1])})"
        if t == sb.AST_TIMES:
            return "(" + " * ".join(sub(k) for k in kids) + ")" if kids else "1"
        if t == sb.AST_DIVIDE:
            return f"({sub(kids[0])} / {sub(kids[1])})"
        if t in (sb.AST_POWER, sb.AST_FUNCTION_POWER):
            return f"({sub(kids[0])} ^ {sub(kids[1])})"
        simple = {
            sb.AST_FUNCTION_EXP: "exp",
            sb.AST_FUNCTION_LN: "log",
            sb.AST_FUNCTION_ABS: "abs",
            sb.AST_FUNCTION_FLOOR: "floor",
            sb.AST_FUNCTION_CEILING: "ceil",
            sb.AST_FUNCTION_SIN: "sin",
            sb.AST_FUNCTION_COS: "cos",
        }
        if t in simple:
            return f"{simple[t]}({sub(kids[0])})"
        if t == sb.AST_FUNCTION_LOG:
            if len(kids) == 1:
                return f"(log({sub(kids[0])}) / log(10.0))"
            return f"(log({sub(kids[1])}) / log({sub(kids[0])}))"
        if t == sb.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                return f"sqrt({sub(kids[0])})"
            return f"({sub(kids[1])} ^ (1.0 / {sub(kids[0])}))"
        if t == sb.AST_FUNCTION:
            return self._call(node.getName(), [sub(k) for k in kids], where)
        if t == sb.AST_FUNCTION_DELAY:
            raise ModelError(f"{where}: delay() cannot be simulated by pycrn (delays are not supported)")
        if t == sb.AST_FUNCTION_PIECEWISE:
            raise ModelError(f"{where}: piecewise() is not supported in rate laws")
        relational = {
            sb.AST_RELATIONAL_GEQ: ">=",
            sb.AST_RELATIONAL_GT: ">",
            sb.AST_RELATIONAL_LEQ: "<=",
            sb.AST_RELATIONAL_LT: "<",
            sb.AST_RELATIONAL_EQ: "==",
            sb.AST_RELATIONAL_NEQ: "!=",
        }
        if t in relational:
            if not boolean:
                raise ModelError(f"{where}: a comparison is only allowed in event triggers")
            if len(kids) != 2:
                raise ModelError(f"{where}: comparisons of {len(kids)} operands are not supported")
            return f"({sub(kids[0])} {relational[t]} {sub(kids[1])})"
        logical = {sb.AST_LOGICAL_AND: " and ", sb.AST_LOGICAL_OR: " or "}
        if t in logical:
            if not boolean:
                raise ModelError(f"{where}: logical operators are only allowed in event triggers")
            return "(" + logical[t].join(sub(k, True) for k in kids) + ")"
        if t == sb.AST_LOGICAL_NOT:
            if not boolean:
                raise ModelError(f"{where}: logical operators are only allowed in event triggers")
            return f"(not {sub(kids[0], True)})"
        label = node.getName() or sb.formulaToL3String(node)
        raise ModelError(f"{where}: MathML element {label!r} is not supported")

    def _call(self, fid: str, args: list[str], where: str) -> str:
        if fid not in self.functions:
            raise ModelError(f"{where}: call to unknown function {fid!r}")
        params, body = self.functions[fid]
        if len(params) != len(args):
            raise ModelError(f"{where}: function {fid!r} takes {len(params)} arguments, got {len(args)}")
        return "(" + self._math(body, f"{where} (in function {fid})", dict(zip(params, [f"({a})" for a in args])), False) + ")"

    # -- model -------------------------------------------------------------------
    def _refuse_unsupported(self) -> None:
        m = self.model
        for i in range(m.getNumRules()):
            rule = m.getRule(i)
            if rule.isRate():
                raise ModelError(
                    f"rate rule for {rule.getVariable()!r}: continuous dynamics cannot be simulated "
                    "exactly by a jump process (rate rules are not supported)"
                )
            if rule.isAlgebraic():
                raise ModelError("algebraic rule: algebraic constraints are not supported")
        if m.getNumConstraints():
            raise ModelError("constraint: SBML constraints are not supported")
        for i in range(m.getNumEvents()):
            ev = m.getEvent(i)
            if ev.isSetDelay():
                raise ModelError(f"event {ev.getId() or i + 1}: delayed events are not supported")
            if ev.isSetPriority() and m.getNumEvents() > 1:
                raise ModelError(f"event {ev.getId() or i + 1}: event priorities are not supported")
        for i in range(m.getNumReactions()):
            r = m.getReaction(i)
            if r.isSetFast() and r.getFast():
                raise ModelError(f"reaction {r.getId()}: fast reactions are not supported")

    def network(self) -> ReactionNetwork:
        sb, m = self.sb, self.model
        self._refuse_unsupported()
        for i in range(m.getNumFunctionDefinitions()):
            fd = m.getFunctionDefinition(i)
            lam = fd.getMath()
            if lam is None or lam.getType() != sb.AST_LAMBDA:
                raise ModelError(f"function definition {fd.getId()}: expected a lambda")
            nargs = lam.getNumBvars()
            params = [lam.getChild(k).getName() for k in range(nargs)]
            self.functions[fd.getId()] = (params, lam.getChild(nargs))

        values: dict[str, float | None] = {}
        compartments = []
        for i in range(m.getNumCompartments()):
            c = m.getCompartment(i)
            # An unset size is 1 (amounts are then counts); a set one must be a positive number.
            size = c.getSize() if c.isSetSize() else 1.0
            if not (math.isfinite(size) and size > 0):
                raise ModelError(f"compartment {c.getId()}: size {c.getSize()!r} is not a positive finite number")
            values[c.getId()] = size
            compartments.append(c.getId())
        for i in range(m.getNumParameters()):
            p = m.getParameter(i)
            values[p.getId()] = p.getValue() if p.isSetValue() else None

        species_ids = []
        compartment_of: dict[str, str] = {}
        boundary: dict[str, bool] = {}
        for i in range(m.getNumSpecies()):
            s = m.getSpecies(i)
            sid = s.getId()
            species_ids.append(sid)
            compartment_of[self._name(sid)] = self._name(s.getCompartment())
            if s.isSetConversionFactor():
                raise ModelError(f"species {sid}: conversion factors are not supported")
            boundary[sid] = s.getBoundaryCondition() or s.getConstant()
            if not s.getHasOnlySubstanceUnits():
                self.concentration[sid] = s.getCompartment()
            if s.isSetInitialAmount():
                values[sid] = s.getInitialAmount()
            elif s.isSetInitialConcentration():
                values[sid] = s.getInitialConcentration() * values.get(s.getCompartment(), 1.0)
            else:
                values[sid] = None

        # Assignment rules: substituted where used, and kept as observables.
        order = []
        for i in range(m.getNumRules()):
            rule = m.getRule(i)
            var = rule.getVariable()
            self.rules[var] = self.math(rule.getMath(), f"assignment rule for {var}")
            order.append(var)

        # Initial assignments, evaluated in dependency order.
        pending = {}
        for i in range(m.getNumInitialAssignments()):
            ia = m.getInitialAssignment(i)
            sym = ia.getSymbol()
            if sym not in values:
                raise ModelError(f"initial assignment to {sym!r}: only species, parameters and compartments are supported")
            pending[sym] = self.math(ia.getMath(), f"initial assignment to {sym}")
        self._evaluate_initial(pending, values)

        parameters = [Parameter(self._name(c), float(values[c])) for c in compartments]
        for i in range(m.getNumParameters()):
            pid = m.getParameter(i).getId()
            if pid in self.rules:
                continue
            if values[pid] is None:
                raise ModelError(f"parameter {pid}: no value and no initial assignment")
            parameters.append(Parameter(self._name(pid), float(values[pid])))

        species = []
        for sid in species_ids:
            if sid in self.rules:
                continue
            v = values[sid]
            if v is None:
                raise ModelError(f"species {sid}: no initial amount or concentration")
            if not math.isfinite(v) or v < 0 or abs(v - round(v)) > 1e-9 * max(1.0, abs(v)):
                raise ModelError(
                    f"species {sid}: initial amount {v!r} is not a non-negative whole number "
                    "(a stochastic simulation counts molecules)"
                )
            if v > MAX_EXACT_DOUBLE:
                raise ModelError(f"species {sid}: initial amount {v!r} is above 2**53, where SBML's double-precision "
                                 "amounts stop being exact counts")
            count = exact_count(round(v), f"species {sid}: initial amount")
            species.append(Species(self._name(sid), count, boundary[sid]))

        reactions = []
        local_params = []
        for i in range(m.getNumReactions()):
            reactions.append(self._reaction(m.getReaction(i), local_params))
        parameters.extend(local_params)

        events = [self._event(m.getEvent(i), i) for i in range(m.getNumEvents())]
        observables = [(self._name(v), self.rules[v]) for v in order]
        try:
            net = ReactionNetwork(species, parameters, reactions, name=self.name, events=events, observables=observables)
        except ModelError as exc:
            raise ModelError(f"SBML model {self.name!r}: {exc}") from None
        # Metadata (not part of equality): each species' compartment, for
        # converting amounts back to concentrations.
        net.species_compartment = compartment_of
        return net

    def _evaluate_initial(self, pending: dict[str, str], values: dict[str, float | None]) -> None:
        for _ in range(len(pending) + 1):
            if not pending:
                return
            progress = False
            for sym, expr in list(pending.items()):
                law = RateLaw.parse(expr)
                inv = {self._name(k): k for k in values}
                needed = [inv.get(n, n) for n in law.names]
                if any(values.get(n) is None for n in needed) or any(n in pending for n in needed):
                    continue
                args = {self._name(n): values[n] for n in needed}
                try:
                    with np.errstate(all="raise"):
                        v = float(law.to_numpy(list(args))(**args))
                except (ZeroDivisionError, OverflowError, ValueError, FloatingPointError) as exc:
                    raise ModelError(f"initial assignment to {sym} ({expr}) cannot be evaluated: {exc}") from None
                if not math.isfinite(v):
                    raise ModelError(f"initial assignment to {sym} ({expr}) evaluates to {v!r}")
                if sym in self.concentration:
                    v *= values.get(self.concentration[sym], 1.0)
                values[sym] = v
                del pending[sym]
                progress = True
            if not progress:
                break
        if pending:
            raise ModelError(f"initial assignments to {', '.join(pending)} cannot be evaluated (circular or undefined)")

    def _stoichiometry(self, ref, rid: str) -> int:
        # stoichiometryMath exists in Level 2 only.
        if getattr(ref, "isSetStoichiometryMath", lambda: False)():
            raise ModelError(f"reaction {rid}: stoichiometryMath is not supported")
        nu = ref.getStoichiometry()
        if not ref.isSetStoichiometry() and not math.isfinite(nu):
            nu = 1.0  # Level 2's default; Level 3 reads an unset value as NaN
        if not math.isfinite(nu):
            raise ModelError(f"reaction {rid}: stoichiometry {nu!r} of {ref.getSpecies()} is not a number")
        if nu <= 0 or abs(nu - round(nu)) > 1e-12:
            raise ModelError(f"reaction {rid}: stoichiometry {nu!r} of {ref.getSpecies()} is not a positive integer")
        return int(round(nu))

    def _reaction(self, r, local_params: list[Parameter]) -> Reaction:
        rid = r.getId()
        if r.getReversible():
            raise ModelError(
                f"reaction {rid} is reversible: a single kinetic law gives a net rate, which cannot be split "
                "into forward and backward propensities; write two irreversible reactions"
            )
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            raise ModelError(f"reaction {rid} has no kinetic law")
        local: dict[str, str] = {}
        plist = kl.getListOfLocalParameters() if kl.getNumLocalParameters() else kl.getListOfParameters()
        for k in range(plist.size()):
            lp = plist.get(k)
            new = self._name(f"{rid}_{lp.getId()}")
            local[lp.getId()] = new
            local_params.append(Parameter(new, float(lp.getValue())))
        rate = self.math(kl.getMath(), f"kinetic law of reaction {rid}", local)
        reactants: dict[str, int] = {}
        products: dict[str, int] = {}
        declared = {self.model.getSpecies(i).getId() for i in range(self.model.getNumSpecies())}
        for ref in [r.getReactant(k) for k in range(r.getNumReactants())] + [r.getProduct(k) for k in
                                                                             range(r.getNumProducts())]:
            if ref.getSpecies() not in declared:
                raise ModelError(f"reaction {rid}: species reference to {ref.getSpecies()!r}, which is not a "
                                 "declared species")
        for k in range(r.getNumReactants()):
            ref = r.getReactant(k)
            name = self._name(ref.getSpecies())
            reactants[name] = reactants.get(name, 0) + self._stoichiometry(ref, rid)
        for k in range(r.getNumProducts()):
            ref = r.getProduct(k)
            name = self._name(ref.getSpecies())
            products[name] = products.get(name, 0) + self._stoichiometry(ref, rid)
        try:
            return Reaction.make(RateLaw.parse(rate), reactants, products, mass_action=False)
        except ModelError as exc:
            raise ModelError(f"reaction {rid}: {exc}") from None

    def _event(self, ev, i: int) -> Event:
        eid = ev.getId() or f"event{i + 1}"
        trig = ev.getTrigger()
        if trig is None or trig.getMath() is None:
            raise ModelError(f"event {eid} has no trigger")
        cond = self.math(trig.getMath(), f"trigger of event {eid}", boolean=True)
        initial = trig.getInitialValue() if trig.isSetInitialValue() else True
        assignments = {}
        for k in range(ev.getNumEventAssignments()):
            ea = ev.getEventAssignment(k)
            var = ea.getVariable()
            expr = self.math(ea.getMath(), f"assignment to {var} in event {eid}")
            if var in self.concentration:
                # A concentration is assigned; the state holds amounts.
                expr = f"({expr}) * {self._name(self.concentration[var])}"
            if var in self.rules:
                raise ModelError(f"event {eid} assigns {var!r}, which an assignment rule defines")
            assignments[self._name(var)] = expr
        try:
            return Event.make(cond, assignments, initial_value=initial, name=eid)
        except ModelError as exc:
            raise ModelError(f"event {eid}: {exc}") from None
