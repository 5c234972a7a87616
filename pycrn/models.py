"""The built-in model library.

Every function returns a :class:`~pycrn.ReactionNetwork` with documented
default parameters and initial counts, and a sensible ``tspan`` attached as
``net.tspan`` (used by :func:`pycrn.simulate` and the CLI when no ``tspan``
is given). :func:`names` lists the library and :func:`get` looks a model up
by name.

Sources
-------
[Catalyst] S. Isaacson et al., Catalyst.jl / JumpProcesses.jl tutorial on
    jump processes and Gillespie methods (../shared/seeds/002_*).
[DSMTS] T. Evans, C. Gillespie, D. Wilkinson, "The SBML discrete stochastic
    models test suite", Bioinformatics 24:285 (2008).
[StochNet] L. Bortolussi, L. Palmieri, "Deep abstractions of chemical
    reaction networks", CMSB 2018 (../shared/seeds/000_*), eqs. 9-14, Table 2.
[DeepSKA] DeepSKA, supplementary section B.2 (../shared/seeds/003_*).
"""

from __future__ import annotations

from collections.abc import Callable

from .dsl import parse
from .network import ReactionNetwork


def _model(text: str, name: str, tspan: tuple[float, float]) -> ReactionNetwork:
    net = parse(text, name=name)
    net.tspan = tspan
    return net


def sir() -> ReactionNetwork:
    """SIR epidemic of the Catalyst/JumpProcesses tutorial [Catalyst].

    ``S + I -> 2I`` at ``beta = 0.1/1000``, ``I -> R`` at ``nu = 0.01``;
    ``S, I, R = 999, 1, 0``; tspan (0, 250).
    """
    return _model(
        """
        @parameters beta=0.0001 nu=0.01
        @species S=999 I=1 R=0
        beta, S + I --> 2I
        nu, I --> R
        """,
        "sir",
        (0.0, 250.0),
    )


def birth_death() -> ReactionNetwork:
    """Linear birth-death process, DSMTS case 001-01 [DSMTS].

    ``X -> 2X`` at ``lam = 0.1``, ``X -> 0`` at ``mu = 0.11``; ``X = 100``;
    tspan (0, 50). Mean ``X0 exp((lam - mu) t)``.
    """
    return _model(
        """
        @parameters lam=0.1 mu=0.11
        @species X=100
        lam, X --> 2X
        mu, X --> 0
        """,
        "birth_death",
        (0.0, 50.0),
    )


def immigration_death() -> ReactionNetwork:
    """Immigration-death process, DSMTS case 002-01 [DSMTS].

    ``0 -> X`` at ``alpha = 1``, ``X -> 0`` at ``mu = 0.1``; ``X = 0``;
    tspan (0, 50). ``X(t)`` is Poisson with mean ``alpha/mu (1 - exp(-mu t))``.
    """
    return _model(
        """
        @parameters alpha=1.0 mu=0.1
        @species X=0
        alpha, 0 --> X
        mu, X --> 0
        """,
        "immigration_death",
        (0.0, 50.0),
    )


def dimerisation() -> ReactionNetwork:
    """Production, degradation and reversible dimerisation.

    ``0 -> A`` (100), ``A -> 0`` (1), ``2A -> B`` (0.001, propensity
    ``0.001 A(A-1)/2``), ``B -> 2A`` (0.1); ``A = B = 0``; tspan (0, 100).
    The benchmark network of pycrn's speed comparisons.
    """
    return _model(
        """
        @parameters kp=100.0 kd=1.0 kf=0.001 kb=0.1
        @species A=0 B=0
        kp, 0 --> A
        kd, A --> 0
        kf, 2A --> B
        kb, B --> 2A
        """,
        "dimerisation",
        (0.0, 100.0),
    )


