"""pycrn.signaling: LEMBAS's recurrent model, checked against independent implementations."""

from __future__ import annotations

import contextlib
import dataclasses

import numba
import numpy as np
import pytest
import torch

from pycrn import ModelError
from pycrn import signaling as sig
from pycrn.signaling import datasets, kernels, losses, recurrent, training
from pycrn.signaling.network import ACTIVATION, INHIBITION, UNKNOWN


def _dense_mml(z, leak=0.01):
    return np.where(z < 0, leak * z, np.where(z < 0.5, z, 1 - 0.25 / np.maximum(z, 0.5)))


def _random_network(n, edges, seed, ligands=3, tfs=3):
    """A random signed network with cycles: ligands feed the rest, edges among the rest."""
    rng = np.random.default_rng(seed)
    names = [f"N{i}" for i in range(n)]
    pairs = set()
    for lig in range(ligands):
        pairs.add((lig, int(rng.integers(ligands, n))))
    while len(pairs) < edges:
        s, t = (int(v) for v in rng.integers(ligands, n, 2))
        if s != t:
            pairs.add((s, t))
    mode = rng.choice([ACTIVATION, INHIBITION, UNKNOWN], size=len(pairs), p=[0.6, 0.3, 0.1])
    edge_list = [(names[s], names[t], int(m)) for (s, t), m in zip(sorted(pairs), mode)]
    return sig.SignalingNetwork.from_edges(edge_list, names[:ligands], names[n - tfs:])


def test_reads_the_authors_ligand_screen_merging_its_duplicate_edges():
    with pytest.warns(UserWarning, match="merged 3 duplicate edge.*O00548 -> P46531, O00548 -> Q04721, O00548 -> Q9UM47"):
        net, ligands, tfs, conditions = datasets.ligand_screen()
    assert (net.n_nodes, net.n_edges, ligands.shape, tfs.shape, len(conditions)) == (1262, 6594, (103, 60), (103, 74), 103)
    merged = {(net.nodes[s], net.nodes[t]): m for s, t, m in zip(net.sources, net.targets, net.mode)}
    # Listed as activation and as unknown: unknown, as in the authors' published models' modeOfAction.
    assert merged[("O00548", "P46531")] == UNKNOWN
    assert merged[("O00548", "P16298")] == ACTIVATION
    folds = datasets.ligand_screen_folds()
    assert len(folds) == 28 and all(len(f) == 3 for f in folds)
    held = [c for f in folds for c in f]
    assert len(set(held)) == 84 and set(held) <= set(conditions)


def test_parameter_table_in_the_authors_format_loads(tmp_path):
    """A table as the authors' saveParam writes it: Weight rows by (source, target), Bias rows
    with an empty target, then Projection and Input rows; values as numpy prints them."""
    net = _random_network(25, 70, 4)
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=net.n_edges), rng.normal(size=net.n_nodes)
    proj, inp = rng.uniform(0.5, 2, len(net.tfs)), rng.uniform(1, 4, len(net.ligands))
    rows = ["Source\tTarget\tType\tValue"]
    order = np.argsort(net.sources, kind="stable")  # the authors' networkList is sorted by source
    rows += [f"{net.nodes[net.sources[k]]}\t{net.nodes[net.targets[k]]}\tWeight\t{w[k]}" for k in order]
    rows += [f"{name}\t\tBias\t{b[i]}" for i, name in enumerate(net.nodes)]
    rows += [f"{net.nodes[i]}\t\tProjection\t{proj[k]}" for k, i in enumerate(net.tfs)]
    rows += [f"{net.nodes[i]}\t\tInput\t{inp[k]}" for k, i in enumerate(net.ligands)]
    path = tmp_path / "params.tsv"
    path.write_text("\n".join(rows) + "\n")
    model = sig.SignalingModel(net).load_parameters(path)
    np.testing.assert_array_equal(model.weights.detach().numpy(), w)
    np.testing.assert_array_equal(model.bias.detach().numpy(), b)
    np.testing.assert_array_equal(model.output_scale.detach().numpy(), proj)
    np.testing.assert_array_equal(model.input_scale.numpy(), inp)


def test_reads_the_lembas_files():
    kegg = datasets.kegg()
    assert (kegg.n_nodes, kegg.n_edges, len(kegg.ligands), len(kegg.tfs)) == (409, 832, 101, 55)
    assert np.sum(kegg.mode == ACTIVATION) == 702 and np.sum(kegg.mode == INHIBITION) == 130
    net, ligands, tfs, conditions = datasets.macrophage()
    assert (net.n_nodes, net.n_edges, ligands.shape, tfs.shape, len(conditions)) == (1128, 5732, (23, 12), (23, 58), 23)
    assert np.sum(net.mode == UNKNOWN) == 3726  # neither stimulation nor inhibition listed


def test_file_errors_name_the_line(tmp_path):
    model = tmp_path / "m.tsv"
    notes = tmp_path / "a.tsv"
    notes.write_text("code\tname\tTF\tligand\nL\tL\tFalse\tTrue\nT\tT\tTrue\tFalse\n")
    model.write_text("source\ttarget\tstimulation\tinhibition\nL\tT\t1\t0\nL\tT\tyes\t0\n")
    with pytest.raises(ModelError, match=r"line 3: column 'stimulation'"):
        sig.SignalingNetwork.from_tsv(model, notes)
    model.write_text("source\ttarget\tstimulation\tinhibition\nL\tT\t1\t0\nL\tT\t0\t1\n")
    with pytest.raises(ModelError, match=r"duplicate edge L -> T \(edge 2\)"):
        sig.SignalingNetwork.from_tsv(model, notes, duplicates="error")
    model.write_text("source\ttarget\tstimulation\nL\tT\t1\n")
    with pytest.raises(ModelError, match="missing column"):
        sig.SignalingNetwork.from_tsv(model, notes)


def test_duplicate_edges_are_merged_with_a_warning_naming_them(tmp_path):
    """As in the authors' ligand-screen network (O00548 -> P46531 listed as activation and as unknown)."""
    model = tmp_path / "m.tsv"
    notes = tmp_path / "a.tsv"
    notes.write_text("code\tname\tTF\tligand\nL\tL\tFalse\tTrue\nT\tT\tTrue\tFalse\nU\tU\tTrue\tFalse\n")
    model.write_text(
        "source\ttarget\tstimulation\tinhibition\n"
        "L\tT\t1\t0\nL\tU\t0\t1\nL\tT\t0\t0\nL\tU\t0\t1\n"
    )
    with pytest.warns(UserWarning, match=r"merged 2 duplicate edge\(s\).*L -> T, L -> U"):
        net = sig.SignalingNetwork.from_tsv(model, notes)
    assert net.n_edges == 2
    mode = {(net.nodes[s], net.nodes[t]): m for s, t, m in zip(net.sources, net.targets, net.mode)}
    assert mode == {("L", "T"): UNKNOWN, ("L", "U"): INHIBITION}  # disagreeing listings: unknown
    with pytest.raises(ValueError, match="duplicates must be"):
        sig.SignalingNetwork.from_tsv(model, notes, duplicates="sum")


def test_mml_activation():
    z = torch.tensor([-2.0, -1e-9, 0.0, 0.25, 0.5 - 1e-12, 0.5, 1.0, 1e6], dtype=torch.float64)
    expected = torch.tensor([-0.02, -1e-11, 0.0, 0.25, 0.5, 0.5, 0.75, 1 - 0.25e-6], dtype=torch.float64)
    torch.testing.assert_close(sig.mml(z), expected, rtol=1e-9, atol=1e-12)
    # Value and slope are continuous at 0.5, and the slope matches autograd.
    zz = torch.linspace(-1, 3, 401, dtype=torch.float64, requires_grad=True)
    sig.mml(zz).sum().backward()
    torch.testing.assert_close(zz.grad, sig.mml_slope(zz.detach()))
    assert sig.mml_slope(torch.tensor([0.5 - 1e-9]))[0] == pytest.approx(1.0)
    assert sig.mml_slope(torch.tensor([0.5 + 1e-9]))[0] == pytest.approx(1.0, rel=1e-6)


