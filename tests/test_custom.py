"""custom_jvp and custom_vjp: JAX's conventions, checked against finite differences.

The rules below are right; tests/test_checkers.py shows wrong ones rejected.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib.testing import check_grads, check_jvp, check_vjp

from _core_util import fd_jacobian, seed_of


def rng_for(name):
    return np.random.default_rng(seed_of(name))


# ------------------------------------------------------------- custom_jvp ----
@ad.custom_jvp
def f_jvp_rule(x, y):
    return y * anp.sin(x)


@f_jvp_rule.defjvp
def f_jvp_rule_jvp(primals, tangents):
    (x, y), (xdot, ydot) = primals, tangents
    return f_jvp_rule(x, y), y * anp.cos(x) * xdot + anp.sin(x) * ydot


CALLS = {"rule": 0}


@ad.custom_jvp
def counted_sin(x):
    return anp.sin(x)


@counted_sin.defjvp
def counted_sin_jvp(primals, tangents):
    CALLS["rule"] += 1
    (x,), (t,) = primals, tangents
    return anp.sin(x), anp.cos(x) * t


@pytest.mark.parametrize("shapes", [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((), (2, 2))], ids=str)
def test_custom_jvp_both_modes_order_2(shapes):
    rng = rng_for(f"custom_jvp {shapes}")
    x = rng.normal(size=shapes[0]) if shapes[0] else float(rng.normal())
    y = rng.normal(size=shapes[1]) if shapes[1] else float(rng.normal())
    check_grads(f_jvp_rule, (x, y), order=2, modes=("fwd", "rev"), seed=seed_of(str(shapes)))


def test_custom_jvp_reverse_mode_transposes_the_rule():
    rng = rng_for("custom_jvp transpose")
    x, y = rng.normal(size=4), rng.normal(size=4)
    _, vjp_fn = ad.vjp(f_jvp_rule, x, y)
    ybar = rng.normal(size=4)
    xbar, ybar_y = vjp_fn(ybar)
    # J^T ybar by finite differences of NumPy code
    Jx = fd_jacobian(lambda x: y * np.sin(x), x)
    Jy = fd_jacobian(lambda y: y * np.sin(x), y)
    np.testing.assert_allclose(xbar, ybar @ Jx, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ybar_y, ybar @ Jy, rtol=1e-6, atol=1e-9)


def test_custom_jvp_rule_is_used():
    """The rule, not the function's body, gives the derivative: count its calls."""
    before = CALLS["rule"]
    assert np.isclose(ad.grad(counted_sin)(0.3), np.cos(0.3))
    assert np.isclose(ad.jvp(counted_sin, (0.3,), (1.0,))[1], np.cos(0.3))
    assert CALLS["rule"] >= before + 2
    # calling it without differentiating does not call the rule
    n = CALLS["rule"]
    counted_sin(0.3)
    assert CALLS["rule"] == n


def test_custom_jvp_rule_that_differs_from_the_body_wins():
    """A rule may deliberately differ from the body (e.g. a safe derivative)."""
    @ad.custom_jvp
    def clipped_sqrt(x):
        return anp.sqrt(x)

    @clipped_sqrt.defjvp
    def clipped_sqrt_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y = anp.sqrt(x)
        return y, t * 0.5 / anp.maximum(y, 1e-3)

    # at 0 the body's derivative is infinite; the rule gives 0.5 / 1e-3 = 500 (by hand)
    assert np.isclose(ad.grad(clipped_sqrt)(0.0), 500.0)
    assert np.isclose(ad.jvp(clipped_sqrt, (0.0,), (1.0,))[1], 500.0)


def test_custom_jvp_nondiff_argnums():
    def power_fn(n, x):
        return x ** n
    power = ad.custom_jvp(power_fn, nondiff_argnums=(0,))

    @power.defjvp
    def power_jvp(n, primals, tangents):     # nondiff arguments come first
        (x,), (t,) = primals, tangents
        return power(n, x), n * x ** (n - 1) * t

    rng = rng_for("custom_jvp nondiff")
    x = rng.uniform(0.5, 2.0, size=3)
    check_grads(lambda x: power(3.0, x), (x,), order=2, seed=seed_of("nondiff jvp"))
    # n = 2.5: d/dx x^2.5 = 2.5 x^1.5  (by hand)
    np.testing.assert_allclose(ad.grad(lambda x: anp.sum(power(2.5, x)))(x), 2.5 * x ** 1.5, rtol=1e-13)


