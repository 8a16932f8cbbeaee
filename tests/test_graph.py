"""Tests of adlib.graph: traced graphs, stored values, node-by-node passes, pictures."""

import re

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib import graph
from adlib.engine import ANS, defjvp, defvjp, primitive
from adlib.graph import dot
from adlib.numpy.linalg import LUFactor

SEED = 73021


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


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
    with pytest.raises(ad.ShapeError, match="names has 1 entries but f was called with 2"):
        graph.trace(y_sin_x, 0.5, 2.0, names=("a",))
    with pytest.raises(ad.DTypeError, match="input 'y' has dtype int64.*argnums"):
        graph.trace(y_sin_x, 0.5, 2)
    with pytest.raises(ad.ShapeError, match="argnums=5 but f was called with 2 arguments"):
        graph.trace(y_sin_x, 0.5, 2.0, argnums=5)
    g = graph.trace(y_sin_x, 0.5, 2.0)
    with pytest.raises(graph.UnknownNodeError, match="no node 'cos'.*'sin'"):
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
    with pytest.raises(ad.TracingError, match="'scaled_sin': it is a custom_vjp function"):
        g.forward_pass((1.0, 0.0))


def test_pass_argument_errors():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    with pytest.raises(ad.ShapeError, match="got 1 tangents but 'y_sin_x' has 2 traced"):
        g.forward_pass((1.0,))
    with pytest.raises(ad.ShapeError, match="tangent for input 'x' has shape \\(2,\\)"):
        g.forward_pass((np.ones(2), 1.0))
    with pytest.raises(graph.UnknownNodeError, match="\\['z'\\] are not inputs"):
        g.forward_pass({"z": 1.0})
    assert g.forward_pass({"x": 1.0}).outputs == pytest.approx(2.0 * np.cos(0.5))
    v = graph.trace(lambda x: anp.sin(x), np.ones(3))
    with pytest.raises(ad.ShapeError, match="does not return a single scalar"):
        v.reverse_pass()
    with pytest.raises(ad.ShapeError, match="cotangent for output 'out' has shape \\(2,\\)"):
        v.reverse_pass(np.ones(2))




# ------------------------------------------- primitives of any number of arrays
def einsum_loss(A, B, v):
    return anp.sum(anp.einsum("ij,jk,k->i", A, B, v) ** 2)


def stack_and_concatenate(x, y):
    s = anp.stack([x, anp.sin(y), x * y], axis=0)
    c = anp.concatenate([x, y ** 2, anp.tanh(x)], axis=0)
    return anp.sum(s ** 2) + anp.sum(c * c[::-1])


def test_forward_and_reverse_passes_through_einsum(rng):
    """The JVP term of one operand of a varargs primitive (it crashed before)."""
    args = (rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4))
    g, fw, rv = check_passes(einsum_loss, args, rng)
    [einsum] = [n for n in g.ops if n.name == "einsum"]
    assert keys(einsum.parents) == ["A", "B", "v"]
    # each operand's term is the JVP with only that operand perturbed
    xdot = [rng.standard_normal(np.shape(a)) for a in args]
    fw = g.forward_pass(tuple(xdot))
    for e, term in fw.contributions(einsum):
        only = [t if k == e.slot else np.zeros_like(t) for k, t in enumerate(xdot)]
        ref = ad.jvp(lambda *a: anp.einsum("ij,jk,k->i", *a), args, tuple(only))[1]
        np.testing.assert_allclose(term, ref, rtol=1e-12)


def test_forward_and_reverse_passes_through_stack_and_concatenate(rng):
    args = (rng.standard_normal(3), rng.standard_normal(3))
    g, fw, rv = check_passes(stack_and_concatenate, args, rng)
    names = [n.name for n in g.ops]
    assert "stack" in names and "concatenate" in names
    assert len(g["stack"].parents) == 3 and len(g["concatenate"].parents) == 3


@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
def test_varargs_graphs_draw_in_every_mode(mode, rng):
    g = graph.trace(stack_and_concatenate, rng.standard_normal(3), rng.standard_normal(3))
    assert "concatenate" in graph.draw(g, mode=mode).svg
    if mode is not None:
        assert len(graph.animate(g, mode=mode, max_frames=6)) == 6


# ------------------------------------- what is stored comes from the rules
def test_stored_values_follow_the_reads_each_rule_declares():
    """A new primitive: its declared reads decide what is stored, else everything."""
    @primitive
    def scale(x, c):
        return x * c

    defjvp(scale, lambda t, ans, x, c: t * c)
    defvjp(scale, lambda g, ans, x, c: g * c, reads=[(1,)])
    c = np.array([2.0, 3.0])

    def f(x):
        return anp.sum(scale(x, c))
    assert stored(graph.trace(f, np.ones(2))) == [("c", ["scale"])]
    defvjp(scale, lambda g, ans, x, c: g * c, reads=[(ANS,)])    # a (wrong) claim
    assert stored(graph.trace(f, np.ones(2))) == [("scale", ["scale"])]
    defvjp(scale, lambda g, ans, x, c: g * c)                     # nothing declared
    assert stored(graph.trace(f, np.ones(2))) == [("x", ["scale"]), ("scale", ["scale"]),
                                                   ("c", ["scale"])]


# ------------------------------------------------------------------ pictures
def fills(source):
    return re.findall(r'fillcolor="(#[0-9a-f]{6})"', source)


