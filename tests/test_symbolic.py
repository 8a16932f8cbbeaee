"""Tests for adlib.symbolic: derived rules are checked against independent computations.

Independent means: SymPy's Jacobian of explicit-entry matrices (``verify_*``), central
finite differences and the dot-product test with general random seeds (``adlib.testing``),
or plain NumPy/SciPy reference implementations. A derived rule is never compared with
itself, and every verifier is shown to reject a wrong rule.
"""
import contextlib
import dataclasses
import doctest
import html
import importlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import sympy as sp

import adlib.symbolic as sym
from adlib.errors import AdlibError
from adlib.symbolic import (EPS, bar, check_numerically, dot, implicit_pullback,
                            implicit_pushforward, pullback, pushforward, to_custom_jvp,
                            to_custom_vjp, to_function, verify_pullback, verify_pushforward)

n = sp.Symbol("n", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
A, B, Q, X, P = (sp.MatrixSymbol(s, n, n) for s in "ABQXP")
x, b = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("b", n, 1)
xs, ys = sp.symbols("x y")

RNG_SEED = 20240611


def rng():
    return np.random.default_rng(RNG_SEED)


def same(a, b):
    """Equal as expressions (sums may list their terms in a different order)."""
    d = (a - b).doit()
    return d == 0 or isinstance(d, sp.ZeroMatrix)


# ---- notation ----------------------------------------------------------------------------

def test_tangent_and_cotangent_names_render_in_book_notation():
    assert dot(xs).name == "xdot" and sp.latex(dot(xs)) == r"\dot{x}"
    assert sp.latex(bar(sp.Symbol("y"))) == r"\bar{y}"
    Ad = dot(A)
    assert isinstance(Ad, sp.MatrixSymbol) and Ad.shape == A.shape and sp.latex(Ad) == r"\dot{A}"
    assert sp.latex(dot(sp.Symbol("x_1"))) == r"\dot{x}_{1}"
    xe = sp.Matrix(sp.symbols("x:2"))
    assert [sp.latex(e) for e in dot(xe)] == [r"\dot{x}_{0}", r"\dot{x}_{1}"]
    assert sym.latex(A.T.inverse()) == r"A^{-\mathsf T}"
    assert sym.latex(A.T) == r"A^{\mathsf T}"
    assert sym.latex(sp.Determinant(A)) == r"\det\left(A\right)"
    assert same(A * x + B * x, B * x + A * x) and not same(A * x, A.T * x)  # the test helper


# ---- pushforwards (Part 3) ------------------------------------------------------------------

@pytest.mark.parametrize("f, inputs, textbook", [
    (A * x, [A, x], lambda: A * dot(x) + dot(A) * x),
    (A * B, [A, B], lambda: dot(A) * B + A * dot(B)),
    (X.inverse(), [X], lambda: -X.I * dot(X) * X.I),
    (x.T * Q * x, [x, Q], lambda: dot(x).T * Q * x + x.T * dot(Q) * x + x.T * Q * dot(x)),
    (sp.log(sp.Determinant(A)), [A], lambda: sp.Trace(A.I * dot(A))),
    (sp.Determinant(A), [A], lambda: sp.Determinant(A) * sp.Trace(A.I * dot(A))),
    (A.T.inverse() * b, [A, b], None),
    (sp.Trace(A * B * A.T), [A, B], None),
], ids=["matvec", "matmul", "inverse", "quadratic", "logdet", "det", "solve_T", "trace"])
def test_matrix_symbol_pushforward_matches_sympy_jacobian(f, inputs, textbook):
    pf = pushforward(f, inputs)
    assert pf.verify(sizes=(2, 3))
    if textbook is not None:  # the derivation lands on the formula the book states
        assert same(pf.tangent_out, textbook())


def test_scalar_pushforward_y_sin_x():
    pf = pushforward(ys * sp.sin(xs), [xs, ys])
    expected = ys * sp.cos(xs) * dot(xs) + sp.sin(xs) * dot(ys)
    assert sp.simplify(pf.tangent_out - expected) == 0
    # independent: SymPy's own derivative along the tangent direction
    t = sp.Symbol("t")
    along = (ys + t * dot(ys)) * sp.sin(xs + t * dot(xs))
    assert sp.simplify(pf.tangent_out - sp.diff(along, t).subs(t, 0)) == 0
    assert pf.verify()


def test_callable_and_expression_give_the_same_pushforward():
    from_callable = pushforward(lambda a, v: a * v, [A, x])
    assert from_callable.tangent_out == pushforward(A * x, [A, x]).tangent_out


def test_explicit_matrix_pushforward_of_inverse_matches_jacobian():
    Xe = sp.Matrix(2, 2, sp.symbols("x:2:2"))
    pf = pushforward(lambda M: M.inv(), [Xe])
    assert pf.verify()
    # and it agrees entrywise with the matrix-symbol rule -X^-1 Xdot X^-1 on the same entries
    Xi = Xe.inv()
    rule = -Xi * sp.Matrix(dot(Xe)) * Xi
    assert sp.simplify(sp.Matrix(pf.tangent_out) - rule) == sp.zeros(2, 2)


def test_rectangular_sizes_are_set_per_dimension():
    Am, xm = sp.MatrixSymbol("A", m, n), sp.MatrixSymbol("x", n, 1)
    pf = pushforward(Am * xm, [Am, xm])
    assert pf.verify(sizes=[{m: 2, n: 3}, {m: 3, n: 2}])


def test_first_order_series_of_inverse_determinant_and_logdet():
    """The expansions behind the rules, checked on explicit 3x3 matrices."""
    Xe = sp.Matrix(3, 3, lambda i, j: sp.Rational((2 * i + 3 * j) % 7 - 3, 1 + (i * j) % 3)
                   + (4 if i == j else 0))
    Ye = sp.Matrix(3, 3, lambda i, j: sp.Rational((5 * i + j) % 4 - 2, 1 + j))
    e = EPS
    inv1 = ((Xe + e * Ye).inv()).applyfunc(lambda t: sp.diff(t, e).subs(e, 0))
    assert inv1 == -Xe.inv() * Ye * Xe.inv()
    det1 = sp.diff((Xe + e * Ye).det(), e).subs(e, 0)
    assert det1 == Xe.det() * (Xe.inv() * Ye).trace()
    logdet1 = sp.diff(sp.log((Xe + e * Ye).det()), e).subs(e, 0)
    assert sp.nsimplify(logdet1 - (Xe.inv() * Ye).trace()) == 0


def test_wrong_pushforwards_are_rejected():
    assert not verify_pushforward(A * x, [A, x], 2 * (A * dot(x)) + dot(A) * x)
    assert not verify_pushforward(X.inverse(), [X], X.I * dot(X) * X.I)  # sign
    assert not verify_pushforward(X.inverse(), [X], -X.I * X.I * dot(X))  # order
    assert not verify_pushforward(sp.log(sp.Determinant(A)), [A], sp.Trace(A.I.T * dot(A)))
    assert not verify_pushforward(ys * sp.sin(xs), [xs, ys], ys * sp.cos(xs) * dot(xs))


# ---- pullbacks (Part 4) ---------------------------------------------------------------------

def test_matvec_pullback():
    pb = pullback(A * x, [A, x])
    ybar = pb.cotangent_out
    assert same(pb.cotangents[A], ybar * x.T) and same(pb.cotangents[x], A.T * ybar)
    assert pb.verify(sizes=(2, 3))


def test_inverse_pullback_is_minus_Yt_Ybar_Yt():
    pb = pullback(X.inverse(), X)
    Y, Ybar = X.I, pb.cotangent_out
    assert same(pb.cotangents[X], -Y.T * Ybar * Y.T)
    assert pb.verify(sizes=(2, 3))


def test_quadratic_form_pullback_with_symmetric_Q():
    pb = pullback(sp.Rational(1, 2) * x.T * Q * x, [x, Q])
    assert pb.verify(sizes=(2, 3))
    # on symmetric explicit matrices xbar reduces to ybar Q x
    q = sp.symbols("q:3")
    Qs = sp.Matrix([[q[0], q[1]], [q[1], q[2]]])
    xe = sp.Matrix(sp.symbols("u:2"))
    xbar = pb.cotangents[x].subs({Q: Qs, x: xe}).doit()
    assert sp.simplify(sp.Matrix(xbar) - pb.cotangent_out * Qs * xe) == sp.zeros(2, 1)


def test_logdet_pullback():
    pb = pullback(sp.log(sp.Determinant(A)), A)
    assert same(pb.cotangents[A], pb.cotangent_out * A.T.I)
    assert pb.verify(sizes=(2, 3))


def test_scalar_pullback_y_sin_x_has_one_cotangent_per_input():
    pb = pullback(ys * sp.sin(xs), [xs, ys])
    zbar = pb.cotangent_out
    assert list(pb.cotangents) == [xs, ys]
    assert sp.simplify(pb.cotangents[xs] - zbar * ys * sp.cos(xs)) == 0
    assert sp.simplify(pb.cotangents[ys] - zbar * sp.sin(xs)) == 0
    assert pb.verify()


def test_explicit_matrix_pullback_reads_off_entries():
    Xe = sp.Matrix(2, 2, sp.symbols("x:2:2"))
    pb = pullback(lambda M: M.inv(), [Xe])
    assert pb.verify()


def test_wrong_pullbacks_are_rejected():
    ybar = bar(sp.MatrixSymbol("y", n, 1))
    assert verify_pullback(A * x, [A, x], {A: ybar * x.T, x: A.T * ybar})
    assert not verify_pullback(A * x, [A, x], {A: x * ybar.T, x: A.T * ybar})  # transposed Abar
    assert not verify_pullback(A * x, [A, x], {A: ybar * x.T, x: A * ybar})    # A instead of A^T
    assert not verify_pullback(A * x, [A, x], {A: 2 * ybar * x.T, x: A.T * ybar})
    pb = pullback(sp.log(sp.Determinant(A)), A)
    assert not verify_pullback(pb.output, [A], [pb.cotangent_out * A.I],
                               cotangent_out=pb.cotangent_out)  # A^-1 instead of A^-T
    Am = sp.MatrixSymbol("A", m, n)
    ym = bar(sp.MatrixSymbol("y", m, 1))
    assert not verify_pullback(Am * x, [Am, x], {Am: x * ym.T, x: Am.T * ym},
                               sizes=[{m: 2, n: 3}])  # wrong shape


def test_nonlinear_pushforward_cannot_be_transposed():
    fake = dataclasses.replace(pushforward(A * x, [A, x]), tangent_out=dot(A) * dot(x))
    with pytest.raises(ValueError, match="not linear in the tangents"):
        pullback(fake)


# ---- implicit functions ---------------------------------------------------------------------

def test_linear_solve_implicit_rules_match_the_explicit_solution():
    ipf = implicit_pushforward(b - A * x, [A, b], x)
    eq = ipf.equation
    assert same(eq.lhs, A * dot(x)) and same(eq.rhs, dot(b) - dot(A) * x)
    assert ipf.verify()
    explicit = A.I * b
    assert verify_pushforward(explicit, [A, b], ipf.tangent_out.subs(x, explicit))

    ipb = implicit_pullback(ipf)
    w, xbar = ipb.multiplier, ipb.cotangent_out
    adj = ipb.adjoint_equation
    # the book's convention: dF/dx^T w = xbar, i.e. -A^T w = xbar; then xbar_i = -dF/dx_i^T w
    assert same(adj.lhs, A.T * w) and same(adj.rhs, -xbar)
    assert same(ipb.cotangents[A], w * x.T)   # Abar = -(-w x^T)
    assert same(ipb.cotangents[b], -w)        # bbar = -w
    assert same(ipb.multiplier_solution, -A.T.I * xbar)
    assert ipb.verify()
    cot = {k: v.subs({w: ipb.multiplier_solution}).subs(x, explicit)
           for k, v in ipb.cotangents.items()}
    assert verify_pullback(explicit, [A, b], cot, cotangent_out=xbar)


def test_inverse_from_XY_equals_identity():
    Y = sp.MatrixSymbol("Y", n, n)
    ipf = implicit_pushforward(X * Y - sp.Identity(n), X, Y)
    assert ipf.verify()
    assert verify_pushforward(X.I, X, ipf.tangent_out.subs(Y, X.I))
    ipb = implicit_pullback(ipf)
    assert ipb.verify()
    Xbar = ipb.cotangents[X].subs(ipb.multiplier, ipb.multiplier_solution).subs(Y, X.I)
    assert verify_pullback(X.I, X, [Xbar], cotangent_out=ipb.cotangent_out)


def test_lyapunov_linearization_stays_an_equation():
    ipf = implicit_pushforward(A * P + P * A.T + Q, [A, Q], P)
    Pd = dot(P)
    assert ipf.tangent_out is None
    assert same(ipf.operator, A * Pd + Pd * A.T)
    assert same(ipf.source, dot(A) * P + P * dot(A).T + dot(Q))
    assert ipf.verify(sizes=(2, 3))
    latex = ipf._repr_latex_()
    assert r"A \dot{P} + \dot{P} A^{\mathsf T} = - \dot{A} P - P \dot{A}^{\mathsf T}" in latex


def _matrix_of(linear_map, shape):
    """Matrix of a linear map on arrays of the given shape (columns = images of a basis)."""
    size = int(np.prod(shape))
    cols = [np.ravel(linear_map(np.eye(size)[k].reshape(shape))) for k in range(size)]
    return np.array(cols).T


def test_lyapunov_rules_numerically_with_finite_differences_and_dot_product():
    r = rng()
    k = 3
    A0 = r.standard_normal((k, k)) - 3 * np.eye(k)  # stable
    Q0 = r.standard_normal((k, k))
    Q0 = Q0 @ Q0.T + np.eye(k)
    Ad, Qd, Pbar = (r.standard_normal((k, k)) for _ in range(3))  # general, not symmetric

    def lyap(a, q):  # P with A P + P A^T + Q = 0, by SciPy
        return scipy.linalg.solve_continuous_lyapunov(a, -q)

    P0 = lyap(A0, Q0)
    h = 1e-6
    Pd_fd = (lyap(A0 + h * Ad, Q0 + h * Qd) - lyap(A0 - h * Ad, Q0 - h * Qd)) / (2 * h)

    A3, P3, Q3 = (sp.MatrixSymbol(s, k, k) for s in "APQ")
    ipf = implicit_pushforward(A3 * P3 + P3 * A3.T + Q3, [A3, Q3], P3)
    op = to_function(ipf.operator, [A3, dot(P3)])
    src = to_function(ipf.source, [A3, P3, dot(A3), dot(Q3)])
    rhs = -np.asarray(src(A0, P0, Ad, Qd))
    op_matrix = _matrix_of(lambda t: np.asarray(op(A0, t)), (k, k))
    Pd = np.linalg.solve(op_matrix, rhs.ravel()).reshape(k, k)
    np.testing.assert_allclose(Pd, Pd_fd, rtol=1e-5, atol=1e-7)

    ipb = implicit_pullback(ipf)
    W3 = ipb.multiplier
    adj = to_function(ipb.adjoint_operator, [A3, W3])
    adj_matrix = _matrix_of(lambda t: np.asarray(adj(A0, t)), (k, k))
    W = np.linalg.solve(adj_matrix, Pbar.ravel()).reshape(k, k)  # dF/dP^T W = Pbar
    Abar = np.asarray(to_function(ipb.cotangents[A3], [P3, W3])(P0, W))
    Qbar = np.asarray(to_function(ipb.cotangents[Q3], [W3])(W))
    lhs = np.sum(Pbar * Pd_fd)
    rhs_ = np.sum(Abar * Ad) + np.sum(Qbar * Qd)
    assert abs(lhs - rhs_) < 1e-6 * (1 + abs(lhs))
    # Abar = -2 W P (right only for symmetric cotangents) fails with this general seed
    wrong = -2 * W @ P0
    assert abs(lhs - (np.sum(wrong * Ad) + np.sum(Qbar * Qd))) > 1e-3


def test_wrong_implicit_cotangent_is_rejected():
    ipb = implicit_pullback(A * P + P * A.T + Q, [A, Q], P)
    W = ipb.multiplier
    assert ipb.verify()
    assert not dataclasses.replace(ipb, cotangents={A: -2 * W * P, Q: -W}).verify()
    assert not dataclasses.replace(ipb, cotangents={A: W * P.T + W.T * P, Q: W}).verify()
    assert not dataclasses.replace(ipb, adjoint_operator=A * W + W * A.T).verify()


def test_scalar_and_explicit_implicit_functions():
    ipf = implicit_pushforward(ys ** 3 + xs * ys - 1, xs, ys)
    assert ipf.verify()
    # independent: implicit differentiation by SymPy's idiff
    assert sp.simplify(ipf.tangent_out - sp.idiff(ys ** 3 + xs * ys - 1, ys, xs) * dot(xs)) == 0
    ipb = implicit_pullback(ipf)
    assert ipb.verify()

    a = sp.Matrix(2, 2, sp.symbols("a:2:2"))
    bb, xx = sp.Matrix(sp.symbols("b:2")), sp.Matrix(sp.symbols("x:2"))
    ipf = implicit_pushforward(a * xx - bb, [a, bb], xx)
    assert ipf.verify()
    ipb = implicit_pullback(ipf)
    assert ipb.verify()


# ---- display --------------------------------------------------------------------------------

DISPLAYED = [
    lambda: pushforward(A * x, [A, x]), lambda: pullback(A * x, [A, x]),
    lambda: implicit_pushforward(A * P + P * A.T + Q, [A, Q], P),
    lambda: implicit_pullback(A * P + P * A.T + Q, [A, Q], P),
    lambda: implicit_pullback(b - A * x, [A, b], x),
    lambda: pushforward(sp.Rational(1, 2) * x.T * Q * x, [x, Q]),
    lambda: implicit_pushforward(sp.Eq(X * B, sp.Identity(n)), X, B),
]


@pytest.mark.parametrize("make", DISPLAYED, ids=range(len(DISPLAYED)))
def test_latex_display_is_one_aligned_block_with_a_label_per_step(make):
    d = make()
    tex = d._repr_latex_()
    assert tex.startswith(r"$$\begin{aligned}") and tex.endswith(r"\end{aligned}$$")
    assert "\n" not in tex  # a blank line would split the math block in Sphinx
    # one row per step plus continuation rows, each row with one label column
    assert tex.count(r"\\") >= len(d.steps) - 1
    assert tex.count("&&") == tex.count(r"\\") + 1
    for step in d.steps:
        assert sym.derivation._note_tex(step.note) in tex


@pytest.mark.parametrize("make", DISPLAYED, ids=range(len(DISPLAYED)))
def test_html_display_is_a_grid_with_a_label_per_step_and_lines_that_fit(make):
    d = make()
    page = d._repr_html_()
    assert page.startswith('<div class="adlib-derivation"') and "display:grid" in page
    labels = re.findall(r'<div class="adlib-step-label"[^>]*>(.*?)</div>', page)
    assert labels == [sym.derivation._note_html(s.note) for s in d.steps]
    equations = re.findall(r'class="adlib-step-(?:rhs|eq)"', page)
    assert len(equations) == len(d.steps)
    for tex in re.findall(r"\\\(\\displaystyle (.*?)\\\)</span>", page):
        for line in re.split(r"\\\\", html.unescape(tex)):
            assert sym.derivation._width(line) <= sym.derivation.LINE_WIDTH + 12, line


def test_book_notation_in_the_display():
    quad = pushforward(sp.Rational(1, 2) * x.T * Q * x, [x, Q])._repr_latex_()
    assert r"\tfrac{1}{2}" in quad and r"\left(\frac{1}{2}\right)" not in quad
    assert r"x^{\mathsf T}" in quad and "^{T}" not in quad
    inv = implicit_pushforward(sp.Eq(X * B, sp.Identity(n)), X, B)._repr_latex_()
    assert r"X B - I = 0" in inv and r"\mathbb{I}" not in inv
    tex = pullback(A * x, [A, x])._repr_latex_()
    assert r"\bar{A} = \bar{y} x^{\mathsf T}" in tex and r"\bar{x} = A^{\mathsf T} \bar{y}" in tex
    labels = [sym.derivation._note_text(s.note) for s in pushforward(A * x, [A, x]).steps]
    assert labels[1:] == ["perturb", "expand", "drop higher order",
                          "cancel the primal y = A*x", "rename δ → dot"]


def test_long_equations_are_broken_after_a_plus():
    long = " + ".join(f"a_{{{i}}} b_{{{i}}}" for i in range(30))
    lines = sym.derivation._lines(long, width=40)
    assert len(lines) > 2 and " ".join(lines) == long
    assert all(sym.derivation._width(line) <= 40 for line in lines)
    # a long parenthesised sum is opened up, with \bigl( ... \bigr) across lines
    grouped = r"\varepsilon \left(" + long + r"\right)"
    lines = sym.derivation._lines(grouped, width=40)
    assert len(lines) > 2 and lines[0].startswith(r"\varepsilon \bigl(")
    assert lines[-1].endswith(r"\bigr)")


def test_repr_is_deterministic_across_hash_seeds():
    code = ("import sympy as sp; from adlib.symbolic import *\n"
            "A, P, Q = (sp.MatrixSymbol(s, 3, 3) for s in 'APQ'); x = sp.MatrixSymbol('x', 3, 1)\n"
            "print(repr(pullback(A * x, [A, x])))\n"
            "print(repr(implicit_pullback(A*P + P*A.T + Q, [A, Q], P)))\n"
            "print(repr(pullback(sp.Symbol('y') * sp.sin(sp.Symbol('x')), sp.symbols('x y'))))\n")
    here = {"__name__": "repr_check"}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, here)
    other = "987" if os.environ.get("PYTHONHASHSEED") != "987" else "988"
    env = dict(os.environ, PYTHONHASHSEED=other)
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout
    assert buf.getvalue() == there
    assert "0x" not in there and "Abar = ybar*x.T" in there


