"""Tests of adlib.graph: traced graphs, stored values, node-by-node passes, pictures."""

import base64
import gc
import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")   # headless; set before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import adlib as ad  # noqa: E402
import adlib.numpy as anp  # noqa: E402
from adlib import graph  # noqa: E402
from adlib.engine import _dense  # noqa: E402
from adlib.numpy.linalg import LUFactor  # noqa: E402

SEED = 73021


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture(autouse=True)
def no_figures_left_open():
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, f"figures left open: {sorted(leaked)}"


# ------------------------------------------------------------------ functions
def y_sin_x(x, y):
    return y * anp.sin(x)


def fan_out(x):
    return x * x + anp.sin(x)


def network_loss(W1, b1, W2, b2, x, y):
    h = anp.tanh(W1 @ x + b1)
    return anp.mean((W2 @ h + b2 - y) ** 2)


def network_point(rng):
    return (rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4)),
            rng.standard_normal(2), rng.standard_normal(3), rng.standard_normal(2))


def make_composition(rng):
    A = rng.standard_normal((3, 3))

    def h(x):
        return anp.tanh(A @ x)

    def g(u):
        return anp.sin(u) * u

    def g_of_h(x):
        return g(h(x))
    return g_of_h, A


@ad.custom_vjp
def scaled_sin(x, y):
    return y * anp.sin(x)


def scaled_sin_fwd(x, y):
    return scaled_sin(x, y), (np.cos(x), np.sin(x), y)


def scaled_sin_bwd(res, g):
    c, s, y = res
    return y * c * g, s * g


scaled_sin.defvjp(scaled_sin_fwd, scaled_sin_bwd)


@ad.custom_jvp
def scaled_sin_j(x, y):
    return y * anp.sin(x)


@scaled_sin_j.defjvp
def scaled_sin_j_jvp(primals, tangents):
    (x, y), (xdot, ydot) = primals, tangents
    return scaled_sin_j(x, y), y * anp.cos(x) * xdot + anp.sin(x) * ydot


def uses_custom_vjp(x, y):
    return anp.exp(scaled_sin(x, y)) + x


def uses_custom_jvp(x, y):
    return anp.exp(scaled_sin_j(x, y)) + x


WEIGHTS = np.array([1.0, 2.0, 3.0])


def eig_loss(S):
    d, V = anp.linalg.eigh(S)          # V[:, 0] ** 2 does not depend on the sign of V[:, 0]
    return anp.sum(d * d) + anp.sum(WEIGHTS * V[:, 0] ** 2)


def symmetric(rng, n):
    G = rng.standard_normal((n, n))
    return G + G.T