def lotka_volterra() -> ReactionNetwork:
    """Stochastic Lotka-Volterra predator-prey model.

    ``X -> 2X`` (c1 = 1), ``X + Y -> 2Y`` (c2 = 0.005), ``Y -> 0``
    (c3 = 0.6); ``X = 50, Y = 100``; tspan (0, 30). Parameters of
    D. J. Wilkinson, *Stochastic Modelling for Systems Biology* (CRC, 2006).
    """
    return _model(
        """
        @parameters c1=1.0 c2=0.005 c3=0.6
        @species X=50 Y=100
        c1, X --> 2X
        c2, X + Y --> 2Y
        c3, Y --> 0
        """,
        "lotka_volterra",
        (0.0, 30.0),
    )


def schlogl() -> ReactionNetwork:
    """Schlögl's bistable model, with buffered species A and B.

    ``2X + A -> 3X`` (c1 = 3e-7), ``3X -> 2X + A`` (c2 = 1e-4), ``B -> X``
    (c3 = 1e-3), ``X -> B`` (c4 = 3.5); ``A = 1e5``, ``B = 2e5`` (boundary),
    ``X = 250``; tspan (0, 10). F. Schlögl, Z. Physik 253:147 (1972);
    parameters as in Y. Cao, D. Gillespie, L. Petzold, J. Comput. Phys.
    206:395 (2005).
    """
    return _model(
        """
        @parameters c1=3e-7 c2=0.0001 c3=0.001 c4=3.5
        @species X=250 A=100000 [boundary] B=200000 [boundary]
        c1, 2X + A --> 3X
        c2, 3X --> 2X + A
        c3, B --> X
        c4, X --> B
        """,
        "schlogl",
        (0.0, 10.0),
    )


def approximate_majority(n: int = 1000, a_fraction: float = 0.5) -> ReactionNetwork:
    """Approximate majority consensus (Angluin, Aspnes, Eisenstat, Distrib. Comput. 21:87, 2008).

    ``A + B -> 2U``, ``A + U -> 2A``, ``B + U -> 2B``, each with rate 1 in
    volume ``n`` (stochastic constant ``k = 1/n``); ``A = round(a_fraction n)``,
    ``B = n - A``; tspan (0, 100).
    """
    a = int(round(a_fraction * n))
    return _model(
        f"""
        @parameters k={1.0 / n!r}
        @species A={a} B={n - a} U=0
        k, A + B --> 2U
        k, A + U --> 2A
        k, B + U --> 2B
        """,
        "approximate_majority",
        (0.0, 100.0),
    )


def gene_regulatory_network() -> ReactionNetwork:
    """Self-repressing gene of the StochNet paper [StochNet], eqs. 9-14 and Table 2.

    ``G_ON -> G_ON + M`` (kprodM = 350), ``M -> M + P`` (kprodP = 300),
    ``G_ON + P -> G_OFF`` (kact), ``G_OFF -> G_ON + P`` (kdeact),
    ``M -> 0`` (kdegM = 0.001), ``P -> 0`` (kdegP = 1.5), all mass action;
    ``G_ON = 1, G_OFF = 0, M = 1, P = 100``; tspan (0, 400), the
    abstraction's time step.

    Binding and unbinding: the extracted Table 2 lists kact = 1 and
    kdeact = 166, but with those values the gene is mostly on, M climbs to
    ~500 and P to ~1e5 (about 1e5 reactions per time unit), a unimodal
    regime at odds with the paper's description (5-6 modes set by the mRNA
    count, Figs. 3 and 5). The model the paper cites for this network (the
    StochPy "GNR" example) binds at 166 and unbinds at 1, which gives the
    multimodal behaviour described; those are the defaults here
    (kact = 166, kdeact = 1). Pass ``params={"kact": 1, "kdeact": 166}`` for
    the table as printed.
    """
    return _model(
        """
        @parameters kprodM=350.0 kprodP=300.0 kact=166.0 kdeact=1.0 kdegM=0.001 kdegP=1.5
        @species G_ON=1 G_OFF=0 M=1 P=100
        kprodM, G_ON --> G_ON + M
        kprodP, M --> M + P
        kact, G_ON + P --> G_OFF
        kdeact, G_OFF --> G_ON + P
        kdegM, M --> 0
        kdegP, P --> 0
        """,
        "gene_regulatory_network",
        (0.0, 400.0),
    )