# ---- code generation and numerical checks with adlib -------------------------------------------

def test_generated_functions_match_numpy():
    r = rng()
    A3, x3 = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    A0, x0, y0 = r.standard_normal((3, 3)), r.standard_normal(3), r.standard_normal(3)
    ybar = bar(sp.MatrixSymbol("y", 3, 1))
    np.testing.assert_allclose(to_function(A3 * x3, [A3, x3])(A0, x0), A0 @ x0)
    np.testing.assert_allclose(to_function(ybar * x3.T, [x3, ybar])(x0, y0), np.outer(y0, x0))
    np.testing.assert_allclose(to_function(A3.T.I * x3, [A3, x3])(A0, x0),
                               np.linalg.solve(A0.T, x0))
    np.testing.assert_allclose(to_function(x3.T * A3 * x3, [A3, x3])(A0, x0), x0 @ A0 @ x0)
    np.testing.assert_allclose(to_function(sp.log(sp.Determinant(A3)), [A3])(A0),
                               np.linalg.slogdet(A0)[1])
    f = to_function(ys * sp.sin(xs), [xs, ys], name="ysinx")
    assert f.source.startswith("def ysinx(x, y):")
    assert abs(f(0.3, 2.0) - 2.0 * np.sin(0.3)) < 1e-15