def central_difference(f, args, direction, eps=1e-6):
    plus = f(*[a + eps * d for a, d in zip(args, direction)])
    minus = f(*[a - eps * d for a, d in zip(args, direction)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


def keys(nodes):
    return [n.key for n in nodes]


# ------------------------------------------------------------------ structure
def test_y_sin_x_graph_structure():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    assert keys(g.nodes) == ["x", "y", "sin", "multiply", "y_sin_x"]
    assert [n.kind for n in g.nodes] == ["input", "input", "op", "op", "output"]
    assert [(e.parent.key, e.child.key) for e in g.edges] == [
        ("x", "sin"), ("y", "multiply"), ("sin", "multiply"), ("multiply", "y_sin_x")]
    assert len(g.nodes) == 5 and len(g.edges) == 4
    assert g["sin"].prim is anp.sin and g["sin"].shape == ()
    assert g["sin"].value == pytest.approx(np.sin(0.5))
    assert g["multiply"].value == pytest.approx(2.0 * np.sin(0.5))
    assert keys(g["multiply"].parents) == ["y", "sin"]
    assert keys(g.topological_order()) == keys(g.nodes)
    assert repr(g) == "Graph(y_sin_x: 2 inputs, 2 operations, 1 outputs, 4 edges)"


def test_network_graph_order_shapes_and_data(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    assert keys(g.inputs) == ["W1", "b1", "W2", "b2"]
    # mean is sum times 1/n in adlib.numpy; ** 2 takes the square path
    assert [n.name for n in g.ops] == ["matmul", "add", "tanh", "matmul", "add", "subtract",
                                       "square", "sum", "multiply"]
    assert [n.shape for n in g.ops] == [(4,), (4,), (4,), (2,), (2,), (2,), (2,), (), ()]
    assert keys(g.outputs) == ["network_loss"]
    for e in g.edges:
        assert e.parent.index < e.child.index
    # the data x and y are not inputs: they are constants of the operations using them
    first_matmul, subtract = g["matmul"], g["subtract"]
    assert first_matmul.const_names == {1: "x"} and first_matmul.constants[1] is point[4]
    assert subtract.const_names == {1: "y"}
    assert g.outputs[0].value == pytest.approx(network_loss(*point))


def test_operations_in_evaluation_order():
    def f(x):
        return anp.cos(x) + anp.sin(x) * anp.exp(x)
    g = graph.trace(f, 0.3)
    assert [n.name for n in g.ops] == ["cos", "sin", "exp", "multiply", "add"]
    assert keys(g.nodes) == ["x", "cos", "sin", "exp", "multiply", "add", "f"]


def test_repeated_names_get_unique_keys(rng):
    g_of_h, _ = make_composition(rng)
    g = graph.trace(lambda x: anp.sin(anp.sin(x)), 0.4)
    assert keys(g.ops) == ["sin", "sin_2"] and keys(g.outputs) == ["out"]
    g2 = graph.trace(g_of_h, rng.standard_normal(3))
    assert keys(g2.nodes) == ["x", "matmul", "tanh", "sin", "multiply", "g_of_h"]
    assert g2["matmul"].const_names == {0: "A"}


def test_names_pytrees_and_several_outputs():
    def f(params, *rest):
        return params["w"] * rest[0], anp.sin(rest[1])
    g = graph.trace(f, {"w": 2.0}, 0.5, 0.25)
    assert keys(g.inputs) == ["params['w']", "rest[0]", "rest[1]"]
    assert keys(g.outputs) == ["f[0]", "f[1]"]
    g2 = graph.trace(y_sin_x, 0.5, 2.0, names=("a", "b"), output_names=("z",))
    assert keys(g2.nodes) == ["a", "b", "sin", "multiply", "z"]


def test_trace_errors_name_the_problem():
    with pytest.raises(ValueError, match="names has 1 entries but f was called with 2"):
        graph.trace(y_sin_x, 0.5, 2.0, names=("a",))
    with pytest.raises(TypeError, match="input 'y' has dtype int64.*argnums"):
        graph.trace(y_sin_x, 0.5, 2)
    with pytest.raises(ValueError, match="argnums=5 but f was called with 2 arguments"):
        graph.trace(y_sin_x, 0.5, 2.0, argnums=5)
    g = graph.trace(y_sin_x, 0.5, 2.0)
    with pytest.raises(KeyError, match="no node 'cos'.*'sin'"):
        g.node("cos")


# ------------------------------------------------------------- stored values
def stored(g):
    return [(sv.label, keys(sv.needed_by)) for sv in g.stored_values()]


def test_stored_values_y_sin_x():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    # sin's VJP reads x; multiply's VJP reads both operands: y and sin(x)
    assert stored(g) == [("x", ["sin"]), ("y", ["multiply"]), ("sin", ["multiply"])]
    assert [sv.source for sv in g.stored_values()] == [g["x"], g["y"], g["sin"]]


def test_stored_values_answers_operands_and_nothing(rng):
    assert stored(graph.trace(lambda x: anp.exp(x), 0.3)) == [("exp", ["exp"])]
    assert stored(graph.trace(lambda x: anp.tanh(x), 0.3)) == [("tanh", ["tanh"])]
    assert stored(graph.trace(lambda x, y: x + y, 0.3, 0.4)) == []
    A, v = rng.standard_normal((2, 3)), rng.standard_normal(3)
    assert stored(graph.trace(lambda A, v: A @ v, A, v)) == [("A", ["matmul"]),
                                                               ("v", ["matmul"])]
    # only A is traced: the VJP for A needs v (data), never A itself
    g = graph.trace(lambda A, v: A @ v, A, v, argnums=0)
    [sv] = g.stored_values()
    assert sv.label == "v" and sv.source is None and sv.value is v
    # fan-out: x is stored once, for both operations that read it
    assert stored(graph.trace(fan_out, 0.7)) == [("x", ["multiply", "sin"])]
    # solve keeps its answer and the LU factors of A, not A itself
    M, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal(3)
    g = graph.trace(lambda A, b: anp.sum(anp.linalg.solve(A, b)), M, b)
    assert stored(g) == [("solve", ["solve"]), ("LUFactor", ["solve"])]
    assert isinstance(g.stored_values()[1].value, LUFactor)


def test_stored_values_of_custom_rules():
    g = graph.trace(uses_custom_vjp, 0.5, 2.0)
    labels = stored(g)
    # the residuals (cos x, sin x, y): y is an input, the other two live inside the rule
    assert labels == [("y", ["scaled_sin"]), ("exp", ["exp"]),
                      ("scaled_sin residual 0", ["scaled_sin"]),
                      ("scaled_sin residual 1", ["scaled_sin"])]
    res = [sv.value for sv in g.stored_values() if sv.source is None]
    assert res[0] == pytest.approx(np.cos(0.5)) and res[1] == pytest.approx(np.sin(0.5))
    # a custom_jvp node is transposed at its primal inputs, so it keeps them
    g2 = graph.trace(uses_custom_jvp, 0.5, 2.0)
    assert stored(g2) == [("x", ["scaled_sin_j"]), ("y", ["scaled_sin_j"]), ("exp", ["exp"])]


# ---- the table VJP_READS, checked against the rules themselves -------------
def _u(rng, shape, lo=0.2, hi=0.8):
    return rng.uniform(lo, hi, shape)


def _spd(rng, n):
    G = rng.standard_normal((n, n))
    return G @ G.T + n * np.eye(n)


def _samples(rng):
    """name -> (args, kwargs, {position: replacement that must change a reading rule})."""
    x, y = _u(rng, 3), _u(rng, 3)
    M, N = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    A, b = _spd(rng, 3) + rng.standard_normal((3, 3)), rng.standard_normal(3)
    lu_other = LUFactor(_spd(rng, 3))
    samples = {name: ((x, y), {}, {}) for name in ("add", "subtract", "multiply", "divide",
                                                    "power")}
    tie_x, tie_y = np.array([0.5, 0.3, 0.7]), np.array([0.5, 0.6, 0.1])   # a tie at 0
    samples["maximum"] = samples["minimum"] = ((tie_x, tie_y), {}, {})
    samples["where"] = ((np.array([True, False, True]), x, y), {},
                        {0: np.array([False, True, True])})
    for name in ("negative", "exp", "expm1", "sqrt", "reciprocal", "tan", "tanh", "log",
                 "log1p", "square", "sin", "cos", "arcsin", "arccos", "arctan", "sinh",
                 "cosh"):
        samples[name] = ((x,), {}, {})
    mixed = np.array([-0.5, 0.3, 0.7])
    samples["abs"] = ((mixed,), {}, {0: -mixed})
    samples["clip"] = ((np.array([0.2, 0.45, 0.7]), 0.3, 0.6), {}, {1: 0.1, 2: 0.8})
    X = _u(rng, (2, 3))
    for name in ("sum", "prod", "max", "min"):
        samples[name] = ((X,), {"axis": 1}, {})
    samples["reshape"] = ((X, (3, 2)), {}, {})
    samples["transpose"] = ((X,), {"axes": (1, 0)}, {})
    samples["swapaxes"] = ((X, 0, 1), {}, {})
    samples["expand_dims"] = ((X, 1), {}, {})
    samples["squeeze"] = ((X[:, :1],), {"axis": 1}, {})
    samples["broadcast_to"] = ((x, (2, 3)), {}, {})
    samples["getitem"] = ((X, (slice(None), 1)), {}, {})
    samples["untake"] = ((x[:2], (slice(None), 1), (2, 3)), {}, {})
    for name in ("triu", "tril", "flip"):
        samples[name] = ((X,), {}, {})
    samples["diag"] = ((A,), {}, {})
    samples["trace"] = ((A,), {}, {})
    samples["concatenate"] = ((x, y), {"axis": 0}, {})
    samples["stack"] = ((x, y), {"axis": 0}, {})
    samples["matmul"] = ((M, N), {}, {})
    samples["einsum"] = (("ij,jk->ik", M, N), {}, {})
    samples["inv"] = ((A,), {}, {})
    samples["solve"] = samples["solve_T"] = ((A, LUFactor(A), b), {}, {1: lu_other})
    samples["det"] = samples["logabsdet"] = ((A,), {}, {})
    samples["cholesky"] = ((_spd(rng, 3),), {}, {})
    samples["norm"] = ((x,), {}, {})
    samples["spectral_norm"] = ((M,), {}, {})
    return samples


def _run_vjp_rule(prim, i, g, ans, args, kwargs):
    return _dense(_run_vjp_rule_raw(prim, i, g, ans, args, kwargs))


def _run_vjp_rule_raw(prim, i, g, ans, args, kwargs):
    if prim.varargs:
        return prim.vjps[0](i, g, ans, *args, **kwargs)
    return prim.vjps[i](g, ans, *args, **kwargs)


def _entry_for(prim, i, n_args):
    entry = graph.VJP_READS[prim.name]
    if entry == "none":
        return ()
    if entry == "others":
        return tuple(j for j in range(1, n_args) if j != i)
    return entry[i]


PRIMS = {p.name: p for p in graph._numpy_primitives()}


def test_vjp_reads_covers_every_primitive(rng):
    assert set(PRIMS) == set(graph.VJP_READS) == set(_samples(rng))


@pytest.mark.parametrize("name", sorted(PRIMS))
def test_vjp_reads_matches_the_rule(name, rng):
    """A value the table says is not read can be NaN; a value it says is read matters."""
    prim = PRIMS[name]
    args, kwargs, replacements = _samples(rng)[name]
    np.seterr(invalid="ignore", divide="ignore")   # NaN inputs are the point here
    ans = prim.fun(*args, **kwargs)
    g = rng.standard_normal(np.shape(ans))
    diff = [i for i in range(len(args))
            if (prim.varargs and i >= 1 and not isinstance(args[i], str))
            or (not prim.varargs and i < len(prim.vjps) and prim.vjps[i] is not None)]
    if prim.varargs and name != "einsum":
        diff = list(range(len(args)))
    assert diff, f"no differentiable argument found for {name}"
    for i in diff:
        reads = _entry_for(prim, i, len(args))
        base = np.asarray(_run_vjp_rule(prim, i, g, ans, args, kwargs))
        slots = [j for j, a in enumerate(args) if isinstance(a, (np.ndarray, float))]
        for j in slots + [graph.ANS]:
            def swapped(v):
                if j == graph.ANS:
                    return args, v
                new = list(args)
                new[j] = v
                return tuple(new), ans
            current = ans if j == graph.ANS else args[j]
            if j in reads:
                repl = replacements.get(j)
                if repl is None:
                    repl = np.asarray(current) + rng.uniform(0.05, 0.15, np.shape(current))
                a2, ans2 = swapped(repl)
                out = np.asarray(_run_vjp_rule(prim, i, g, ans2, a2, kwargs))
                assert not np.allclose(out, base), \
                    f"{name}: rule {i} should read {j} but ignores it"
            else:
                a2, ans2 = swapped(np.full(np.shape(current), np.nan))
                out = np.asarray(_run_vjp_rule(prim, i, g, ans2, a2, kwargs))
                np.testing.assert_allclose(out, base, err_msg=f"{name}: rule {i} reads {j}")
        for j, repl in replacements.items():      # non-array arguments (LU factors)
            if j in reads and not isinstance(args[j], (np.ndarray, float)):
                new = list(args)
                new[j] = repl
                out = np.asarray(_run_vjp_rule(prim, i, g, ans, tuple(new), kwargs))
                assert not np.allclose(out, base), f"{name}: rule {i} ignores argument {j}"


# ------------------------------------------------------------ the two passes
def check_passes(f, args, rng, argnums=None, cotangent=None, symmetric_tangents=False):
    """forward_pass/reverse_pass agree with ad.jvp, ad.vjp and finite differences."""
    nums = range(len(args)) if argnums is None else argnums
    traced = [args[i] for i in nums]

    def f_traced(*xs):
        full = list(args)
        for i, v in zip(nums, xs):
            full[i] = v
        return f(*full)
    g = graph.trace(f, *args, argnums=argnums)
    xdot = [rng.standard_normal(np.shape(a)) for a in traced]
    if symmetric_tangents:                 # eigh assumes symmetric matrices
        xdot = [t + t.T for t in xdot]
    fw = g.forward_pass(tuple(xdot))
    _, tangent = ad.jvp(f_traced, tuple(traced), tuple(xdot))
    np.testing.assert_allclose(fw.outputs, tangent, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fw.outputs, central_difference(f_traced, traced, xdot),
                               rtol=1e-6, atol=1e-8)
    y = f_traced(*traced)
    ybar = rng.standard_normal(np.shape(y)) if cotangent is None else cotangent
    rv = g.reverse_pass(ybar)
    _, pullback = ad.vjp(f_traced, *traced)
    for mine, theirs in zip(rv.inputs, pullback(ybar)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    # dot-product test between the two passes: <ybar, J xdot> = <J^T ybar, xdot>
    lhs = np.sum(np.asarray(ybar) * np.asarray(fw.outputs))
    rhs = sum(np.sum(xb * xd) for xb, xd in zip(rv.inputs, xdot))
    assert lhs == pytest.approx(rhs, rel=1e-10)
    return g, fw, rv


def test_passes_y_sin_x(rng):
    g, fw, rv = check_passes(y_sin_x, (0.5, 2.0), rng)
    x, y = 0.5, 2.0
    seed = rv["y_sin_x"]
    assert rv["sin"] == pytest.approx(y * seed)           # multiply sends y * zbar to sin
    assert rv["x"] == pytest.approx(y * np.cos(x) * seed)
    assert rv["y"] == pytest.approx(np.sin(x) * seed)


def test_passes_network(rng):
    point = network_point(rng)
    g, fw, rv = check_passes(network_loss, point, rng, argnums=(0, 1, 2, 3))
    assert rv["W1"].shape == (4, 3) and fw["tanh"].shape == (4,)


def test_passes_composition_on_vectors(rng):
    g_of_h, _ = make_composition(rng)
    check_passes(g_of_h, (rng.standard_normal(3),), rng)


def test_passes_custom_jvp_node(rng):
    g, fw, _ = check_passes(uses_custom_jvp, (0.5, 2.0), rng)
    [(e1, t1), (e2, t2)] = fw.contributions("scaled_sin_j")
    assert (e1.parent.key, e2.parent.key) == ("x", "y")
    assert t1 + t2 == pytest.approx(fw["scaled_sin_j"])


def test_passes_multi_output_custom_rule(rng):
    S = symmetric(rng, 3)
    g, fw, rv = check_passes(eig_loss, (S,), rng, symmetric_tangents=True)
    call = g["_eigh"]
    assert call.is_custom and call.shape == ((3,), (3, 3))
    assert [(n.key, n.selector) for n in g.ops if n.selector is not None] == [
        ("_eigh[0]", 0), ("_eigh[1]", 1)]


def test_reverse_pass_defaults_to_one_for_scalar_outputs():
    g = graph.trace(fan_out, 0.7)
    assert g.reverse_pass().inputs[0] == pytest.approx(ad.grad(fan_out)(0.7))


def test_fan_out_accumulates_three_contributions():
    x = 0.7
    g = graph.trace(fan_out, x)
    rv = g.reverse_pass(1.0)
    terms = rv.contributions("x")
    # arrival order: sin is processed before multiply (reverse topological order)
    assert [(e.child.key, e.slot) for e, _ in terms] == [("sin", 0), ("multiply", 0),
                                                          ("multiply", 1)]
    np.testing.assert_allclose([v for _, v in terms], [np.cos(x), x, x])
    assert rv["x"] == pytest.approx(sum(v for _, v in terms))
    assert rv["x"] == pytest.approx(2 * x + np.cos(x))
    assert f"= {np.cos(x):.3g} + {x:.3g} + {x:.3g}" in rv.summary()


def test_custom_vjp_is_one_node_and_reverse_only():
    g = graph.trace(uses_custom_vjp, 0.5, 2.0)
    node = g["scaled_sin"]
    assert node.is_custom and node.prim is None and node.name == "scaled_sin"
    assert [n.name for n in g.ops] == ["scaled_sin", "exp", "add"]   # no sin inside
    assert keys(node.parents) == ["x", "y"]
    grads = ad.grad(uses_custom_vjp, (0, 1))(0.5, 2.0)
    np.testing.assert_allclose(g.reverse_pass().inputs, grads)
    with pytest.raises(TypeError, match="'scaled_sin': it is a custom_vjp function"):
        g.forward_pass((1.0, 0.0))


def test_pass_argument_errors():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    with pytest.raises(ValueError, match="got 1 tangents but 'y_sin_x' has 2 traced"):
        g.forward_pass((1.0,))
    with pytest.raises(ValueError, match="tangent for input 'x' has shape \\(2,\\)"):
        g.forward_pass((np.ones(2), 1.0))
    with pytest.raises(KeyError, match="\\['z'\\] are not inputs"):
        g.forward_pass({"z": 1.0})
    assert g.forward_pass({"x": 1.0}).outputs == pytest.approx(2.0 * np.cos(0.5))
    v = graph.trace(lambda x: anp.sin(x), np.ones(3))
    with pytest.raises(ValueError, match="does not return a single scalar"):
        v.reverse_pass()
    with pytest.raises(ValueError, match="cotangent for output 'out' has shape \\(2,\\)"):
        v.reverse_pass(np.ones(2))


# ------------------------------------------------------------------ pictures
def png_bytes(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
def test_draw_runs_headless_and_is_deterministic(mode, rng):
    g = graph.trace(fan_out, 0.7)
    fig1 = graph.draw(g, mode=mode)
    fig2 = graph.draw(g, mode=mode)
    assert isinstance(fig1, matplotlib.figure.Figure)
    assert tuple(fig1.get_size_inches()) == tuple(fig2.get_size_inches())
    assert png_bytes(fig1) == png_bytes(fig2)
    plt.close(fig1)
    plt.close(fig2)


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_reverse_picture_shows_accumulation_and_stored_values():
    x = 0.7
    g = graph.trace(fan_out, x)
    fig = graph.draw(g, mode="reverse")
    shown = texts(fig)
    total = f"{2 * x + np.cos(x):.3g}"
    assert r"$\bar{x} = \bar{x}_{1} + \bar{x}_{2} + \bar{x}_{3}$" + "\n= " + total in shown
    assert r"$\bar{x}_{1}$ = " + f"{np.cos(x):.3g}" in shown
    halos = [p for p in fig.axes[0].patches
             if matplotlib.colors.to_hex(p.get_facecolor()) == graph._STORED]
    assert len(halos) == len(g.stored_values()) == 1
    plt.close(fig)


def test_network_picture_marks_stored_values_including_data(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    fig = graph.draw(g, mode="reverse")
    halos = [p for p in fig.axes[0].patches
             if matplotlib.colors.to_hex(p.get_facecolor()) == graph._STORED]
    # W2, tanh, subtract (for square), the data x (for W1's matmul), 1/n (for the mean
    # of n = 2 squared errors)
    assert [sv.label for sv in g.stored_values()] == ["W2", "tanh", "subtract", "x", "0.5"]
    assert len(halos) == 5
    assert r"$\bar{W}_{1}$ ∈ ℝ$^{4\times 3}$" in texts(fig)
    plt.close(fig)


def test_draw_into_given_axes_and_forward_labels():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    fig, ax = plt.subplots(figsize=(6, 3))
    assert graph.draw(g, ax=ax, mode="forward", tangents=(1.0, 0.0),
                      symbols={"sin": "s"}) is fig
    shown = texts(fig)
    assert r"$\dot{s}$ = " + f"{np.cos(0.5):.3g}" in shown
    assert r"$\dot{y}$ = 0" in shown
    plt.close(fig)


def frames_of(html):
    found = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)", html)
    return [base64.b64decode(f.replace("\\\n", "")) for f in found]


@pytest.mark.parametrize("mode, n_frames", [("forward", 3), ("reverse", 7)])
def test_animation_is_deterministic_and_small(mode, n_frames):
    g = graph.trace(y_sin_x, 0.5, 2.0)
    h1 = graph.animation_html(g, mode=mode).data
    h2 = graph.animation_html(g, mode=mode).data
    f1, f2 = frames_of(h1), frames_of(h2)
    # forward: inputs, sin, multiply (+ output); reverse: 3 forward-sweep frames, then
    # seed, multiply, sin, inputs
    assert len(f1) == n_frames
    assert f1 == f2
    assert re.sub(r"[0-9a-f]{32}", "ANIMID", h1) == re.sub(r"[0-9a-f]{32}", "ANIMID", h2)
    assert len(h1) < 1_500_000


def test_animation_respects_max_frames(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    # 9 operations: unmerged, the reverse animation would need 2 * (9 + 2) - 1 = 21 frames
    anim = graph.animate(g, mode="reverse")
    n_default = len(list(anim.new_frame_seq()))
    plt.close(anim._fig)
    with warnings.catch_warnings():            # deleted without being played
        warnings.simplefilter("ignore")
        del anim
        gc.collect()
    assert n_default == 15
    html = graph.animation_html(g, mode="reverse", max_frames=5).data
    assert len(frames_of(html)) == 5