def constitutive_gene_expression() -> ReactionNetwork:
    """DeepSKA example B.1 [DeepSKA]: constitutive gene expression (Thattai & van Oudenaarden 2001).

    ``0 -> R`` (kr = 10), ``R -> R + P`` (kp = 2), ``R -> 0`` (gr = 1),
    ``P -> 0`` (gp = 0.5); ``R = P = 0``; tspan (0, 20).
    """
    return _model(
        """
        @parameters kr=10.0 kp=2.0 gr=1.0 gp=0.5
        @species R=0 P=0
        kr, 0 --> R
        kp, R --> R + P
        gr, R --> 0
        gp, P --> 0
        """,
        "constitutive_gene_expression",
        (0.0, 20.0),
    )


def self_regulatory_gene() -> ReactionNetwork:
    """DeepSKA example B.2 [DeepSKA]: self-repressing gene.

    ``0 -> P`` with propensity ``alpha / (K + P^n)`` (alpha = 10, K = 10,
    n = 0.5), ``P -> 0`` (gamma = 0.05); ``P = 0``; tspan (0, 20).
    """
    return _model(
        """
        @parameters alpha=10.0 K=10.0 n=0.5 gamma=0.05
        @species P=0
        alpha / (K + P^n), 0 => P
        gamma, P --> 0
        """,
        "self_regulatory_gene",
        (0.0, 20.0),
    )


def toggle_switch() -> ReactionNetwork:
    """DeepSKA example B.3 [DeepSKA]: genetic toggle switch (Gardner et al. 2000).

    ``0 -> P1`` with propensity ``b1 + a1 / (K1 + P2^n1)``, ``0 -> P2``
    with ``b2 + a2 / (K2 + P1^n2)``, ``P1 -> 0`` (g1), ``P2 -> 0`` (g2);
    b1 = b2 = 1, a1 = 50, a2 = 16, K1 = K2 = 1, n1 = 2.5, n2 = 1,
    g1 = g2 = 1; ``P1 = P2 = 0``; tspan (0, 20).
    """
    return _model(
        """
        @parameters b1=1.0 b2=1.0 a1=50.0 a2=16.0 K1=1.0 K2=1.0 n1=2.5 n2=1.0 g1=1.0 g2=1.0
        @species P1=0 P2=0
        b1 + a1 / (K1 + P2^n1), 0 => P1
        b2 + a2 / (K2 + P1^n2), 0 => P2
        g1, P1 --> 0
        g2, P2 --> 0
        """,
        "toggle_switch",
        (0.0, 20.0),
    )


def sir_demography() -> ReactionNetwork:
    """DeepSKA example B.4 [DeepSKA]: SIR with waning immunity and deaths.

    ``S + I -> 2I`` (beta = 0.0036), ``I -> R`` (gamma = 0.02), ``R -> S``
    (mu = 0.007), ``S, I, R -> 0`` (dS = 0.002, dI = 0.05, dR = 0.002);
    ``S, I, R = 50, 10, 1`` (centre of the paper's sampling box); tspan (0, 30).
    """
    return _model(
        """
        @parameters beta=0.0036 gamma=0.02 mu=0.007 dS=0.002 dI=0.05 dR=0.002
        @species S=50 I=10 R=1
        beta, S + I --> 2I
        gamma, I --> R
        mu, R --> S
        dS, S --> 0
        dI, I --> 0
        dR, R --> 0
        """,
        "sir_demography",
        (0.0, 30.0),
    )