def test_custom_jvp_pytree_inputs_and_outputs():
    @ad.custom_jvp
    def stats(d):
        return {"prod": d["a"] * d["b"], "sums": (anp.sum(d["a"]), anp.sum(d["b"] ** 2))}

    @stats.defjvp
    def stats_jvp(primals, tangents):
        (d,), (t,) = primals, tangents
        return stats(d), {"prod": t["a"] * d["b"] + d["a"] * t["b"],
                          "sums": (anp.sum(t["a"]), anp.sum(2.0 * d["b"] * t["b"]))}

    rng = rng_for("custom_jvp pytree")
    d = {"a": rng.normal(size=3), "b": rng.normal(size=3)}
    check_grads(stats, (d,), order=2, seed=seed_of("stats"))
    g = ad.grad(lambda d: stats(d)["sums"][1] + anp.sum(stats(d)["prod"]))(d)
    np.testing.assert_allclose(g["a"], d["b"], rtol=1e-13)                  # by hand
    np.testing.assert_allclose(g["b"], 2 * d["b"] + d["a"], rtol=1e-13)


def test_custom_jvp_multiple_outputs():
    @ad.custom_jvp
    def polar(x, y):
        return anp.sqrt(x * x + y * y), anp.arctan(y / x)

    @polar.defjvp
    def polar_jvp(primals, tangents):
        (x, y), (xd, yd) = primals, tangents
        r, th = polar(x, y)
        return (r, th), ((x * xd + y * yd) / r, (x * yd - y * xd) / (r * r))

    rng = rng_for("custom_jvp multi")
    x, y = rng.uniform(0.5, 2.0, size=3), rng.normal(size=3)
    check_grads(polar, (x, y), order=2, seed=seed_of("polar"))
    # only one output used in reverse mode: the other's cotangent is zero
    g = ad.grad(lambda x: anp.sum(polar(x, y)[1]))(x)
    np.testing.assert_allclose(g, -y / (x * x + y * y), rtol=1e-12)     # d/dx arctan(y/x), by hand


def test_custom_jvp_inside_larger_function_and_nested():
    rng = rng_for("custom_jvp nested")
    x, y = rng.normal(size=3), rng.normal(size=3)

    def g(x, y):
        return anp.sum(f_jvp_rule(anp.tanh(x), f_jvp_rule(y, x)) ** 2)
    check_grads(g, (x, y), order=2, seed=seed_of("nested custom"))


# ------------------------------------------------------------- custom_vjp ----
@ad.custom_vjp
def f_vjp_rule(x, y):
    return y * anp.sin(x)


def f_vjp_rule_fwd(x, y):
    return f_vjp_rule(x, y), (x, y)


def sum_leading(g, x):
    """Sum the leading axes that broadcasting added to ``x``'s shape."""
    extra = anp.ndim(g) - anp.ndim(x)
    return anp.sum(g, axis=tuple(range(extra))) if extra else g


def f_vjp_rule_bwd(res, g):
    x, y = res
    return sum_leading(y * anp.cos(x) * g, x), sum_leading(anp.sin(x) * g, y)


f_vjp_rule.defvjp(f_vjp_rule_fwd, f_vjp_rule_bwd)


@pytest.mark.parametrize("shapes", [((), ()), ((3,), (3,)), ((2, 3), (3,))], ids=str)
def test_custom_vjp_reverse_mode_order_2(shapes):
    rng = rng_for(f"custom_vjp {shapes}")
    x = rng.normal(size=shapes[0]) if shapes[0] else float(rng.normal())
    y = rng.normal(size=shapes[1]) if shapes[1] else float(rng.normal())
    # rules written with adlib.numpy: the pullback is differentiable again
    check_grads(f_vjp_rule, (x, y), order=2, modes=("rev",), seed=seed_of("cv" + str(shapes)))