def test_toy_network_with_reference_parameters_matches_a_dense_implementation():
    net = datasets.toy()
    model = sig.SignalingModel(net, tol=0.0).load_parameters(datasets.toy_parameters())
    grid = np.array(np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5))).T.reshape(-1, 2)
    y = model(torch.as_tensor(grid)).detach().numpy()
    # With the default early stop the answer agrees to ~tol / (1 - rho).
    early = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    np.testing.assert_allclose(early(torch.as_tensor(grid)).detach().numpy(), y, atol=1e-10)
    # Independent dense implementation: A from the parameter file read here.
    idx = {name: i for i, name in enumerate(net.nodes)}
    A = np.zeros((7, 7))
    bias = np.zeros(7)
    for line in datasets.toy_parameters().read_text().splitlines()[1:]:
        src, tgt, kind, value = line.split("\t")
        if kind == "Weight":
            A[idx[tgt], idx[src]] = float(value)
        elif kind == "Bias":
            bias[idx[src]] = float(value)
    for row, ligand_levels in enumerate(grid):
        c = bias.copy()
        c[[idx["L1"], idx["L2"]]] += 1.0 * ligand_levels  # the file's input scale is 1.0
        x = np.zeros(7)
        for _ in range(150):
            previous, x = x, _dense_mml(A @ x + c)
        assert np.max(np.abs(x - previous)) < 1e-12  # steady state reached
        assert y[row, 0] == pytest.approx(1.3 * x[idx["T1"]], abs=1e-14)


@pytest.mark.parametrize("kernels_path", [True, False], ids=["kernels", "torch-sparse"])
def test_adjoint_at_the_kink_takes_the_leak_slope(monkeypatch, kernels_path):
    """Toy network, input (0, 0), zero biases: every node sits exactly at z = 0.

    With the authors' convention (slope = leak at z <= 0) the Jacobian there is
    0.01 A and the gradient is the dense implicit-function answer
    dL/db = D (I - A^T D)^-1 g, D = 0.01 I. With slope 1 at the kink the
    Jacobian is A (spectral radius 1.18 here) and the adjoint diverges until
    the clip stops it: the test fails on that convention.
    """
    monkeypatch.setattr(recurrent, "USE_KERNELS", kernels_path)
    net = datasets.toy()
    model = sig.SignalingModel(net, tol=0.0).load_parameters(datasets.toy_parameters())
    with torch.no_grad():
        model.bias.zero_()
    y = model(torch.zeros(1, 2, dtype=torch.float64))
    assert float(y.detach().abs().max()) == 0.0
    loss = ((y - 1.0) ** 2).sum()
    loss.backward()
    # Dense, from the parameter file read here.
    idx = {name: i for i, name in enumerate(net.nodes)}
    A = np.zeros((7, 7))
    for line in datasets.toy_parameters().read_text().splitlines()[1:]:
        src, tgt, kind, value = line.split("\t")
        if kind == "Weight":
            A[idx[tgt], idx[src]] = float(value)
    assert max(abs(np.linalg.eigvals(A))) > 1.0  # slope 1 at the kink would make the adjoint diverge
    g = np.zeros(7)
    scale = model.output_scale.detach().numpy()
    for k, tf in enumerate(net.tfs):
        g[tf] = 2.0 * (0.0 - 1.0) * scale[k]
    D = 0.01 * np.eye(7)
    expected = D @ np.linalg.solve(np.eye(7) - A.T @ D, g)
    np.testing.assert_allclose(model.bias.grad.numpy(), expected, rtol=1e-8, atol=1e-15)
    # The slope functions agree on the convention.
    zero = torch.zeros(3, dtype=torch.float64)
    assert sig.mml_slope(zero).tolist() == [0.01] * 3
    assert losses.state_slope(zero, 0.01).tolist() == [0.01] * 3
    assert kernels._mml_slope.py_func(0.0, 0.01) == 0.01


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_fixed_point_backward_matches_autograd_through_the_unrolled_recurrence(seed):
    """Float64, networks of 40 nodes and 140 edges with feedback, converged within 150 steps."""
    net = _random_network(40, 140, seed)
    model = sig.SignalingModel(net, seed=seed)
    torch.manual_seed(seed)
    ligands = torch.rand(4, len(net.ligands), dtype=torch.float64, requires_grad=True)
    target = torch.rand(4, len(net.tfs), dtype=torch.float64)
    loss = torch.nn.functional.mse_loss(model(ligands), target)
    loss.backward()
    # Autograd through 150 explicit steps with a dense matrix.
    w = model.weights.detach().clone().requires_grad_()
    b = model.bias.detach().clone().requires_grad_()
    lig = ligands.detach().clone().requires_grad_()
    A = torch.zeros(net.n_nodes, net.n_nodes, dtype=torch.float64)
    A = A.index_put((torch.as_tensor(net.targets), torch.as_tensor(net.sources)), w)
    c = torch.zeros(4, net.n_nodes, dtype=torch.float64).index_copy(1, torch.as_tensor(net.ligands), 3.0 * lig) + b
    x = torch.zeros_like(c)
    for _ in range(150):
        previous, x = x, sig.mml(x @ A.T + c)
    assert float((x - previous).detach().abs().max()) < 1e-12  # the comparison presumes a steady state
    ref = torch.nn.functional.mse_loss(x[:, list(net.tfs)] * model.output_scale.detach(), target)
    ref.backward()
    for ours, theirs in ((model.weights.grad, w.grad), (model.bias.grad, b.grad), (ligands.grad, lig.grad)):
        assert float((ours - theirs).norm() / theirs.norm()) < 1e-5


def test_torch_sparse_path_equals_the_kernels(monkeypatch):
    """The code path used on GPUs gives the CPU kernels' results."""
    net = _random_network(30, 100, 7)
    model = sig.SignalingModel(net, seed=3)
    ligands = torch.rand(3, len(net.ligands), dtype=torch.float64)
    out = model(ligands).sum()
    out.backward()
    grads = [p.grad.clone() for p in (model.weights, model.bias)]
    model.zero_grad()
    monkeypatch.setattr(recurrent, "USE_KERNELS", False)
    out2 = model(ligands).sum()
    out2.backward()
    torch.testing.assert_close(out2, out)
    for g, p in zip(grads, (model.weights, model.bias)):
        torch.testing.assert_close(p.grad, g)


def test_colour_order_separates_neighbours():
    """No edge joins two nodes of one colour class, and the order is a permutation."""
    net = _random_network(300, 2000, 5)
    order, bounds = kernels.colour_order(net.sources, net.targets, net.n_nodes)
    assert sorted(order) == list(range(net.n_nodes)) and bounds[0] == 0 and bounds[-1] == net.n_nodes
    colour = np.empty(net.n_nodes, dtype=int)
    for c in range(len(bounds) - 1):
        colour[order[bounds[c]:bounds[c + 1]]] = c
    real = net.sources != net.targets
    assert np.all(colour[net.sources[real]] != colour[net.targets[real]])
    assert len(bounds) - 1 < 40


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    """Serial and multi-threaded kernels give bit-identical states and gradients (5 samples: 2 blocks)."""
    net = _random_network(400, 4000, 11)
    model = sig.SignalingModel(net, seed=2)
    ligands = torch.rand(5, len(net.ligands), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    results = []
    for parallel in (False, True):
        monkeypatch.setattr(recurrent, "_run_kernel", lambda name, problem, edges, minimum, call, p=parallel: call(p))
        model.zero_grad()
        y = model(ligands)
        (y ** 2).sum().backward()
        results.append((y.detach().clone(), model.weights.grad.clone(), model.bias.grad.clone()))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_chooser_follows_the_faster_variant_as_the_load_changes():
    """Simulated timings: parallel 0.6 (idle), then 30 (other work on the cores), then 0.6 again; serial 1."""
    from pycrn.signaling import threads

    chooser = threads.Chooser()
    cost = {False: 1.0, True: 0.6}
    used = []
    for call in range(3000):
        if call == 1000:
            cost[True] = 30.0
        if call == 2000:
            cost[True] = 0.6
        parallel = chooser.choose("k")
        chooser.record("k", parallel, cost[parallel])
        used.append((parallel, cost[parallel]))
    idle = [p for p, _ in used[10:1000]]
    loaded = used[1000:2000]
    assert sum(idle) / len(idle) > 0.95  # threads while they pay
    # Under load: serial after the first slow call, the slow variant re-timed ever more rarely.
    assert sum(p for p, _ in loaded[5:]) <= 8
    assert sum(c for _, c in loaded) / len(loaded) < 1.3 * cost[False]
    back = [p for p, _ in used[2000:]]
    assert sum(back[300:]) / len(back[300:]) > 0.95  # threads again once the machine is idle
    assert chooser.estimates("k")[1] == pytest.approx(0.6)


def _dispatchers(fn):
    """The numba dispatchers a kernel entry point uses (itself and those in its closure)."""
    if isinstance(fn, numba.core.dispatcher.Dispatcher):
        yield fn
        fn = fn.py_func
    for cell in fn.__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, numba.core.dispatcher.Dispatcher) or callable(getattr(value, "__code__", None)):
            yield from _dispatchers(value)