def antithetic_integral_control() -> ReactionNetwork:
    """DeepSKA example B.5 [DeepSKA]: reference-based antithetic integral control (Briat et al. 2016).

    ``Z1 -> Z1 + R`` (kr = 5), ``R -> R + P`` (kp = 2), ``R -> 0`` (gr = 5),
    ``P -> 0`` (gp = 0.5), ``P -> P + Z2`` (theta = 1), ``Z1 + Z2 -> 0``
    (eta = 100), ``0 -> Z1`` (mu = 10); all zero initially; tspan (0, 20).
    """
    return _model(
        """
        @parameters kr=5.0 kp=2.0 gr=5.0 gp=0.5 theta=1.0 eta=100.0 mu=10.0
        @species R=0 P=0 Z1=0 Z2=0
        kr, Z1 --> Z1 + R
        kp, R --> R + P
        gr, R --> 0
        gp, P --> 0
        theta, P --> P + Z2
        eta, Z1 + Z2 --> 0
        mu, 0 --> Z1
        """,
        "antithetic_integral_control",
        (0.0, 20.0),
    )


def antithetic_sensor_control() -> ReactionNetwork:
    """DeepSKA example B.6 [DeepSKA]: sensor-based antithetic integral control (Filo et al. 2023).

    As :func:`antithetic_integral_control` but ``0 -> R`` with propensity
    ``b + alpha / (K + Z2^n)`` (b = 10, alpha = 5, K = 0.5, n = 1); kp = 2,
    gr = 5, gp = 0.5, theta = 1, eta = 100, mu = 10; tspan (0, 20).
    """
    return _model(
        """
        @parameters b=10.0 alpha=5.0 K=0.5 n=1.0 kp=2.0 gr=5.0 gp=0.5 theta=1.0 eta=100.0 mu=10.0
        @species R=0 P=0 Z1=0 Z2=0
        b + alpha / (K + Z2^n), 0 => R
        kp, R --> R + P
        gr, R --> 0
        gp, P --> 0
        theta, P --> P + Z2
        eta, Z1 + Z2 --> 0
        mu, 0 --> Z1
        """,
        "antithetic_sensor_control",
        (0.0, 20.0),
    )


def repressilator() -> ReactionNetwork:
    """DeepSKA example B.7 [DeepSKA]: the repressilator (Elowitz & Leibler 2000).

    ``0 -> Ri`` with ``beta_i + alpha_i / (K_i + P_{i-1}^n_i)`` (P3 represses
    R1, P1 represses R2, P2 represses R3), ``Ri -> Ri + Pi`` (kp = 2),
    ``Ri -> 0`` (gr = 1), ``Pi -> 0`` (gp = 0.1); beta = 1, alpha = 10,
    K = 1, n = 1; all zero initially; tspan (0, 20).
    """
    return _model(
        """
        @parameters beta=1.0 alpha=10.0 K=1.0 n=1.0 kp=2.0 gr=1.0 gp=0.1
        @species R1=0 R2=0 R3=0 P1=0 P2=0 P3=0
        beta + alpha / (K + P3^n), 0 => R1
        beta + alpha / (K + P1^n), 0 => R2
        beta + alpha / (K + P2^n), 0 => R3
        kp, R1 --> R1 + P1
        kp, R2 --> R2 + P2
        kp, R3 --> R3 + P3
        gr, R1 --> 0
        gr, R2 --> 0
        gr, R3 --> 0
        gp, P1 --> 0
        gp, P2 --> 0
        gp, P3 --> 0
        """,
        "repressilator",
        (0.0, 20.0),
    )


def nonlinear_cascade(n: int = 10) -> ReactionNetwork:
    """DeepSKA example B.8 [DeepSKA]: nonlinear conversion cascade of ``n`` species.

    ``0 -> S1`` (kappa = 10); ``Si -> S(i+1)`` with propensity
    ``b + alpha Si^n / (K + Si^n)`` when ``Si > 0`` and 0 otherwise (b = 1,
    alpha = 100, K = 10, hill n = 1); ``Si -> 0`` (gamma = 1); all zero
    initially; tspan (0, 20).
    """
    lines = [
        "@parameters kappa=10.0 b=1.0 alpha=100.0 K=10.0 h=1.0 gamma=1.0",
        "@species " + " ".join(f"S{i}=0" for i in range(1, n + 1)),
        "kappa, 0 --> S1",
    ]
    for i in range(1, n):
        s = f"S{i}"
        # min(Si, 1) is the indicator of Si > 0 on counts.
        lines.append(f"(b + alpha * {s}^h / (K + {s}^h)) * min({s}, 1), {s} => S{i + 1}")
    lines += [f"gamma, S{i} --> 0" for i in range(1, n + 1)]
    return _model("\n".join(lines), "nonlinear_cascade", (0.0, 20.0))