def test_custom_vjp_grad_matches_closed_form():
    rng = rng_for("custom_vjp closed form")
    x, y = rng.normal(size=3), rng.normal(size=3)
    gx, gy = ad.grad(lambda x, y: anp.sum(f_vjp_rule(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y * np.cos(x), rtol=1e-14)      # d/dx y sin x, by hand
    np.testing.assert_allclose(gy, np.sin(x), rtol=1e-14)
    # second order, reverse over reverse: d2/dx2 sum(y sin x) = -y sin x (diagonal)
    H = ad.jacrev(ad.grad(lambda x: anp.sum(f_vjp_rule(x, y))))(x)
    np.testing.assert_allclose(H, np.diag(-y * np.sin(x)), rtol=1e-13, atol=1e-15)


def test_custom_vjp_nondiff_argnums():
    def scaled_fn(scale, x):
        return scale * anp.exp(x)
    scaled = ad.custom_vjp(scaled_fn, nondiff_argnums=(0,))

    def scaled_fwd(scale, x):
        y = scaled(scale, x)
        return y, y

    def scaled_bwd(scale, res, g):      # nondiff arguments come first
        return (res * g,)

    scaled.defvjp(scaled_fwd, scaled_bwd)
    rng = rng_for("custom_vjp nondiff")
    x = rng.normal(size=4)
    check_grads(lambda x: scaled(2.5, x), (x,), order=2, modes=("rev",), seed=seed_of("nd vjp"))
    np.testing.assert_allclose(ad.grad(lambda x: anp.sum(scaled(2.5, x)))(x), 2.5 * np.exp(x))


def test_custom_vjp_none_cotangent_means_zero():
    @ad.custom_vjp
    def h(x, y):
        return x * 2.0 + y

    def h_fwd(x, y):
        return h(x, y), None

    def h_bwd(res, g):
        return 2.0 * g, None     # claims: no dependence on y (deliberately, to test None)

    h.defvjp(h_fwd, h_bwd)
    gx, gy = ad.grad(lambda x, y: anp.sum(h(x, y)), argnums=(0, 1))(np.ones(3), np.ones(3))
    np.testing.assert_array_equal(gx, np.full(3, 2.0))
    np.testing.assert_array_equal(gy, np.zeros(3))
    assert gy.shape == (3,)


def test_custom_vjp_pytree_and_multiple_outputs():
    @ad.custom_vjp
    def moments(d):
        return anp.sum(d["x"] * d["w"]), anp.sum(d["x"] ** 2 * d["w"])

    def moments_fwd(d):
        return moments(d), d

    def moments_bwd(d, g):
        g1, g2 = g
        return ({"x": g1 * d["w"] + g2 * 2.0 * d["x"] * d["w"], "w": g1 * d["x"] + g2 * d["x"] ** 2},)

    moments.defvjp(moments_fwd, moments_bwd)
    rng = rng_for("custom_vjp pytree")
    d = {"x": rng.normal(size=4), "w": rng.uniform(0.5, 1.5, size=4)}
    check_grads(moments, (d,), order=2, modes=("rev",), seed=seed_of("moments"))
    # one output only: the other's cotangent arrives as zero
    g = ad.grad(lambda d: moments(d)[1])(d)
    np.testing.assert_allclose(g["x"], 2 * d["x"] * d["w"], rtol=1e-14)
    np.testing.assert_allclose(g["w"], d["x"] ** 2, rtol=1e-14)


def test_custom_vjp_rule_is_used_not_the_body():
    @ad.custom_vjp
    def straight_through_round(x):
        return anp.round(x)                 # derivative 0 almost everywhere

    straight_through_round.defvjp(lambda x: (anp.round(x), None), lambda res, g: (g,))
    # the rule says "pass the cotangent through" (a straight-through estimator)
    g = ad.grad(lambda x: anp.sum(3.0 * straight_through_round(x)))(np.array([0.2, 1.7]))
    np.testing.assert_array_equal(g, [3.0, 3.0])


def test_custom_vjp_closure_over_outer_level_value_is_fine():
    """A rule may close over a value of an *outer* derivative: its derivative
    flows through the rule's adlib operations.
    h(x; z) = x^2 z; inner derivative at x = 1 is 2 z; its z-derivative is 2."""
    def inner(z):
        @ad.custom_vjp
        def h(x):
            return x * x * z

        def h_fwd(x):
            return h(x), x

        def h_bwd(x, g):
            return (2.0 * x * z * g,)
        h.defvjp(h_fwd, h_bwd)
        return ad.grad(h)(1.0)
    assert np.isclose(ad.grad(inner)(3.0), 2.0)


def test_check_jvp_and_check_vjp_pass_on_correct_rules():
    rng = rng_for("checkers on correct")
    x, y = rng.normal(size=3), rng.normal(size=3)
    assert repr(check_jvp(f_jvp_rule, (x, y))) == "check_jvp(f_jvp_rule): passed"
    assert repr(check_vjp(f_jvp_rule, (x, y))) == "check_vjp(f_jvp_rule): passed"
    res = check_vjp(f_vjp_rule, (x, y), seed=7)
    assert res.error <= 1e-6 * max(abs(res.lhs), 1.0)