def test_kernel_variants_have_distinct_cache_keys():
    """numba's disk cache keys functions by name and line, not options: a parallel
    variant that shared its serial twin's key silently loaded the serial code."""
    keys = []
    for entry, parallel in ((kernels._forward_serial, False), (kernels._forward_parallel, True),
                            (kernels._adjoint_serial, False), (kernels._adjoint_parallel, True),
                            (kernels._jacobi_serial, False), (kernels._jacobi_parallel, True)):
        found = list(_dispatchers(entry))
        assert found and all(d.targetoptions.get("parallel", False) == parallel for d in found)
        keys += [(d.py_func.__qualname__, d.py_func.__code__.co_firstlineno) for d in found]
    assert len(keys) == len(set(keys)), keys


def _adjoint_problem(samples: int):
    """A converged forward pass on a 200-node network in the kernels' layout, with a random g: the pieces for
    checking an adjoint kernel, dense A, D and G (in node order) included."""
    net = _random_network(200, 1500, 4)
    model = sig.SignalingModel(net, seed=1)
    lay = recurrent.Structure(net).layout
    rng = np.random.default_rng(0)
    w = model.weights.detach().numpy()
    c = kernels.to_blocks(rng.random((samples, net.n_nodes)), lay.order)
    x, slope = np.empty_like(c), np.empty_like(c)
    kernels.forward(lay.indptr, lay.indices, w[lay.fedge], c, x, slope, 150, 0.01, 1e-12)
    g = kernels.to_blocks(0.01 * rng.standard_normal((samples, net.n_nodes)), lay.order)
    A = np.zeros((net.n_nodes, net.n_nodes))
    A[net.targets, net.sources] = w
    return (net, lay, w, slope, g, A, kernels.from_blocks(slope, samples, lay.rank),
            kernels.from_blocks(g, samples, lay.rank))


def _assert_solves(net, lay, mu, A, D, G, tol):
    """mu (kernel layout) solves (I - D A^T) mu = D g for every sample, to ``tol`` relative (summed)."""
    M = kernels.from_blocks(mu, len(D), lay.rank)
    for s in range(len(D)):
        exact = np.linalg.solve(np.eye(net.n_nodes) - D[s][:, None] * A.T, D[s] * G[s])
        assert np.abs(M[s] - exact).sum() < tol * np.abs(exact).sum()


def test_jacobi_adjoint_is_the_truncated_neumann_series():
    """n Jacobi iterations from 0 give sum_{k<n} (D A^T)^k D g (the authors' adjoint); run on, the solve itself.

    Serial and threaded variants agree bit for bit."""
    net, lay, w, slope, g, A, D, G = _adjoint_problem(5)
    for n in (1, 2, 7):
        mu = np.empty_like(g)
        assert kernels.jacobi_adjoint(lay.cptr, lay.ctargets, w[lay.cedge], slope, g, mu, n, 1.0, 0.0) == n
        M = kernels.from_blocks(mu, 5, lay.rank)
        for s in range(5):
            term, series = D[s] * G[s], np.zeros(net.n_nodes)
            for _ in range(n):
                series += term
                term = D[s] * (A.T @ term)
            np.testing.assert_allclose(M[s], series, rtol=1e-12, atol=1e-15)
    mu, mu_threads = np.empty_like(g), np.empty_like(g)
    its = kernels.jacobi_adjoint(lay.cptr, lay.ctargets, w[lay.cedge], slope, g, mu, 400, 1.0, 1e-12)
    assert its < 400 and np.abs(mu).max() < 1.0  # converged, and the clip was inactive
    kernels.jacobi_adjoint(lay.cptr, lay.ctargets, w[lay.cedge], slope, g, mu_threads, 400, 1.0, 1e-12, parallel=True)
    assert np.array_equal(mu, mu_threads)
    _assert_solves(net, lay, mu, A, D, G, 1e-9)


def test_jacobi_adjoint_equals_the_torch_path_where_the_state_has_not_converged(monkeypatch):
    """With 4 forward steps nothing has converged; the Jacobi kernels then give the torch path's gradient
    (Jacobi iterations, as on a GPU), while Gauss–Seidel's differs; with the clip active too (limit 1e-3)."""
    net = _random_network(30, 100, 7)
    ligands = torch.rand(3, len(net.ligands), dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def grads(adjoint, clip, kernels_on):
        monkeypatch.setattr(recurrent, "USE_KERNELS", kernels_on)
        model = sig.SignalingModel(net, seed=3, steps=4, tol=0.0, adjoint=adjoint, clip=clip)
        (model(ligands) ** 2).sum().backward()
        return model.weights.grad.clone(), model.bias.grad.clone()

    for clip in (1.0, 1e-3):
        torch_path = grads("jacobi", clip, False)
        for got, want in zip(grads("jacobi", clip, True), torch_path):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)
        assert float((grads("gauss-seidel", clip, True)[1] - torch_path[1]).abs().max()) > 1e-6
    with pytest.raises(ValueError, match="adjoint must be one of"):
        sig.SignalingModel(net, adjoint="newton")
    with pytest.raises(ValueError, match="clip must be a positive number"):
        sig.SignalingModel(net, clip=0)


def test_gauss_seidel_adjoint_solves_the_linear_system():
    """The CPU adjoint (Gauss–Seidel, colour order) solves (I - D A^T) mu = D g to its tolerance."""
    net, lay, w, slope, g, A, D, G = _adjoint_problem(3)
    mu = np.empty_like(g)
    sweeps = kernels.adjoint(lay.cptr, lay.ctargets, w[lay.cedge], slope, g, mu, lay.bounds, 150, 1.0, 1e-10)
    assert sweeps < 150 and np.abs(mu).max() < 1.0  # converged, and the clip was inactive
    _assert_solves(net, lay, mu, A, D, G, 1e-8)


@pytest.mark.parametrize("n, edges", [(12, 40), (260, 900)])
def test_spectral_radius_gradient_matches_finite_differences(n, edges):
    """Dense (n <= 200) and ARPACK paths; D = MML' at a state is held fixed, as in the loss."""
    net = _random_network(n, edges, seed=n)
    rng = np.random.default_rng(n)
    w = rng.normal(0, 0.5, net.n_edges)
    slope = rng.uniform(0.3, 1.0, net.n_nodes)
    rho, grad = sig.spectral_radius_and_gradient(net, w, slope)

    def dense_rho(weights):
        T = np.zeros((n, n))
        T[net.targets, net.sources] = weights * slope[net.targets]
        return np.max(np.abs(np.linalg.eigvals(T)))

    assert rho == pytest.approx(dense_rho(w), rel=1e-8)
    # The largest components (finite differences resolve about 1e-9 absolute).
    for k in np.argsort(-np.abs(grad))[:8]:
        h = 1e-6
        up, down = w.copy(), w.copy()
        up[k] += h
        down[k] -= h
        fd = (dense_rho(up) - dense_rho(down)) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("n", [12, 260])