def linear_cascade_feedback(n: int = 10) -> ReactionNetwork:
    """DeepSKA example B.9 [DeepSKA]: linear conversion cascade with feedback, ``n`` species.

    ``0 -> S1`` with propensity ``b + alpha / (K + Sn^h)`` (b = 1,
    alpha = 100, K = 10, h = 1); ``Si -> S(i+1)`` (kappa = 5);
    ``Si -> 0`` (gamma = 1); all zero initially; tspan (0, 20).
    """
    lines = [
        "@parameters b=1.0 alpha=100.0 K=10.0 h=1.0 kappa=5.0 gamma=1.0",
        "@species " + " ".join(f"S{i}=0" for i in range(1, n + 1)),
        f"b + alpha / (K + S{n}^h), 0 => S1",
    ]
    lines += [f"kappa, S{i} --> S{i + 1}" for i in range(1, n)]
    lines += [f"gamma, S{i} --> 0" for i in range(1, n + 1)]
    return _model("\n".join(lines), "linear_cascade_feedback", (0.0, 20.0))


def gene_cascade(n: int = 12) -> ReactionNetwork:
    """A cascade of ``n`` genes (2n species, 4n reactions) where the dependency graph matters.

    Gene ``i`` makes mRNA ``Mi`` at ``hillr(P(i-1), v, K, 2)`` (gene 1
    constitutively at ``v``), ``Mi -> Mi + Pi`` (kp), ``Mi -> 0`` (gm),
    ``Pi -> 0`` (gp): each reaction changes one species that only a few
    propensities read. v = 20, K = 20, kp = 5, gm = 1, gp = 0.2; all zero
    initially; tspan (0, 100).
    """
    lines = [
        "@parameters v=20.0 K=20.0 kp=5.0 gm=1.0 gp=0.2",
        "@species " + " ".join(f"M{i}=0 P{i}=0" for i in range(1, n + 1)),
        "v, 0 --> M1",
    ]
    for i in range(2, n + 1):
        lines.append(f"hillr(P{i - 1}, v, K, 2), 0 => M{i}")
    for i in range(1, n + 1):
        lines += [f"kp, M{i} --> M{i} + P{i}", f"gm, M{i} --> 0", f"gp, P{i} --> 0"]
    return _model("\n".join(lines), "gene_cascade", (0.0, 100.0))


_LIBRARY: dict[str, Callable[[], ReactionNetwork]] = {
    f.__name__: f
    for f in (
        sir,
        birth_death,
        immigration_death,
        dimerisation,
        lotka_volterra,
        schlogl,
        approximate_majority,
        gene_regulatory_network,
        constitutive_gene_expression,
        self_regulatory_gene,
        toggle_switch,
        sir_demography,
        antithetic_integral_control,
        antithetic_sensor_control,
        repressilator,
        nonlinear_cascade,
        linear_cascade_feedback,
        gene_cascade,
    )
}


def names() -> list[str]:
    """Names of the built-in models."""
    return list(_LIBRARY)


def get(name: str) -> ReactionNetwork:
    """The built-in model called ``name``, with its defaults."""
    try:
        return _LIBRARY[name]()
    except KeyError:
        raise KeyError(f"no built-in model {name!r}; available: {', '.join(_LIBRARY)}") from None


def describe(name: str) -> str:
    """First line of the model's docstring."""
    doc = _LIBRARY[name].__doc__ or ""
    return doc.strip().splitlines()[0]