@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
def test_drawing_is_deterministic_scalable_svg(mode):
    g = graph.trace(fan_out, 0.7)
    d1, d2 = graph.draw(g, mode=mode), graph.draw(graph.trace(fan_out, 0.7), mode=mode)
    assert d1.svg == d2.svg and d1._repr_html_() == d2._repr_html_()
    svg = d1.svg
    assert svg.startswith("<svg ") and 'width="100%"' in svg and "viewBox=" in svg
    assert not re.search(r'\sid="|<!--|<\?xml|graphviz version', svg)
    assert 'role="img"' in svg and f"<title>{d1.alt}</title>" in svg


def test_network_drawing_text_is_large_enough_in_the_column(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    for mode in (None, "forward", "reverse"):
        svg = graph.draw(g, mode=mode).svg
        assert dot.min_font_px(svg, 784) >= 11, mode      # the book's text column
        assert dot.min_font_px(svg, 360) >= 8, mode       # a phone, 400 px wide
        width = float(re.search(r'viewBox="[\d. -]+? [\d.]+ ([\d.]+)', svg).group(1))
        height = float(re.search(r'viewBox="[\d. -]+? [\d.]+ [\d.]+ ([\d.]+)', svg).group(1))
        assert height > width            # top to bottom: taller than wide


def test_min_font_px_measures_the_smallest_text():
    svg = ('<svg width="100%" style="max-width: 400px" viewBox="0.00 0.00 300.00 90.00">'
           '<text font-size="12.00">a</text><text font-size="9.00">b</text></svg>')
    assert dot.min_font_px(svg, 784) == pytest.approx(9 * 400 / 300)
    assert dot.min_font_px(svg, 200) == pytest.approx(9 * 200 / 300)


def test_reverse_drawing_shows_accumulation_and_stored_values():
    x = 0.7
    g = graph.trace(fan_out, x)
    d = graph.draw(g, mode="reverse")
    total = f"{2 * x + np.cos(x):.3g}"
    assert "x̄ = x̄₁ + x̄₂ + x̄₃" in d.svg and f"= {total}" in d.svg
    assert f"x̄₁ = {np.cos(x):.3g}" in d.svg      # sin's contribution arrives first
    n_stored = len(g.stored_values())
    assert fills(d.dot).count(dot.STORED) == n_stored == 1
    assert fills(graph.draw(g).dot).count(dot.STORED) == 0      # only in reverse mode


def test_network_drawing_marks_stored_values_including_data(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    d = graph.draw(g, mode="reverse")
    labels = [sv.label for sv in g.stored_values()]
    assert {"W2", "tanh", "x"} <= set(labels)
    assert fills(d.dot).count(dot.STORED) == len(labels)
    assert "W̄₁ ∈ ℝ⁴ˣ³" in d.svg


def test_forward_drawing_labels_and_symbols():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    d = graph.draw(g, mode="forward", tangents=(1.0, 0.0), symbols={"sin": "s"})
    assert f"s\u0307 = {np.cos(0.5):.3g}" in d.svg and "y\u0307 = 0" in d.svg


def frame_geometry(svg):
    """Where every text is: equal across frames means one layout."""
    return re.findall(r'<text[^>]*\sx="([-\d.]+)" y="([-\d.]+)"', svg)


@pytest.mark.parametrize("mode, n_frames", [("forward", 3), ("reverse", 7)])
def test_step_through_frames_share_one_layout(mode, n_frames):
    g = graph.trace(y_sin_x, 0.5, 2.0)
    st = graph.animate(g, mode=mode)
    # forward: inputs, sin, multiply (+ output); reverse: 3 forward-sweep frames, then
    # seed, multiply, sin, inputs
    assert len(st) == n_frames
    shapes = [frame_geometry(svg) for _, svg in st.frames]
    assert all(s == shapes[0] for s in shapes) and shapes[0]
    assert len({svg for _, svg in st.frames}) == n_frames     # yet every frame differs
    html = st._repr_html_()
    assert html == graph.animate(g, mode=mode)._repr_html_()
    assert html.count('class="adlib-step"') == n_frames
    assert 'data-action="play"' in html and 'data-action="next"' in html


def test_step_through_reveals_values_in_order():
    g = graph.trace(y_sin_x, 0.5, 2.0)
    st = graph.animate(g, mode="forward", tangents=(1.0, 0.0))
    term = f"{np.cos(0.5):.3g}"           # the term on the edge x -> sin
    shown = [bool(re.search(rf'fill="{dot.FORWARD}"[^>]*>{term}<', svg))
             for _, svg in st.frames]
    assert shown == [False, True, True]


def test_step_through_respects_max_frames(rng):
    point = network_point(rng)
    g = graph.trace(network_loss, *point, argnums=(0, 1, 2, 3))
    assert len(graph.animate(g, mode="reverse")) == 15     # 21 steps merged into 15
    assert len(graph.animate(g, mode="reverse", max_frames=5)) == 5
    html = graph.animation_html(g, mode="forward", max_frames=4).data
    assert html.count('class="adlib-step"') == 4


def test_bad_mode_and_missing_graphviz(monkeypatch):
    g = graph.trace(y_sin_x, 0.5, 2.0)
    with pytest.raises(graph.GraphArgumentError, match="'forward' or 'reverse', got 'back'"):
        graph.animate(g, mode="back")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(dot.GraphvizMissingError, match="apt-get install graphviz"):
        graph.draw(g)


def test_saved_drawing_is_a_standalone_svg_file(tmp_path):
    import xml.etree.ElementTree as ET
    d = graph.draw(graph.trace(y_sin_x, 0.5, 2.0), mode="reverse")
    d.save(tmp_path / "g.svg")
    root = ET.parse(tmp_path / "g.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "multiply" in texts and "y_sin_x" in texts