def test_spectral_gradient_of_a_nearly_defective_eigenvalue_is_normalised_as_the_authors_do(n):
    """The block [[0, b], [c, 0]] (eigenvalues +-sqrt(bc), nearly defective for b << c) among weak edges:
    d rho / d b = sqrt(c / b) / 2 = 500. The exact gradient is returned unless ``normalize_above`` is given; the
    authors' code scales a gradient of norm above 10 to unit norm. The equal-magnitude pair +-rho also makes the
    left eigenvector's first ARPACK solve miss (n = 260), so the shift-invert solve is exercised."""
    rng = np.random.default_rng(n)
    names = [f"N{i}" for i in range(n)]
    pairs = {(0, 1), (1, 0)}
    while len(pairs) < 3 * n:
        s, t = (int(v) for v in rng.integers(2, n, 2))
        if s != t:
            pairs.add((s, t))
    edges = sorted(pairs)
    net = sig.SignalingNetwork.from_edges([(names[s], names[t], 0) for s, t in edges], names[2:4], names[-2:])
    index = {(net.nodes[net.sources[k]], net.nodes[net.targets[k]]): k for k in range(net.n_edges)}
    w = rng.normal(0, 0.002, net.n_edges)  # rho of the weak part about 0.01
    b, c = index[("N0", "N1")], index[("N1", "N0")]
    w[b], w[c] = 1e-4, 100.0
    rho, exact = sig.spectral_radius_and_gradient(net, w)
    assert rho == pytest.approx(0.1, rel=1e-3)
    assert exact[b] == pytest.approx(500.0, rel=1e-2) and np.linalg.norm(exact) > 10
    rho2, guarded = sig.spectral_radius_and_gradient(net, w, normalize_above=10.0)
    assert rho2 == rho
    np.testing.assert_allclose(guarded, exact / np.linalg.norm(exact), rtol=1e-12, atol=0)
    slope = rng.uniform(0.5, 1.0, net.n_nodes)
    _, exact_d = sig.spectral_radius_and_gradient(net, w, slope)
    _, guarded_d = sig.spectral_radius_and_gradient(net, w, slope, normalize_above=10.0)
    # The norm is taken before the chain rule through the fixed slopes, as in the authors' code.
    effective = exact_d / slope[net.targets]
    np.testing.assert_allclose(guarded_d, effective / np.linalg.norm(effective) * slope[net.targets], rtol=1e-12)
    _, unchanged = sig.spectral_radius_and_gradient(net, w, normalize_above=1e4)
    np.testing.assert_array_equal(unchanged, exact)


def test_spectral_radius_does_not_depend_on_earlier_calls():
    """ARPACK's default start vector comes from a generator that advances with every call in the process; the
    same matrix then gave results differing in the 12th digit, and training depended on what ran before."""
    net = _random_network(600, 3000, seed=3)
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.5, net.n_edges)
    slope = rng.uniform(0.3, 1.0, net.n_nodes)
    first = sig.spectral_radius_and_gradient(net, w, slope)
    sig.spectral_radius_and_gradient(net, rng.normal(0, 0.5, net.n_edges), slope)  # another call in between
    again = sig.spectral_radius_and_gradient(net, w, slope)
    assert first[0] == again[0] and np.array_equal(first[1], again[1])


def test_arpack_runs_with_one_blas_thread(monkeypatch):
    """OpenBLAS's threads spin while they wait: on a busy machine ARPACK on the ligand-screen network ran up to 1.8x
    slower with two BLAS threads than with one (benchmarks/bench_spectral_load.py)."""
    from threadpoolctl import threadpool_info

    from pycrn.signaling import spectral

    seen = []
    real_eigs = spectral.eigs

    def spy(*args, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return real_eigs(*args, **kwargs)

    monkeypatch.setattr(spectral, "eigs", spy)
    net = _random_network(300, 1200, seed=5)
    sig.spectral_radius_and_gradient(net, np.random.default_rng(5).normal(0, 0.5, net.n_edges))
    assert seen and all(threads == {1} for threads in seen)


def test_initialisation_follows_the_paper():
    net = datasets.kegg()
    model = sig.SignalingModel(net, seed=4)
    w = model.weights.detach().numpy()
    rho, _ = sig.spectral_radius_and_gradient(net, w)
    assert rho == pytest.approx(0.8, rel=1e-6)
    assert np.all(w[net.mode == INHIBITION] < 0) and np.all(w[net.mode != INHIBITION] > 0)
    ratio = np.abs(w) / np.abs(w).min()
    assert ratio.max() <= 2.0 + 1e-9  # u(0, 0.1) + 0.1, one common scale
    b = model.bias.detach().numpy()
    only = net.only_inhibited()
    assert only.any() and np.all(b[only] == 1.0) and np.all(b[~only] == 0.001)
    assert torch.all(model.output_scale == 1.2) and torch.all(model.input_scale == 3.0)


def test_parameter_table_round_trip(tmp_path):
    net = _random_network(25, 70, 11)
    model = sig.SignalingModel(net, seed=5)
    with torch.no_grad():
        model.bias.add_(0.1 * torch.randn(net.n_nodes, dtype=torch.float64))
    model.save_parameters(tmp_path / "p.txt")
    other = sig.SignalingModel(net, seed=99).load_parameters(tmp_path / "p.txt")
    x = torch.rand(5, len(net.ligands), dtype=torch.float64)
    torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)
    (tmp_path / "bad.txt").write_text("Source\tTarget\tType\tValue\nN0\tN1\tWeight\t2\n")
    with pytest.raises(ValueError, match=r"line 2: .*no edge N0 -> N1"):
        other.load_parameters(tmp_path / "bad.txt")
    torch.save(model.state_dict(), tmp_path / "m.pt")
    again = sig.SignalingModel(net)
    again.load_state_dict(torch.load(tmp_path / "m.pt"))
    torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_knockout_of_the_only_path_silences_the_tf():
    net = datasets.toy()
    model = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    ligands = np.array([[0.0, 1.0], [1.0, 1.0]])
    control = model(torch.as_tensor(ligands)).detach().numpy()
    delta = sig.knockout(model, ligands, "S2")
    assert delta.dims == ("node", "condition", "tf") and delta.shape == (1, 2, 1)
    # S2 is T1's only input: knocked out, S2 sits on MML's leaky segment
    # (about -0.05) and T1 near 0, so the change is about minus the control.
    assert np.all(np.abs(control + delta.values[0]) < 0.01) and np.all(control > 0.9)
    everything = sig.knockout(model, ligands)
    assert list(everything.node.values) == ["R1", "R2", "S1", "S2"]
    np.testing.assert_allclose(everything.sel(node="S2").values, delta.values[0])


def test_losses():
    net = datasets.toy()
    model = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    assert losses.sign_violation(model).item() == 0.0
    with torch.no_grad():
        model.weights[0] = -0.7  # L1 -> R1 is an activation
    assert losses.sign_violation(model).item() == pytest.approx(0.7)
    uniform = torch.linspace(0.01, 0.99, 20001, dtype=torch.float64)[:, None].repeat(1, 3)
    assert losses.uniformity(uniform).item() < 1e-8
    assert losses.uniformity(torch.full((50, 3), 0.5, dtype=torch.float64)).item() > 0.1
    assert losses.spectral_target(150) == pytest.approx(0.94, abs=0.001)