@pytest.mark.parametrize("case", ["ysinx", "matvec", "inverse", "logdet", "quadratic"])
def test_derived_rules_pass_adlib_checks(case):
    import adlib.testing as adt
    r = rng()
    k = 3
    A3, x3, Q3 = sp.MatrixSymbol("A", k, k), sp.MatrixSymbol("x", k, 1), sp.MatrixSymbol("Q", k, k)
    A0 = r.standard_normal((k, k)) + k * np.eye(k)
    x0 = r.standard_normal(k)
    f, inputs, primals = {
        "ysinx": (ys * sp.sin(xs), [xs, ys], (0.7, -1.3)),
        "matvec": (A3 * x3, [A3, x3], (A0, x0)),
        "inverse": (A3.I, [A3], (A0,)),
        "logdet": (sp.log(sp.Determinant(A3)), [A3], (A0,)),
        "quadratic": (sp.Rational(1, 2) * x3.T * Q3 * x3, [x3, Q3],
                      (x0, r.standard_normal((k, k)))),
    }[case]
    pf = pushforward(f, inputs)
    pb = pullback(pf)
    assert repr(check_numerically(pf, primals, seed=3)).endswith("passed")
    assert repr(check_numerically(pb, primals, seed=4)).endswith("passed")
    # generated rules call adlib.numpy, so they can be differentiated again
    adt.check_grads(to_custom_jvp(pf), primals, order=2, modes=("fwd", "rev"), seed=5)
    adt.check_grads(to_custom_vjp(pb), primals, order=2, modes=("rev",), seed=6)


