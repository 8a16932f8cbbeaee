"""The rule checkers themselves: deliberately wrong rules must be rejected.

Each wrong rule is written the way a real mistake looks (a factor, a
transpose, a formula that is right only for symmetric cotangents, a pushforward
that is not linear), registered either on a primitive or as a custom rule,
and must fail ``check_jvp`` / ``check_vjp`` / ``check_grads`` with a message
that names the function and says what disagreed.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib.testing import check_grads, check_jvp, check_vjp

from _core_util import fd_directional, seed_of, symmetric_only


def rng_for(name):
    return np.random.default_rng(seed_of(name))


# ----------------------------------------------------------- off by a factor ----
def make_sin(jvp_factor=1.0, vjp_factor=1.0, name="my_sin"):
    p = ad.Primitive(np.sin, name)
    ad.defjvp(p, lambda t, ans, x: jvp_factor * t * anp.cos(x))
    ad.defvjp(p, lambda g, ans, x: vjp_factor * g * anp.cos(x))
    return p


def test_correct_primitive_passes():
    x = rng_for("sin ok").normal(size=5)
    p = make_sin()
    assert repr(check_jvp(p, (x,))) == "check_jvp(my_sin): passed"
    assert repr(check_vjp(p, (x,))) == "check_vjp(my_sin): passed"
    check_grads(p, (x,), order=2)


def test_jvp_off_by_factor_2_rejected():
    x = rng_for("sin jvp x2").normal(size=5)
    p = make_sin(jvp_factor=2.0, name="sin_jvp_x2")
    with pytest.raises(ad.CheckFailure, match=r"check_jvp\(sin_jvp_x2\): output leaf 0: the JVP "
                                                r"disagrees with central finite differences"):
        check_jvp(p, (x,))
    with pytest.raises(AssertionError, match=r"check_jvp\(sin_jvp_x2\)"):
        check_grads(p, (x,), modes=("fwd",))
    check_vjp(p, (x,))      # its VJP rule is right, and only the JVP is blamed


def test_vjp_off_by_factor_2_rejected():
    x = rng_for("sin vjp x2").normal(size=5)
    p = make_sin(vjp_factor=2.0, name="sin_vjp_x2")
    with pytest.raises(ad.CheckFailure, match=r"check_vjp\(sin_vjp_x2\): dot-product test failed"):
        check_vjp(p, (x,))
    with pytest.raises(AssertionError, match=r"check_vjp\(sin_vjp_x2\)"):
        check_grads(p, (x,), modes=("rev",))
    check_jvp(p, (x,))


def test_custom_rules_off_by_factor_rejected():
    @ad.custom_jvp
    def f(x, y):
        return y * anp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (xd, yd) = primals, tangents
        return f(x, y), y * anp.cos(x) * xd + 2.0 * anp.sin(x) * yd     # factor 2 on y

    @ad.custom_vjp
    def g(x, y):
        return y * anp.sin(x)
    g.defvjp(lambda x, y: (g(x, y), (x, y)),
             lambda res, ct: (res[1] * anp.cos(res[0]) * ct * 0.5, anp.sin(res[0]) * ct))

    rng = rng_for("custom factor")
    x, y = rng.normal(size=3), rng.normal(size=3)
    with pytest.raises(AssertionError, match=r"check_jvp\(f\)"):
        check_jvp(f, (x, y))
    with pytest.raises(AssertionError, match=r"check_vjp\(f\)"):   # the transposed rule inherits it
        check_vjp(f, (x, y))
    with pytest.raises(AssertionError, match=r"check_vjp\(g\): dot-product test failed"):
        check_vjp(g, (x, y))


# ----------------------------------------------------------- transposed matrix ----
def make_matvec(transposed: bool):
    """y = A x with a square A. Right pullback: Abar = ybar x^T.  The classic slip
    writes the outer product the other way round, x ybar^T, which has the same
    shape when A is square, so no shape check can notice."""
    p = ad.Primitive(lambda A, x: A @ x, "matvec_T" if transposed else "matvec")
    ad.defjvp(p, lambda t, ans, A, x: t @ x, lambda t, ans, A, x: A @ t)
    if transposed:
        A_vjp = lambda g, ans, A, x: anp.outer(x, g)       # noqa: E731  (wrong)
    else:
        A_vjp = lambda g, ans, A, x: anp.outer(g, x)       # noqa: E731
    ad.defvjp(p, A_vjp, lambda g, ans, A, x: A.T @ g)
    return p


def test_transposed_outer_product_rejected():
    rng = rng_for("transposed")
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    check_vjp(make_matvec(False), (A, x))
    check_jvp(make_matvec(True), (A, x))       # the JVP is fine; only the pullback is wrong
    with pytest.raises(AssertionError, match=r"check_vjp\(matvec_T\): dot-product test failed: "
                                             r"<ybar, J xdot> = .* but <J\^T ybar, xdot> = "):
        check_vjp(make_matvec(True), (A, x))
    with pytest.raises(AssertionError, match=r"check_vjp\(matvec_T\)"):
        check_grads(make_matvec(True), (A, x))


# ------------------------------------------------ the symmetric-seed trap ----
def make_gram(correct: bool):
    """P = X X^T.  dP = dX X^T + X dX^T, so <Pbar, dP> = <(Pbar + Pbar^T) X, dX>.

    The wrong pullback 2 Pbar X agrees with that only when Pbar is symmetric:
    exactly the cotangents a careless test would draw for a symmetric output.
    """
    @ad.custom_vjp
    def gram(X):
        return X @ X.T

    def gram_fwd(X):
        return gram(X), X

    if correct:
        def gram_bwd(X, Pbar):
            return ((Pbar + Pbar.T) @ X,)
    else:
        def gram_bwd(X, Pbar):
            return (2.0 * Pbar @ X,)
    gram.defvjp(gram_fwd, gram_bwd)
    return gram


def test_symmetric_seed_only_formula_passes_a_symmetric_test_but_not_check_vjp():
    rng = rng_for("gram trap")
    X = rng.normal(size=(4, 3))
    wrong, right = make_gram(False), make_gram(True)

    # The trap: a dot-product test whose cotangent is symmetric (as the output
    # P = X X^T is) cannot see the error.
    xdot = rng.normal(size=(4, 3))
    Pbar_sym = symmetric_only(rng, 4)
    lhs = np.sum(Pbar_sym * fd_directional(lambda X: X @ X.T, X, xdot))   # <Pbar, J xdot> by FD
    (Xbar,) = ad.vjp(wrong, X)[1](Pbar_sym)
    rhs = np.sum(Xbar * xdot)                                             # <J^T Pbar, xdot>
    assert np.isclose(lhs, rhs, rtol=1e-7), "the wrong rule passes the symmetric test"

    # check_vjp draws a general cotangent and rejects it ...
    with pytest.raises(AssertionError, match=r"check_vjp\(gram\): dot-product test failed"):
        check_vjp(wrong, (X,))
    with pytest.raises(AssertionError, match=r"check_vjp\(gram\)"):
        check_grads(wrong, (X,), modes=("rev",))
    # ... for every seed we try, not by luck
    for seed in range(5):
        with pytest.raises(AssertionError):
            check_vjp(wrong, (X,), seed=seed)
    # and the symmetrized rule passes, to second order
    check_vjp(right, (X,))
    check_grads(right, (X,), order=2, modes=("rev",))


# ---------------------------------------------------------- not linear ----
def make_custom_sin(jvp_rule):
    @ad.custom_jvp
    def sin_c(x):
        return anp.sin(x)

    @sin_c.defjvp
    def sin_c_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return anp.sin(x), jvp_rule(x, t)
    return sin_c


def test_jvp_quadratic_in_tangent_rejected():
    x = rng_for("t squared").normal(size=4)
    f = make_custom_sin(lambda x, t: anp.cos(x) * t ** 2)
    with pytest.raises(AssertionError, match=r"check_jvp\(sin_c\)"):
        check_jvp(f, (x,))


def test_tiny_nonlinearity_caught_by_the_linearity_check():
    """A nonlinearity far below finite-difference noise still fails: the checker
    also tests J(a t1 + b t2) = a J t1 + b J t2 to rounding accuracy."""
    x = rng_for("tiny nonlinear").normal(size=4)
    f = make_custom_sin(lambda x, t: anp.cos(x) * t + 1e-7 * t ** 2)
    with pytest.raises(AssertionError, match=r"check_jvp\(sin_c\): output leaf 0: the JVP is not "
                                             r"linear in the tangent"):
        check_jvp(f, (x,))


def test_wrong_second_derivative_caught_by_order_2():
    """order=2 checks the derivative *of the rule*: here sin's rule is right, but
    it is written with a cos primitive whose own rule has the wrong sign.  Every
    first-order check passes (cos's values are right); differentiating the rule
    again exposes the wrong sign, in both modes."""
    bad_cos = ad.Primitive(np.cos, "bad_cos")
    ad.defjvp(bad_cos, lambda t, ans, x: t * anp.sin(x))        # should be -sin
    ad.defvjp(bad_cos, lambda g, ans, x: g * anp.sin(x))
    p = ad.Primitive(np.sin, "sin_via_bad_cos")
    ad.defjvp(p, lambda t, ans, x: t * bad_cos(x))
    ad.defvjp(p, lambda g, ans, x: g * bad_cos(x))
    x = rng_for("order 2").normal(size=3)
    check_grads(p, (x,), order=1)
    with pytest.raises(AssertionError, match=r"check_jvp\(jvp_of_sin_via_bad_cos\)"):
        check_grads(p, (x,), order=2, modes=("fwd",))
    with pytest.raises(AssertionError, match=r"vjp_of_sin_via_bad_cos"):
        check_grads(p, (x,), order=2, modes=("rev",))


def test_rule_right_only_at_the_check_point_needs_a_second_point():
    """A limit worth knowing: finite differences of the JVP *use the rule*, so a
    pushforward that is right at x0 but wrong around it passes every check at x0,
    order 2 included.  Checking at a second point rejects it."""
    x0 = rng_for("right only at x0").normal(size=3)
    f = make_custom_sin(lambda x, t: (anp.cos(x) + 0.5 * (x - x0)) * t)
    check_grads(f, (x0,), order=2)
    x1 = x0 + rng_for("second point").normal(size=3)
    with pytest.raises(AssertionError, match=r"check_jvp\(sin_c\)"):
        check_grads(f, (x1,))


def test_rule_written_with_plain_numpy_is_refused_at_second_order():
    """First order works, but differentiating the rule again needs adlib.numpy:
    the plain NumPy call is refused instead of silently returning a wrong value."""
    p = ad.Primitive(np.sin, "np_rule_sin")
    ad.defjvp(p, lambda t, ans, x: t * np.cos(x))
    ad.defvjp(p, lambda g, ans, x: g * np.cos(x))
    x = rng_for("np rule").normal(size=3)
    check_grads(p, (x,), order=1)
    with pytest.raises(ad.TracingError, match=r"np\.cos was applied to a value being "
                                              r"differentiated.*adlib\.numpy\.cos"):
        check_grads(p, (x,), order=2)


# ------------------------------------------------- dtype, count and shapes ----
@pytest.mark.parametrize("check", [check_jvp, check_vjp, check_grads], ids=lambda c: c.__name__)
def test_float32_inputs_give_a_clear_type_error(check):
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match=r"check_(jvp|vjp|grads)\(sin\): argument 0 has dtype float32; "
                                        r"rule checks need float64 inputs.*astype\(np\.float64\)"):
        check(anp.sin, (x,))


def test_float32_in_a_pytree_leaf_is_reported():
    with pytest.raises(TypeError, match=r"argument 1 has dtype float32"):
        check_vjp(lambda a, d: a * d["w"], (1.0, {"w": np.ones(2, dtype=np.float32)}))


def test_pullback_with_wrong_number_of_cotangents_is_reported():
    @ad.custom_vjp
    def f(x, y):
        return x * y
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda res, g: (g * res[1],))   # forgot y
    with pytest.raises(ad.RuleError, match=r"pullback '<lambda>' of 'f' returned 1 cotangent\(s\), "
                                           r"but 'f' has 2 differentiable input\(s\)"):
        check_vjp(f, (np.ones(3), np.ones(3)))


def test_pullback_with_wrong_shape_is_reported():
    @ad.custom_vjp
    def scale(a, x):
        return a * x

    def scale_bwd(res, g):
        a, x = res
        return g * x, a * g        # forgot to sum the cotangent of the scalar a

    scale.defvjp(lambda a, x: (scale(a, x), (a, x)), scale_bwd)
    with pytest.raises(ad.RuleError, match=r"pullback 'scale_bwd' of 'scale' returned a cotangent "
                                           r"of shape \(3,\) for argument 0, which has shape \(\)"):
        check_vjp(scale, (2.0, np.arange(3.0)))
    with pytest.raises(ad.RuleError, match=r"scale_bwd"):
        check_grads(scale, (2.0, np.arange(3.0)), modes=("rev",))


def test_jvp_with_wrong_shape_is_reported():
    f = make_custom_sin(lambda x, t: anp.sum(anp.cos(x) * t))    # a scalar, not a vector
    with pytest.raises(ad.RuleError, match=r"JVP rule of 'sin_c' returned a tangent of shape \(\) "
                                           r"for output leaf 0 of shape \(4,\)"):
        check_jvp(f, (np.linspace(0.1, 1.0, 4),))


def test_check_grads_rejects_unknown_mode():
    with pytest.raises(ad.UsageError, match=r"unknown mode 'backward'"):
        check_grads(anp.sin, (0.5,), modes=("backward",))


def test_check_results_carry_numbers_but_a_deterministic_repr():
    x = rng_for("check result").normal(size=3)
    r = check_vjp(anp.tanh, (x,), seed=3)
    assert repr(r) == "check_vjp(tanh): passed"
    assert np.isclose(r.lhs, r.rhs, rtol=1e-6) and r.error == abs(r.lhs - r.rhs)
    assert r.tolerance >= r.error and r.noise is not None and r.noise >= 0.0


def test_jvp_results_carry_no_dot_product_sides():
    r = check_jvp(anp.tanh, (rng_for("jvp result").normal(size=3),))
    assert r.lhs is None and r.rhs is None and r.noise is None
    assert 0.0 <= r.error <= r.tolerance


# ------------------------------------------ detection independent of size ----
def doubling(N: int, entry: int = -1, factor: float = 1.0):
    """x -> 2x with a pullback whose entry ``entry`` is multiplied by ``factor``."""
    @ad.custom_vjp
    def double(x):
        return 2.0 * x

    def double_bwd(res, g):
        scale = np.ones(N)
        if entry >= 0:
            scale[entry] = factor
        return (2.0 * g * scale,)

    double.defvjp(lambda x: (double(x), None), double_bwd)
    return double


def sin_exp(N: int, entry: int = -1, factor: float = 1.0):
    """sin(x) exp(x) with a custom pullback, optionally wrong in one entry."""
    @ad.custom_vjp
    def sinexp(x):
        return anp.sin(x) * anp.exp(x)

    def sinexp_bwd(x, g):
        scale = np.ones(N)
        if entry >= 0:
            scale[entry] = factor
        return (g * (np.cos(x) + np.sin(x)) * np.exp(x) * scale,)

    sinexp.defvjp(lambda x: (sinexp(x), x), sinexp_bwd)
    return sinexp


@pytest.mark.parametrize("N, factor", [(10**5, 1.5), (10**5, 0.5), (10**4, 1.01),
                                       (10**4, 0.99)])
def test_one_wrong_entry_is_rejected_at_scale(N, factor):
    """The old tolerance grew like N and let these errors pass; now every
    position and seed tried rejects them."""
    rng = rng_for(f"one entry {N} {factor}")
    x = rng.normal(size=N)
    for seed in range(4):
        entry = int(rng.integers(N))
        for make in (doubling, sin_exp):
            with pytest.raises(AssertionError, match=r"dot-product test failed"):
                check_vjp(make(N, entry, factor), (x,), seed=seed)
    with pytest.raises(AssertionError, match=r"check_vjp\(sinexp\)"):
        check_grads(sin_exp(N, entry, factor), (x,), modes=("rev",))


def test_correct_rules_pass_at_scale_over_many_seeds():
    N = 10**5
    x = rng_for("no false alarm").normal(size=N)
    funcs = [doubling(N), sin_exp(N), lambda x: anp.sin(x) * anp.exp(x),
             lambda x: x * x + anp.tanh(x)]
    for seed in range(12):
        for f in funcs:
            r = check_vjp(f, (x,), seed=seed)
            # not by a loose tolerance: the identity holds far below one term's size
            assert r.tolerance < 1e-3, (seed, r.tolerance)


def test_correct_rules_pass_on_wide_ranges_of_values():
    """Large and badly scaled values (the rounding part of the tolerance)."""
    rng = rng_for("wide values")
    x = rng.normal(size=20_000) * np.exp(rng.uniform(-3, 3, size=20_000))
    for seed in range(4):
        check_vjp(lambda x: x * x + anp.tanh(x), (x,), seed=seed)
        check_vjp(lambda x: anp.exp(0.3 * x) * anp.sum(x), (x[:500],), seed=seed)


# --------------------------------------------------------------- misuse ----
@pytest.mark.parametrize("check", [check_jvp, check_vjp, check_grads], ids=lambda c: c.__name__)
@pytest.mark.parametrize("primals", [np.ones(3), 0.5], ids=["array", "float"])
def test_primals_not_a_tuple_is_a_type_error_that_says_so(check, primals):
    with pytest.raises(ad.UsageError, match=rf"{check.__name__}\(sin\): primals must be a tuple "
                                        r"with one entry per argument of sin, got a "
                                        r"(ndarray of shape \(3,\)|float).*"
                                        rf"{check.__name__}\(sin, \(x,\)\)"):
        check(anp.sin, primals)
    with pytest.raises(TypeError):      # UsageError is also a TypeError
        check(anp.sin, primals)


# ---------------------------------------------------- structured domains ----
def lower_read_matvec(wrong_factor: float = 1.0, symmetrize: bool = True):
    """y = S(X) v where S(X) reads only the lower triangle of X (as NumPy's
    cholesky and eigh do) and mirrors it; the rule symmetrizes the tangent,
    which is right for symmetric X and symmetric tangents only."""
    @ad.custom_vjp
    def lower_matvec(X, v):
        S = np.tril(X) + np.tril(X, -1).T
        return S @ v

    def bwd(res, g):
        X, v = res
        S = np.tril(X) + np.tril(X, -1).T
        Xbar = np.outer(g, v)
        if symmetrize:
            Xbar = 0.5 * (Xbar + Xbar.T)
        return wrong_factor * Xbar, S.T @ g

    lower_matvec.defvjp(lambda X, v: (lower_matvec(X, v), (X, v)), bwd)
    return lower_matvec


def test_a_rule_for_symmetric_inputs_passes_on_the_symmetric_domain_only():
    from adlib.testing.domains import symmetric
    rng = rng_for("symmetric domain")
    X, v = rng.normal(size=(4, 4)), rng.normal(size=4)
    X = X + X.T
    f = lower_read_matvec()
    with pytest.raises(AssertionError, match=r"check_vjp\(lower_matvec\)"):
        check_vjp(f, (X, v))                       # general directions: rule != primal
    for seed in range(5):
        check_vjp(f, (X, v), domain=(symmetric, None), seed=seed)
    # ProjectTo: the unsymmetrized cotangent g v^T projects onto the same element
    check_vjp(lower_read_matvec(symmetrize=False), (X, v), domain=(symmetric, None))
    # a genuinely wrong rule is still rejected on the domain
    with pytest.raises(AssertionError, match=r"dot-product test failed"):
        check_vjp(lower_read_matvec(wrong_factor=1.3), (X, v), domain=(symmetric, None))


def test_domain_applies_to_jvp_and_grads():
    from adlib.testing import domains
    rng = rng_for("domain jvp")
    A = rng.normal(size=(3, 3))

    @ad.custom_jvp
    def lower_square(X):
        L = np.tril(X)
        return L @ L.T

    @lower_square.defjvp
    def lower_square_jvp(primals, tangents):
        (X,), (Xd,) = primals, tangents
        L = anp.tril(X)
        return lower_square(X), Xd @ L.T + L @ Xd.T      # assumes Xd lower triangular

    L0 = np.tril(A)
    with pytest.raises(AssertionError, match=r"check_jvp\(lower_square\)"):
        check_jvp(lower_square, (L0,))
    check_jvp(lower_square, (L0,), domain=domains.lower_triangular)
    check_grads(lower_square, (L0,), modes=("fwd",), domain=domains.lower_triangular)


def test_projectors_are_orthogonal_projections():
    from adlib.testing import domains
    rng = rng_for("projectors")
    for d in (domains.symmetric, domains.lower_triangular, domains.upper_triangular,
              domains.diagonal, domains.full):
        X, Y = rng.normal(size=(2, 5, 5))
        PX = d.project(X)
        assert np.allclose(d.project(PX), PX)                           # idempotent
        assert np.isclose(np.sum(PX * Y), np.sum(X * d.project(Y)))     # self-adjoint
        assert d.distance(PX) == 0.0


def test_domain_misuse_messages():
    from adlib.testing.domains import lower_triangular, symmetric
    rng = rng_for("domain misuse")
    X = rng.normal(size=(3, 3))
    with pytest.raises(ad.AdlibError, match=r"check_vjp\(<lambda>\): argument 0 is not in the "
                                            r"domain symmetric .* adlib\.testing\.domains\."
                                            r"symmetric\(x\)"):
        check_vjp(lambda X: X @ X, (X,), domain=symmetric)
    with pytest.raises(ValueError):
        check_jvp(lambda X: X @ X, (X,), domain=lower_triangular)
    with pytest.raises(TypeError, match=r"domain=Domain\(symmetric\) is ambiguous for 2 "
                                        r"arguments.*domain=\(symmetric, None\)"):
        check_vjp(lambda X, Y: X @ Y, (X, X), domain=symmetric)
    with pytest.raises(TypeError, match=r"a tuple of 2 entries"):
        check_vjp(lambda X, Y: X @ Y, (X, X), domain=(symmetric,))
    with pytest.raises(ValueError, match=r"domain symmetric needs arrays with at least 2 "
                                         r"dimensions, got shape \(3,\)"):
        check_vjp(anp.sin, (np.ones(3),), domain=symmetric)


def test_zero_derivative_judged_by_the_resolution_of_finite_differences():
    """Where f is constant the difference quotient is exactly 0; a pullback that returns
    rounding-level values (1e-17 of an O(1) function, as a rule that cancels terms
    does) passes, one that returns 1e-3 does not."""
    def flat(residual):
        p = ad.Primitive(lambda x: np.ones_like(x) + 0.0 * x, f"flat_{residual:g}")
        ad.defjvp(p, lambda t, ans, x: residual * t)
        ad.defvjp(p, lambda g, ans, x: residual * g)
        return p

    x = rng_for("flat").normal(size=50)
    check_vjp(flat(1e-17), (x,))
    with pytest.raises(AssertionError, match=r"check_vjp\(flat_0\.001\): dot-product test"):
        check_vjp(flat(1e-3), (x,))