def test_fit_learns_the_toy_network_and_resumes_to_the_same_result(tmp_path):
    net = datasets.toy()
    reference = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    grid = np.array(np.meshgrid(np.linspace(0, 1, 8), np.linspace(0, 1, 8))).T.reshape(-1, 2)
    y = sig.generate(reference, grid)
    kw = dict(batch_size=8, lr=2e-2, restart_epochs=40, seed=3)

    def fresh():
        return sig.SignalingModel(net, seed=1)

    model = fresh()
    before = torch.nn.functional.mse_loss(model(torch.as_tensor(grid)), torch.as_tensor(y)).item()
    history = sig.fit(model, grid, y, epochs=24, **kw)
    after = torch.nn.functional.mse_loss(model(torch.as_tensor(grid)), torch.as_tensor(y)).item()
    assert len(history.mse) == 24 and after < 0.25 * before
    # Interrupted after 10 epochs, resumed to 24: the same parameters as one run.
    ck = tmp_path / "fit.ckpt"
    part = fresh()
    sig.fit(part, grid, y, epochs=10, checkpoint=ck, **kw)
    resumed = fresh()
    history2 = sig.fit(resumed, grid, y, epochs=24, checkpoint=ck, **kw)
    assert len(history2.mse) == 24
    for a, b in zip(resumed.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Resuming with another schedule would silently keep the checkpoint's: refused, naming both.
    for change in (dict(restart_epochs=20), dict(lr=1e-2), dict(batch_size=4)):
        with pytest.raises(ValueError, match="warm restarts every 320 mini-batches"):
            sig.fit(fresh(), grid, y, epochs=30, checkpoint=ck, **{**kw, **change})
    # ... and so is a model whose adjoint iteration differs from the checkpoint's (Gauss-Seidel, clip 1).
    for other in (dict(adjoint="jacobi"), dict(clip=5.0)):
        with pytest.raises(ValueError, match="was trained with the adjoint 'gauss-seidel', clip 1.0"):
            sig.fit(sig.SignalingModel(net, seed=1, **other), grid, y, epochs=30, checkpoint=ck, **kw)


def _authors_one_cycle(e, max_iter, max_height, start_height, end_height, peak):
    """The schedule as the authors' ligand-screen script defines it (their ``oneCycle``), written out independently."""
    phase = 0.95 * max_iter
    if e <= peak:
        return (max_height - start_height) * 0.5 * (np.cos(np.pi * (e / peak + 1)) + 1) + start_height
    if e <= phase:
        return (max_height - end_height) * 0.5 * (np.cos(np.pi * ((e - peak) / (phase - peak) + 2)) + 1) + end_height
    return end_height


def test_one_cycle_is_the_authors_schedule():
    cycle = sig.OneCycle(epochs=8000, peak=1000, start=0.1, end=0.01, reset_every=200)
    for e in (0, 1, 500, 999, 1000, 1001, 4000, 7599, 7600, 7601, 7999):
        assert cycle.rate(e, 1e-3) == pytest.approx(_authors_one_cycle(e, 8000, 1e-3, 1e-4, 1e-5, 1000), rel=1e-12)
    assert [e for e in range(1000) if cycle.resets_after(e)] == [200, 400, 600, 800]
    with pytest.raises(ValueError, match="peak"):
        sig.OneCycle(epochs=100, peak=96)
    with pytest.raises(ValueError, match="start"):
        sig.OneCycle(epochs=100, peak=10, start=0.0)
    with pytest.raises(ValueError, match="reset_every"):
        sig.OneCycle(epochs=100, peak=10, reset_every=0)


def test_fit_with_the_authors_recipe_follows_the_schedule_and_resumes_exactly(tmp_path):
    net = datasets.toy()
    reference = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    grid = np.array(np.meshgrid(np.linspace(0, 1, 6), np.linspace(0, 1, 6))).T.reshape(-1, 2)
    y = sig.generate(reference, grid)
    cycle = sig.OneCycle(epochs=20, peak=4, reset_every=3)
    kw = dict(batch_size=6, lr=2e-2, seed=5, schedule=cycle, weights=sig.LossWeights.ligand_screen())

    def fresh():
        return sig.SignalingModel(net, seed=2, initial_radius=0.7)

    assert sig.spectral_radius(net, fresh().weights).item() == pytest.approx(0.7, rel=1e-9)
    model = fresh()
    before = torch.nn.functional.mse_loss(model(torch.as_tensor(grid)), torch.as_tensor(y)).item()
    history = sig.fit(model, grid, y, epochs=20, **kw)
    after = torch.nn.functional.mse_loss(model(torch.as_tensor(grid)), torch.as_tensor(y)).item()
    assert after < 0.5 * before
    np.testing.assert_allclose(history.lr, [cycle.rate(e, 2e-2) for e in range(20)], rtol=1e-12)
    # The recorded terms add up to the loss; the authors' objective has no weight-not-zero term.
    total = np.array(history.mse) + sum(np.array(history.terms[name]) for name in training.TERMS)
    np.testing.assert_allclose(total, history.loss, rtol=1e-12)
    assert history.terms["nonzero"] == [0.0] * 20 and min(history.terms["output_scale"]) >= 0
    assert np.all(np.array(history.spectral_radius_max) >= np.array(history.spectral_radius) - 1e-15)
    # The Adam resets change the result: without them the parameters differ.
    other = fresh()
    sig.fit(other, grid, y, epochs=20, **{**kw, "schedule": sig.OneCycle(epochs=20, peak=4)})
    assert not torch.equal(other.weights, model.weights)
    # Interrupted after 7 epochs (between resets), resumed to 20: bit-identical to one run.
    ck = tmp_path / "cycle.ckpt"
    sig.fit(fresh(), grid, y, epochs=7, checkpoint=ck, **kw)
    resumed = fresh()
    sig.fit(resumed, grid, y, epochs=20, checkpoint=ck, **kw)
    for a, b in zip(resumed.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Another schedule, another peak rate, or the cosine schedule cannot silently continue this checkpoint.
    for change in (dict(schedule=sig.OneCycle(epochs=20, peak=5, reset_every=3)), dict(lr=1e-2), dict(schedule=None)):
        with pytest.raises(ValueError, match="one-cycle over 20 epochs peaking at epoch 4"):
            sig.fit(fresh(), grid, y, epochs=20, checkpoint=ck, **{**kw, **change})
    # Nor can other loss weights, e.g. the authors' without their spectral-gradient guard.
    unguarded = dataclasses.replace(sig.LossWeights.ligand_screen(), spectral_normalize_above=None)
    with pytest.raises(ValueError, match=r"other loss weights \(spectral_normalize_above 10.0 -> None\)"):
        sig.fit(fresh(), grid, y, epochs=20, checkpoint=ck, **{**kw, "weights": unguarded})
    # Nor another seed: the checkpoint's random stream would go on under the new seed's name.
    with pytest.raises(ValueError, match="continues a run with seed 5; this call asks for seed 6"):
        sig.fit(fresh(), grid, y, epochs=20, checkpoint=ck, **{**kw, "seed": 6})
    with pytest.raises(ValueError, match="past the end of the schedule"):
        sig.fit(fresh(), grid, y, epochs=21, **kw)
    with pytest.raises(ValueError, match="initial_radius"):
        sig.SignalingModel(net, initial_radius=1.0)


def test_ligand_screen_weights_are_the_authors_objective():
    net = datasets.toy()
    model = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    w = sig.LossWeights.ligand_screen()
    assert (w.l2, w.ligand_bias, w.nonzero, w.noise_fixed, w.uniform_high) == (1e-6, 1e-4, 0.0, 1e-3, 1 / 1.2)
    assert w.spectral_normalize_above == 10.0 and sig.LossWeights().spectral_normalize_above is None
    state = model.states(torch.tensor([[1.0, 0.5]], dtype=torch.float64))[0]
    barrier, rho = losses.spectral_barrier(model, state, w.spectral_k, w.spectral_precision, w.spectral_target)
    # The authors' barrier, 1e-3 * (exp(10 rho) - 1) / exp(9), up to its constant.
    assert w.spectral * barrier.item() == pytest.approx(1e-3 * np.exp(10 * rho) / np.exp(9), rel=1e-12)
    with torch.no_grad():
        model.output_scale.fill_(1.5)
    assert losses.output_scale(model).item() == pytest.approx(len(net.tfs) * 0.3**2)


def test_batch_objective_is_the_sum_of_its_terms_and_updates_the_cache():
    # The objective fit uses per mini-batch, against the terms composed here from losses' functions.
    net = datasets.toy()
    model = sig.SignalingModel(net).load_parameters(datasets.toy_parameters())
    w = sig.LossWeights.ligand_screen()
    x = torch.tensor([[1.0, 0.5], [0.0, 1.0], [0.3, 0.0]], dtype=torch.float64)
    y = torch.tensor([[0.2], [0.7], [0.1]], dtype=torch.float64)
    cache = torch.full((5, net.n_nodes), 0.25, dtype=torch.float64)
    index = torch.tensor([0, 3, 4])
    offset = 1e-3 * torch.randn(3, net.n_nodes, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss, mse, terms, rho = training.batch_objective(model, x, y, index, cache.clone(), 2, w, offset)
    states = model.states(x, bias_offset=offset)
    full = cache.clone()
    full[index] = states
    barrier, rho_direct = losses.spectral_barrier(model, states[2], w.spectral_k, w.spectral_precision,
                                                  w.spectral_target, w.spectral_normalize_above)
    expected = {"sign": w.sign * losses.sign_violation(model), "ligand_bias": w.ligand_bias * losses.ligand_bias(model),
                "l2": w.l2 * losses.l2(model), "nonzero": 0.0, "spectral": w.spectral * barrier,
                "uniformity": w.uniformity * losses.uniformity(full, w.uniform_low, w.uniform_high,
                                                               w.uniform_negative_max),
                "output_scale": w.output_scale * losses.output_scale(model)}
    assert mse.item() == pytest.approx(torch.nn.functional.mse_loss(model.output(states), y).item(), rel=1e-12)
    assert set(terms) == set(expected) and rho == pytest.approx(rho_direct, rel=1e-12)
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(float(value), rel=1e-10, abs=1e-18), name
    assert loss.item() == pytest.approx(mse.item() + sum(float(v) for v in terms.values()), rel=1e-12)
    # The cache keeps the batch's states (detached) in its rows and the others untouched.
    kept = cache.clone()
    training.batch_objective(model, x, y, index, kept, 2, w, offset)
    torch.testing.assert_close(kept[index], states.detach(), rtol=0, atol=1e-15)
    assert torch.equal(kept[[1, 2]], cache[[1, 2]]) and not kept[index].requires_grad


def test_bad_inputs_are_named():
    net = datasets.toy()
    model = sig.SignalingModel(net)
    with pytest.raises(ValueError, match=r"ligands must be \(samples, 2\)"):
        model(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.tensor([[np.nan, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="conditions"):
        sig.fit(model, np.zeros((4, 2)), np.zeros((5, 1)), epochs=1)
    with pytest.raises(TypeError, match="SignalingNetwork"):
        sig.SignalingModel("not a network")


def test_synthetic_conditions_and_reference_model():
    net = datasets.toy()
    x = sig.random_conditions(net, 50, 1, seed=2)
    assert x.shape == (50, 2) and np.all((x > 0).sum(axis=1) == 1)
    ref = sig.reference_model(net, iterations=20, conditions=30, ligands_per_condition=1, seed=0)
    w = ref.weights.detach().numpy()
    assert np.all(w[net.mode == ACTIVATION] >= 0) and np.all(w[net.mode == INHIBITION] <= 0)
    y = sig.generate(ref, x)
    assert y.shape == (50, 1) and np.all(np.isfinite(y))


def test_uniformity_with_cache_equals_the_full_computation():
    torch.manual_seed(0)
    cache = torch.rand(30, 6, dtype=torch.float64)
    batch = torch.rand(4, 6, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([3, 7, 8, 20])
    full = cache.clone()
    full[idx] = batch
    expected = losses.uniformity(full)
    got = losses.uniformity_with_cache(batch, cache, idx)
    torch.testing.assert_close(got, expected)
    (g1,) = torch.autograd.grad(expected, batch)
    (g2,) = torch.autograd.grad(got, batch)
    torch.testing.assert_close(g2, g1)


def test_parameter_summary_of_the_grading_benchmark():
    """The summary that sets pycrn's trained ligand-screen models next to the authors' reads the model right."""
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_models")
    net = datasets.toy()
    model = sig.SignalingModel(net, seed=3, initial_radius=0.7)
    ligands = np.array([[0.0, 0.0], [1.0, 0.5], [0.3, 1.0]])[:, : len(net.ligands)]
    par = bench.parameter_summary(model, ligands)
    assert par["spectral_radius"] == pytest.approx(0.7, rel=1e-6)  # the initialisation scales rho(A) to this
    w = model.weights.detach().numpy()
    assert par["sum_w2"] == pytest.approx(float(np.sum(w ** 2))) and par["max_abs_w"] == float(np.abs(w).max())
    assert par["sum_b2"] == pytest.approx(float(np.sum(model.bias.detach().numpy() ** 2)))
    assert par["output_scale"] == pytest.approx(1.2)
    with torch.no_grad():
        x = model.states(torch.as_tensor(ligands)).numpy()
    assert par["mean_state"] == pytest.approx(float(x.mean())) and par["off_share"] == float(np.mean(np.abs(x) < 1e-3))


def test_paired_comparison_of_the_grading_benchmark():
    """The per-fold comparison with the authors' models pairs each fold's r and counts the failed conditions."""
    from benchmark_modules import load_benchmark
    from scipy import stats

    bench = load_benchmark("ligand_screen_authors_models")
    theirs = [0.85, 0.77, 0.83, 0.94, 0.51]
    ours = [0.39, 0.68, 0.86, 0.57, 0.45]
    floor = [0.5, 0.6, 0.7, 0.8, 0.2]
    rows = [dict(fold=k, held_out_r=t, condition_r={"a": t, "b": -0.2 if k == 4 else 0.5, "c": 0.9},
                 baseline_r={"co-treatment mean": f},
                 ours={8000: dict(held_out_r=o, condition_r={"a": -0.3 if k in (0, 3) else o, "b": 0.1, "c": 0.9})})
            for k, (t, o, f) in enumerate(zip(theirs, ours, floor))]
    rows.append(dict(fold=9, held_out_r=0.9, condition_r={"a": 0.9}, baseline_r={"co-treatment mean": 0.0},
                     ours={4000: dict(held_out_r=0.1)}))  # no 8000
    p = bench.paired_comparison(rows, 8000)
    assert p["folds"] == 5 and p["behind"] == 4 and p["ahead"] == 1 and p["conditions"] == 15
    assert p["mean_ours"] == pytest.approx(np.mean(ours)) and p["mean_authors"] == pytest.approx(np.mean(theirs))
    assert p["wilcoxon_p"] == pytest.approx(stats.wilcoxon(ours, theirs).pvalue)
    assert (p["negative_ours"], p["negative_authors"]) == (2, 1)
    assert p["fisher_p"] == pytest.approx(stats.fisher_exact([[2, 13], [1, 14]]).pvalue)
    assert p["mean_co_treatment_baseline"] == pytest.approx(np.mean(floor))  # over the same five folds
    assert bench.paired_comparison(rows, 2000) is None  # no fold has that epoch count


def test_baselines_of_the_grading_benchmark():
    """The no-network predictors: each TF's training mean, and that mean over the training conditions that share
    the held-out condition's status for the most frequent ligand (the co-treatment, LPS in the ligand screen)."""
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_models")
    # Ligand 1 (the co-treatment) is in four of six conditions, ligand 0 in two.
    ligands = np.array([[1, 0], [1, 1], [0, 1], [0, 1], [0, 1], [0, 0]], dtype=float)
    tfs = np.arange(12, dtype=float).reshape(6, 2) ** 2
    test, train = np.array([0, 2]), np.array([1, 3, 4, 5])
    got = bench.baselines(ligands, tfs, test, train)
    mean = tfs[train].mean(axis=0)
    np.testing.assert_allclose(got["training mean"], [mean, mean])
    np.testing.assert_allclose(got["co-treatment mean"][0], tfs[5])  # without it: condition 5 alone
    np.testing.assert_allclose(got["co-treatment mean"][1], tfs[[1, 3, 4]].mean(axis=0))
    # A group the training set lacks falls back to the training mean.
    got = bench.baselines(ligands, tfs, np.array([5]), np.array([1, 2, 3, 4]))
    np.testing.assert_allclose(got["co-treatment mean"][0], tfs[[1, 2, 3, 4]].mean(axis=0))


def test_authors_training_runner_patches_and_links(tmp_path):
    """The runner of the authors' training script adds its resume and checkpoint hooks exactly once, refuses a
    script it does not recognise, and never lets their run write into a published model."""
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_training")
    script = "x = 1\n" + bench.LOOP + "    pass\n" + bench.AFTER_EPOCH + "\n" + bench.SAVE
    patched = bench.patched_source(script)
    assert patched.count("_pycrn_resume(globals())") == 1 and patched.count("_pycrn_after_epoch(globals(), e)") == 1
    assert patched.count("_pycrn_save(model, fileName)") == 1 and "torch.save" not in patched
    # The hook runs after their print, inside the loop body (same indentation).
    assert bench.AFTER_EPOCH + "    _pycrn_after_epoch(globals(), e)\n" in patched
    for broken in (script.replace(bench.LOOP, ""), script + bench.SAVE):
        with pytest.raises(SystemExit, match="exactly once"):
            bench.patched_source(broken)
    reference = tmp_path / "Model"
    (reference / "CVligandScreen").mkdir(parents=True)
    (reference / "data").mkdir()
    (reference / "bionetwork.py").write_text("")
    for name in ("MML_model_3.pt", "MML_model_4.pt", "MML_sramble_model_3.pt", "conditions.tsv"):
        (reference / "CVligandScreen" / name).write_text("published")
    work = tmp_path / "out" / "fold3"
    assert bench.prepare(reference, work, 3, scramble=False) == "MML_model_3.pt"
    assert (work / "bionetwork.py").is_symlink() and (work / "data").is_symlink()
    assert not (work / "CVligandScreen" / "MML_model_3.pt").exists()  # theirs to write, not linked
    assert (work / "CVligandScreen" / "MML_sramble_model_3.pt").is_symlink()
    assert (work / "CVligandScreen" / "MML_model_4.pt").is_symlink()
    (work / "CVligandScreen" / "MML_model_3.pt").write_text("new")
    assert (reference / "CVligandScreen" / "MML_model_3.pt").read_text() == "published"
    assert bench.prepare(reference, work, 3, scramble=False) == "MML_model_3.pt"  # a resume prepares again
    # The scrambled control cannot share the data run's folder: there its published model is linked.
    with pytest.raises(SystemExit, match="links to a published model"):
        bench.prepare(reference, work, 3, scramble=True)
    assert bench.prepare(reference, tmp_path / "out" / "fold3_scrambled", 3, scramble=True) == "MML_sramble_model_3.pt"


def test_authors_training_tracer_records_without_changing_the_draws(tmp_path):
    """``--trace`` wraps their network's forward, their spectral term and their optimizer's step: it records the
    batch, the noise, the spectral pick, the gradients and the parameters after each step, and the run it records
    is the run without it (their spectral pick is numpy's next draw, which the tracer must not consume)."""
    import types

    import pandas
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_training")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = torch.nn.Parameter(torch.tensor([0.3, -0.2, 0.5], dtype=torch.double))
            self.bias = torch.nn.Parameter(torch.full((4, 1), 0.1, dtype=torch.double))
            self.networkList = np.array([[1, 2, 3], [0, 1, 2]])

        def forward(self, x):
            return torch.tanh(x + self.bias.T) * (1 + self.weights.sum())

    class Out(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = torch.nn.Parameter(torch.ones(2, dtype=torch.double))

        def forward(self, full):
            return full[:, 2:] * self.weights

    def run(trace: bool):
        torch.manual_seed(0)
        np.random.seed(0)
        model = torch.nn.Module()
        model.network, model.projectionLayer = Net(), Out()
        model.inputLayer = lambda x: torch.cat([3 * x, torch.zeros(x.shape[0], 2, dtype=torch.double)], dim=1)
        picks = []

        def spectral_loss(network, states, weights, expFactor=10):
            k = np.random.randint(states.shape[0])
            picks.append(k)
            return 1e-2 * (weights * states[k, :3]).sum() ** 2, None

        x = torch.tensor(np.random.default_rng(1).random((4, 2)))
        ns = dict(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.05), X=x, Y=torch.ones(4, 2).double(),
                  bionetwork=types.SimpleNamespace(spectralLoss=spectral_loss), nodeNames=["a", "b", "c", "d"],
                  inName=["a", "b"], outName=["c", "d"], curState=0.5 * torch.ones(4, 4, dtype=torch.double),
                  ligandInput=pandas.DataFrame(index=["p", "q", "r", "s"]))
        tracer = bench.Tracer(tmp_path / "trace", 2) if trace else None
        if trace:
            tracer.install(ns)
        drawn = []
        with pytest.raises(bench.TraceDone) if trace else contextlib.nullcontext():
            for e in range(2):  # their loop's body, in its order
                for index in (torch.tensor([0, 2]), torch.tensor([3, 1])):
                    ns.update(dataIndex=index, dataIn=x[index])
                    ns["optimizer"].zero_grad()
                    noise = 1e-3 * torch.randn(len(index), 4, dtype=torch.double)
                    full = model.network(model.inputLayer(ns["dataIn"]) + noise)
                    loss = ((model.projectionLayer(full) - ns["Y"][index]) ** 2).mean()
                    loss = loss + ns["bionetwork"].spectralLoss(model.network, full.detach(), model.network.weights)[0]
                    loss.backward()
                    grads = [p.grad.clone() for p in (model.network.weights, model.network.bias)]
                    ns["optimizer"].step()
                    drawn.append(dict(index=index, noise=noise, grads=grads, weights=model.network.weights.detach().clone()))
                if trace:
                    tracer.end_epoch(e)
        return model, drawn, picks

    plain, drawn, picks = run(False)
    traced, _, traced_picks = run(True)
    assert traced_picks == picks  # the same draws with the tracer as without it
    assert torch.equal(traced.network.weights, plain.network.weights)
    meta = np.load(tmp_path / "trace" / "meta.npz")
    assert list(meta["node_names"]) == ["a", "b", "c", "d"] and list(meta["conditions"]) == ["p", "q", "r", "s"]
    np.testing.assert_array_equal(meta["initial_weights"], [0.3, -0.2, 0.5])
    for e in range(2):
        got = np.load(tmp_path / "trace" / f"epoch_{e:04d}.npz")
        for i in range(2):
            want = drawn[2 * e + i]
            np.testing.assert_array_equal(got["index"][i], want["index"].numpy())
            np.testing.assert_allclose(got["noise"][i], want["noise"].numpy(), rtol=0, atol=1e-15)
            np.testing.assert_array_equal(got["grad_weights"][i], want["grads"][0].numpy())
            np.testing.assert_array_equal(got["grad_bias"][i], want["grads"][1].numpy())
            np.testing.assert_array_equal(got["after_weights"][i], want["weights"].numpy())
        np.testing.assert_array_equal(got["pick"], picks[2 * e:2 * e + 2])
        np.testing.assert_array_equal(got["fresh"], [e == 0, False])
        np.testing.assert_array_equal(got["lr"], [0.05, 0.05])


def test_lockstep_replay_maps_a_trace_onto_pycrn(tmp_path):
    """The lockstep benchmark maps a trace in another code's node, edge, TF and condition order onto pycrn: a trace
    written by pycrn itself in a shuffled order is replayed to rounding, one step at a time and free running, and
    a wrong TF order is caught."""
    import types
    import warnings

    from benchmark_modules import load_benchmark

    lock = load_benchmark("ligand_screen_lockstep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net, ligands, tfs, conditions = datasets.ligand_screen()
    names = list(net.nodes)
    tf_names = [names[i] for i in net.tfs]
    d = types.SimpleNamespace(net=net, ligands=ligands, tfs=tfs, names=names, tf_names=tf_names,
                              row={c: i for i, c in enumerate(conditions)})
    rng = np.random.default_rng(1)
    nodes, edges, tf_order = (rng.permutation(n) for n in (net.n_nodes, net.n_edges, len(net.tfs)))
    position = np.argsort(nodes)  # their index of each pycrn node
    rows = rng.permutation(len(conditions))[:10]
    model = sig.SignalingModel(net, steps=150, initial_radius=0.7, adjoint="jacobi", clip=5.0, seed=3)

    def theirs(w, b, p):
        return dict(weights=w.detach().numpy()[edges].copy(), bias=b.detach().numpy()[nodes].reshape(-1, 1).copy(),
                    projection=p.detach().numpy()[tf_order].copy())

    start = theirs(model.weights, model.bias, model.output_scale)
    meta = dict(node_names=np.array(names)[nodes], out_names=np.array(tf_names)[tf_order],
                network_list=np.array([position[net.targets[edges]], position[net.sources[edges]]]),
                conditions=np.array(conditions)[rows], y=tfs[rows][:, tf_order], state0=np.full((10, net.n_nodes), 0.5),
                **{f"initial_{k}": v for k, v in start.items()})
    x, y = torch.as_tensor(ligands[rows]), torch.as_tensor(tfs[rows])
    cache = torch.full((10, net.n_nodes), 0.5, dtype=torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=lock.SCHEDULE.rate(0, lock.LR))
    record: dict = {k: [] for k in ("index", "noise", "pick", "lr", "fresh")}
    for i, idx in enumerate(([0, 3, 5, 7, 9], [1, 2, 4, 6, 8])):
        noise = rng.normal(0.0, 1e-3, (5, net.n_nodes))  # in their node order
        offset = torch.zeros(5, net.n_nodes, dtype=torch.float64)
        offset[:, nodes] = torch.as_tensor(noise)
        model.zero_grad()
        loss, *_ = training.batch_objective(model, x[idx], y[idx], torch.tensor(idx), cache, i,
                                            sig.LossWeights.ligand_screen(), offset)
        loss.backward()
        for k, v in theirs(model.weights.grad, model.bias.grad, model.output_scale.grad).items():
            record.setdefault(f"grad_{k}", []).append(v)
        opt.step()
        for k, v in theirs(model.weights, model.bias, model.output_scale).items():
            record.setdefault(f"after_{k}", []).append(v)
        for k, v in dict(index=idx, noise=noise, pick=i, lr=opt.param_groups[0]["lr"], fresh=i == 0).items():
            record[k].append(v)
    trace = tmp_path / "epoch_0000.npz"
    np.savez(trace, **{k: np.array(v) for k, v in record.items()})

    replay = lock.Pycrn(d, meta)
    assert replay.y_mismatch == 0.0
    for row in lock.teacher_forced({"pycrn": replay}, meta, [trace])["pycrn"]:
        assert max(row[k] for k in lock.GROUPS) < 1e-12
    after = lock.difference(lock.free_run(replay, meta, [trace])[-1], lock.recorded(dict(np.load(trace)), -1))
    assert max(after.values()) < 1e-12
    wrong = lock.Pycrn(d, dict(meta, out_names=np.array(tf_names)))  # TFs taken in pycrn's order: not the trace's
    assert max(r["projection"] for r in lock.teacher_forced({"pycrn": wrong}, meta, [trace])["pycrn"]) > 1e-3


def test_authors_training_starts_from_a_pycrn_checkpoint_by_name(tmp_path):
    """``--start-from`` puts a pycrn checkpoint's parameters and state cache into their script's model, matched by
    node, edge, TF and condition name whatever their order, and returns the checkpoint's epoch."""
    import types
    import warnings

    import pandas
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_training")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net, _, _, conditions = datasets.ligand_screen()
    names = list(net.nodes)
    fold = 5
    test = set(datasets.ligand_screen_folds()[fold])
    train = [c for c in conditions if c not in test]
    model = sig.SignalingModel(net, seed=7)
    with torch.no_grad():
        model.bias.uniform_(-1.0, 1.0)
        model.output_scale.uniform_(0.5, 2.0)
    cache = torch.rand(len(train), net.n_nodes, dtype=torch.float64)
    path = tmp_path / "fold5_data.pt"
    torch.save(dict(model=model.state_dict(), cache=cache, epoch=1450), path)
    rng = np.random.default_rng(2)
    nodes, edges, tf_order, rows = (rng.permutation(n) for n in (net.n_nodes, net.n_edges, len(net.tfs), len(train)))
    position = np.argsort(nodes)
    theirs = types.SimpleNamespace(
        network=types.SimpleNamespace(
            weights=torch.zeros(net.n_edges, dtype=torch.float64), bias=torch.zeros(net.n_nodes, 1, dtype=torch.float64),
            networkList=np.array([position[net.targets[edges]], position[net.sources[edges]]])),
        projectionLayer=types.SimpleNamespace(weights=torch.zeros(len(net.tfs), dtype=torch.float64)))
    ns = dict(model=theirs, nodeNames=[names[i] for i in nodes], outName=[names[net.tfs[j]] for j in tf_order],
              ligandInput=pandas.DataFrame(index=[train[r] for r in rows]),
              curState=torch.zeros(len(train), net.n_nodes, dtype=torch.float64))
    assert bench.start_from_pycrn(ns, path, fold) == 1450
    np.testing.assert_array_equal(theirs.network.weights.numpy(), model.weights.detach().numpy()[edges])
    np.testing.assert_array_equal(theirs.network.bias.numpy().ravel(), model.bias.detach().numpy()[nodes])
    np.testing.assert_array_equal(theirs.projectionLayer.weights.numpy(), model.output_scale.detach().numpy()[tf_order])
    np.testing.assert_array_equal(ns["curState"].numpy(), cache.numpy()[rows][:, nodes])
    with pytest.raises(SystemExit, match="trains on 100"):
        torch.save(dict(model=model.state_dict(), cache=cache[:99], epoch=1450), path)
        bench.start_from_pycrn(ns, path, fold)


def test_held_out_check_and_unfitted_conditions_of_the_grading_benchmark():
    """The leak check tells a held-out condition (fitted worse than by the models that trained on it) from a
    leaked one (fitted as well); ``unfitted`` lists the training conditions below r = 0.5."""
    from benchmark_modules import load_benchmark

    bench = load_benchmark("ligand_screen_authors_models")
    rng = np.random.default_rng(0)
    tfs = rng.random((6, 20))
    folds = [["c0", "c1"], ["c2", "c3"], ["c4", "c5"]]
    row = {f"c{i}": i for i in range(6)}
    # Each model fits its training conditions to 0.01 and its held-out ones to 0.2, except that model 2 has
    # condition c5 fitted as though it had trained on it.
    fits = {}
    for k, names in enumerate(folds):
        y = tfs + 0.01 * rng.standard_normal(tfs.shape)
        for name in names:
            if (k, name) != (2, "c5"):
                y[row[name]] = tfs[row[name]] + 0.2 * rng.standard_normal(20)
        fits[k] = y
    check = bench.held_out_against_training(fits, folds, row, tfs)
    by = {c["condition"]: c for c in check["conditions"]}
    assert all(by[n]["ratio"] > 10 and by[n]["better"] == 2 for n in ("c0", "c1", "c2", "c3", "c4"))
    assert by["c5"]["ratio"] < 1.5 and by["c5"]["better"] < 2
    assert check["worst_of_all"] == 5 and check["below_1_5"] == 1
    assert bench.held_out_against_training({0: fits[0]}, folds, row, tfs) is None  # nothing to compare with

    y = tfs.copy()
    y[1] = tfs[1][::-1]  # an unrelated profile: r far below 0.5
    low = bench.unfitted(y[:3], tfs[:3], ["a", "b", "c"])
    assert list(low) == ["b"] and low["b"] == pytest.approx(np.corrcoef(y[1], tfs[1])[0, 1])