def test_wrong_generated_rule_fails_numerically():
    A3, x3 = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    r = rng()
    primals = (r.standard_normal((3, 3)), r.standard_normal(3))
    pb = pullback(A3 * x3, [A3, x3])
    wrong = dataclasses.replace(pb, cotangents={A3: x3 * pb.cotangent_out.T, x3: pb.cotangents[x3]})
    with pytest.raises(AssertionError, match="dot-product test failed"):
        check_numerically(wrong, primals)
    pf = pushforward(A3 * x3, [A3, x3])
    wrong = dataclasses.replace(pf, tangent_out=A3 * dot(x3) + 2 * dot(A3) * x3)
    with pytest.raises(AssertionError, match="finite"):
        check_numerically(wrong, primals)


def test_custom_rules_expose_their_source():
    fj = to_custom_jvp(pushforward(ys * sp.sin(xs), [xs, ys]), name="ysinx")
    assert fj.rule_source.splitlines()[0] == "def ysinx_jvp(x, y, xdot, ydot):"
    A3, x3 = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    fv = to_custom_vjp(pullback(A3 * x3, [A3, x3]), name="matvec")
    assert [s.splitlines()[0] for s in fv.rule_sources] == [
        "def matvec_bwd_0(A, x, ybar):", "def matvec_bwd_1(A, x, ybar):"]


# ---- errors ---------------------------------------------------------------------------------

def test_error_messages_say_what_to_do():
    with pytest.raises(TypeError, match="inputs must be sympy Symbols, MatrixSymbols"):
        pushforward(xs ** 2, [xs + 1])
    with pytest.raises(TypeError, match="explicit matrix input must hold only symbols"):
        pushforward(xs, [sp.Matrix([xs + 1, ys])])
    with pytest.raises(NotImplementedError, match="no first-order expansion for .*HadamardProduct"):
        pushforward(sp.HadamardProduct(A, B), [A, B])
    with pytest.raises(TypeError, match="pass a Pushforward, or a function and its inputs"):
        pullback(A * x)
    with pytest.raises(TypeError, match="pass an ImplicitPushforward"):
        implicit_pullback(A * x - b)
    with pytest.raises(AdlibError, match="pass Symbols, MatrixSymbols or Matrices"):
        to_function(xs, [xs + 1])
    with pytest.raises(ValueError, match="is not an argument; add it"):
        to_function(A * x, [A])
    with pytest.raises(TypeError, match="expected a Pushforward or Pullback"):
        check_numerically(implicit_pushforward(b - A * x, [A, b], x), ())


def test_docstring_examples():
    # the public objects carry the package as their module, so the package finds them all
    result = doctest.testmod(sym, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0
    for name in ("notation", "expansion", "derivation", "derive", "implicit", "verify",
                 "codegen"):  # and whatever else the modules hold
        module = importlib.import_module(f"adlib.symbolic.{name}")
        assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# ---- repeated symbols, larger explicit systems, scalar parameters, text repr ---------------------

def _leaves(vs):
    return [e for v in vs for e in (list(v) if isinstance(v, sp.MatrixBase) else [v])]


def _rationals(symbols, seed):
    """General random rational values (not symmetric, not special) for the given symbols."""
    r = np.random.default_rng(seed)
    return {s: sp.Rational(int(r.integers(-9, 10)) or 1, int(r.integers(1, 6))) for s in symbols}


def test_symmetric_Q_with_a_repeated_symbol_in_an_equality_qp_kkt_system():
    q11, q12, q22 = sp.symbols("q11 q12 q22")
    Qs = sp.Matrix([[q11, q12], [q12, q22]])  # q12 appears twice
    c, A1 = sp.Matrix(sp.symbols("c:2")), sp.Matrix([sp.symbols("a:2")])
    b1, xv, lam = sp.Matrix([sp.Symbol("b0")]), sp.Matrix(sp.symbols("x:2")), sp.Symbol("lam")
    z = sp.Matrix([*xv, lam])
    F = sp.Matrix.vstack(Qs * xv + c + A1.T * lam, A1 * xv - b1)
    ipf = implicit_pushforward(F, [Qs, c, A1, b1], z)
    assert ipf.verify()  # the tangent of q12 fills both off-diagonal entries of Qdot
    assert not dataclasses.replace(ipf, tangent_out=2 * ipf.tangent_out).verify()

    # independent: differentiate the explicit solution z*(t) along the same direction
    t = sp.Symbol("t")
    ins, dins = [Qs, c, A1, b1], [dot(v) for v in (Qs, c, A1, b1)]
    moved = {e: e + t * de for v, dv in zip(ins, dins) for e, de in zip(v, dv)}
    Qt, ct, At, bt = (sp.Matrix(v).xreplace(moved) for v in ins)
    kkt = sp.Matrix(sp.BlockMatrix([[Qt, At.T], [At, sp.zeros(1, 1)]]))
    z_of_t = kkt.LUsolve(sp.Matrix.vstack(-ct, bt))
    at = _rationals(sorted(kkt.free_symbols - {t} | set(_leaves(dins)), key=str), seed=41)
    z_star = z_of_t.subs(t, 0).xreplace(at)
    zdot_direct = z_of_t.diff(t).subs(t, 0).xreplace(at)
    zdot_rule = sp.Matrix(ipf.tangent_out).xreplace(dict(zip(z, z_star))).xreplace(at)
    assert zdot_rule == zdot_direct  # exact rationals

    # pullback: Qbar is symmetric and <zbar, zdot> = sum <xbar, xdot> (sums over entries)
    ipb = implicit_pullback(ipf)
    assert ipb.verify()
    Qbar = sp.Matrix(ipb.cotangents[sp.ImmutableMatrix(Qs)])
    assert sp.expand(Qbar - Qbar.T) == sp.zeros(2, 2)
    zbar = _rationals(list(ipb.cotangent_out), seed=42)
    at_solution = {**dict(zip(z, z_star)), **at, **zbar}
    w_star = sp.Matrix(ipb.multiplier_solution).xreplace(at_solution)
    at_solution.update(zip(ipb.multiplier, w_star))

    def pair(U, V):
        return sum(sp.Matrix(U).xreplace(at_solution).multiply_elementwise(
            sp.Matrix(V).xreplace(at_solution)))

    lhs = pair(ipb.cotangent_out, zdot_direct)
    rhs = sum(pair(g, dv) for g, dv in zip(ipb.cotangents.values(), dins))
    assert lhs == rhs


def test_repeated_symbol_in_plain_pushforward_and_pullback():
    q11, q12, q22 = sp.symbols("q11 q12 q22")
    Qs = sp.Matrix([[q11, q12], [q12, q22]])
    v = sp.Matrix(sp.symbols("v:2"))
    pf = pushforward(lambda M: (v.T * M * v)[0], [Qs])
    assert pf.verify()
    # independent: SymPy's derivative by each distinct symbol, times its tangent
    by_hand = sum(sp.diff((v.T * Qs * v)[0], s) * dot(s) for s in (q11, q12, q22))
    assert sp.expand(pf.tangent_out - by_hand) == 0
    pb = pullback(pf)
    assert pb.verify()
    # the full derivative by q12 in both entries would count q12 twice in <Qbar, Qdot>
    ybar = pb.cotangent_out
    twice = sp.Matrix(2, 2, lambda i, j: ybar * sp.diff((v.T * Qs * v)[0], Qs[i, j]))
    assert not verify_pullback(pb.output, [Qs], [twice], cotangent_out=ybar)


def test_elementwise_nonlinear_fixed_point_is_solved_quickly():
    import time
    W = sp.Matrix(2, 2, sp.symbols("w:2:2"))
    xv, zv = sp.Matrix(sp.symbols("x:2")), sp.Matrix(sp.symbols("z:2"))
    F = zv - (W * zv + xv).applyfunc(sp.tanh)
    start = time.perf_counter()
    ipf = implicit_pushforward(F, [W, xv], zv)
    ok = ipf.verify()
    elapsed = time.perf_counter() - start
    assert ipf.tangent_out is not None and ok
    assert elapsed < 20, f"derivation and check took {elapsed:.1f} s"
    # independent: central finite differences of the fixed point, found by iteration
    r = rng()
    W0, x0 = 0.4 * r.standard_normal((2, 2)), r.standard_normal(2)
    Wd, xd = r.standard_normal((2, 2)), r.standard_normal(2)

    def fixed_point(Wv, xv_):
        z = np.zeros(2)
        for _ in range(300):
            z = np.tanh(Wv @ z + xv_)
        return z

    h = 1e-6
    fd = (fixed_point(W0 + h * Wd, x0 + h * xd) - fixed_point(W0 - h * Wd, x0 - h * xd)) / (2 * h)
    args = [*W, *xv, *zv, *dot(W), *dot(xv)]
    rule = sp.lambdify(args, list(ipf.tangent_out), "numpy")
    zdot = np.array(rule(*W0.ravel(), *x0, *fixed_point(W0, x0), *Wd.ravel(), *xd), dtype=float)
    np.testing.assert_allclose(zdot, fd, rtol=1e-6, atol=1e-8)


def test_scalar_parameter_multiplying_matrix_symbols():
    A0, A1 = sp.MatrixSymbol("A0", n, n), sp.MatrixSymbol("A1", n, n)
    theta = sp.Symbol("theta1")
    ipb = implicit_pullback(b - (A0 + theta * A1) * x, [A0, A1, theta, b], x)
    assert ipb.verify(sizes=(2, 3))
    thetabar = ipb.cotangents[theta]
    assert not getattr(thetabar, "is_Matrix", False)  # a scalar: <w, dF/dtheta>
    # independent: the explicit solution x = (A0 + theta A1)^-1 b and SymPy's Jacobian;
    # the adjoint equation -(A0 + theta A1)^T w = xbar gives w by hand
    M = A0 + theta * A1
    w, xbar = ipb.multiplier, ipb.cotangent_out
    cot = {k: sp.sympify(g).subs(w, -M.T.I * xbar).subs(x, M.I * b)
           for k, g in ipb.cotangents.items()}
    assert verify_pullback(M.I * b, [A0, A1, theta, b], cot, cotangent_out=xbar)
    assert not verify_pullback(M.I * b, [A0, A1, theta, b], {**cot, theta: -cot[theta]},
                               cotangent_out=xbar)
    # and numerically: thetabar = d/dtheta <xbar, x(theta)> by central finite differences
    r = rng()
    k = 3
    A00, A10 = r.standard_normal((k, k)) + 3 * np.eye(k), r.standard_normal((k, k))
    b0, xbar0, th = r.standard_normal(k), r.standard_normal(k), 0.7

    def solution(t):
        return np.linalg.solve(A00 + t * A10, b0)

    h = 1e-6
    fd = xbar0 @ (solution(th + h) - solution(th - h)) / (2 * h)
    thetabar_k = to_function(thetabar.subs(n, k), [v.subs(n, k) for v in (A1, x, w)])
    w0 = -np.linalg.solve((A00 + th * A10).T, xbar0)
    assert abs(thetabar_k(A10, solution(th), w0) - fd) < 1e-6
    # the explicit pullback of theta * A * x has the same kind of scalar cotangent
    assert pullback(theta * A * x, [theta, A, x]).verify(sizes=(2, 3))


def test_text_repr_writes_epsilon_as_a_letter_and_latex_keeps_varepsilon():
    pf = pushforward(ys * sp.sin(xs), [xs, ys])
    ipf = implicit_pushforward(ys ** 3 + xs * ys - 1, xs, ys)
    for d in (pf, ipf):
        text = repr(d)
        assert "varepsilon" not in text and "ε*" in text and "O(ε**2)" in text
        assert r"\varepsilon" in d._repr_latex_()
    assert "(ε*xdot + x)" in repr(pf)
    for label in ("perturb", "expand", "drop higher order", "cancel the primal",
                  "rename δ → dot"):
        assert f"  {label}" in repr(pf)


# ---- explicit entries: derive -> code for vector norms and softmax --------------------------

def test_cotangents_accept_a_mutable_matrix_key():
    xe = sp.Matrix(sp.symbols("x0:3"))  # mutable, unhashable
    pb = pullback(sp.sqrt((xe.T * xe)[0, 0]), [xe])
    assert xe in pb.cotangents and pb.cotangents[xe] == pb.cotangents[sp.ImmutableMatrix(xe)]
    assert pb.cotangents.get(xe) is not None
    assert verify_pullback(sp.sqrt((xe.T * xe)[0, 0]), [xe], [pb.cotangents[xe]])


def test_vector_norm_goes_derive_to_code():
    xe = sp.Matrix(sp.symbols("x0:3"))
    norm = sp.sqrt((xe.T * xe)[0, 0])
    pb = pullback(norm, [xe])
    assert pb.verify()
    x0 = rng().standard_normal(3)
    f = to_custom_vjp(pb, name="norm2")
    assert abs(f(x0) - np.linalg.norm(x0)) < 1e-12
    assert "x[0]" in f.rule_sources[0] and "def norm2_bwd_0(x, ybar)" in f.rule_sources[0]
    # independent: the dot-product test with finite differences (adlib.testing)
    assert "passed" in repr(check_numerically(pb, (x0,), seed=3, name="norm2"))
    assert "passed" in repr(check_numerically(pushforward(norm, [xe]), (x0,), seed=3))


def softmax_of(v):
    e = v.applyfunc(sp.exp)
    return e / sum(e)


def test_softmax_goes_derive_to_code():
    xe = sp.Matrix(sp.symbols("x0:3"))
    pb = pullback(softmax_of(xe), [xe])
    assert pb.verify()
    x0 = rng().standard_normal(3)
    fn = to_custom_vjp(pb, name="softmax")
    expected = np.exp(x0) / np.exp(x0).sum()
    np.testing.assert_allclose(np.asarray(fn(x0)), expected, rtol=1e-12)
    assert "passed" in repr(check_numerically(pb, (x0,), seed=5, name="softmax"))
    assert "passed" in repr(check_numerically(pushforward(softmax_of(xe), [xe]), (x0,),
                                              seed=5, name="softmax"))


def test_wrong_explicit_entry_rule_is_rejected_by_the_numerical_check():
    xe = sp.Matrix(sp.symbols("x0:3"))
    pb = pullback(softmax_of(xe), [xe])
    s = softmax_of(xe)
    ybar = pb.cotangent_out
    wrong = sp.ImmutableMatrix([s[i] * ybar[i] for i in range(3)])  # forgets -s <s, ybar>
    assert not verify_pullback(softmax_of(xe), [xe], [wrong], cotangent_out=ybar)
    bad = dataclasses.replace(pb, cotangents=sym.Cotangents({sp.ImmutableMatrix(xe): wrong}))
    with pytest.raises(AssertionError):
        check_numerically(bad, (rng().standard_normal(3),), seed=5)


def test_entrywise_functions_of_matrix_symbols_say_use_explicit_entries():
    with pytest.raises(AdlibError, match=r"Use explicit entries.*sp.sqrt\(\(x.T \* x\)\[0, 0\]\)"):
        pushforward(sp.sqrt(x.T * x), [x])
    with pytest.raises(NotImplementedError, match="Use explicit entries instead.*applyfunc"):
        pushforward(x.applyfunc(sp.exp), [x])
    with pytest.raises(AdlibError, match="Use explicit entries instead"):
        pushforward(sp.HadamardProduct(x, b), [x, b])


def test_inverse_expansion_is_derived_and_jacobi_is_named_as_built_in():
    pf = pushforward(X.inverse(), X)
    assert same(pf.tangent_out, -X.I * dot(X) * X.I)
    assert "(X + εẊ)(X⁻¹ + εY) = I" in repr(pf)
    pf_det = pushforward(sp.Determinant(X), X)
    assert "Jacobi's formula for det, built in" in repr(pf_det)
    assert "Jacobi" not in repr(pf) and "Jacobi" not in repr(pushforward(A * x, [A, x]))
    # the built-in step is checked independently, on explicit entries
    assert pf_det.verify()
    assert not verify_pushforward(sp.Determinant(X), X, sp.Trace(X.I * dot(X)))


def test_implicit_pullback_follows_the_books_sign_convention():
    # F(x, y) = y - f(x): the adjoint variable is the output's cotangent itself
    ipb = implicit_pullback(ys - sp.sin(xs), xs, ys)
    assert ipb.multiplier_solution == ipb.cotangent_out
    assert same(ipb.cotangents[xs].subs(ipb.multiplier, ipb.cotangent_out),
                sp.cos(xs) * ipb.cotangent_out)
    assert "adjoint-sign-convention" in implicit_pullback.__doc__
