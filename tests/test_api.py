"""The transformations: jvp, vjp, grad, value_and_grad, jacfwd, jacrev, hessian.

Every derivative is compared with central finite differences of plain NumPy
code, or with a derivative worked out by hand in the test (explained in a
comment), never with adlib's own rules.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp

from _core_util import fd_directional, fd_jacobian, seed_of


def rng_for(name):
    return np.random.default_rng(seed_of(name))


# Test functions, each written twice: with adlib.numpy (differentiated) and
# with NumPy (finite differences).
def f_vec(x):          # R^3 -> R^2
    return anp.stack([anp.sin(x[0]) * x[1] ** 2, anp.exp(x[2] / 3.0) * anp.tanh(x[0] + x[1])])


def f_vec_np(x):
    return np.stack([np.sin(x[0]) * x[1] ** 2, np.exp(x[2] / 3.0) * np.tanh(x[0] + x[1])])


def f_scalar(x):       # R^(2x3) -> R
    return anp.sum(anp.sin(x) * anp.cos(x[::-1, ::-1])) + anp.sum(x @ x.T) ** 2 / 10.0


def f_scalar_np(x):
    return np.sum(np.sin(x) * np.cos(x[::-1, ::-1])) + np.sum(x @ x.T) ** 2 / 10.0


def f_two(x, A):       # (R^3, R^(2x3)) -> R^2
    return anp.tanh(A @ x) * anp.sum(x ** 2)


def f_two_np(x, A):
    return np.tanh(A @ x) * np.sum(x ** 2)


# -------------------------------------------------------------- jvp / vjp ----
def test_jvp_matches_finite_differences_in_every_argument():
    rng = rng_for("jvp two args")
    x, A = rng.normal(size=3), rng.normal(size=(2, 3))
    xd, Ad = rng.normal(size=3), rng.normal(size=(2, 3))
    y, ydot = ad.jvp(f_two, (x, A), (xd, Ad))
    np.testing.assert_allclose(y, f_two_np(x, A), rtol=1e-14)
    eps = 1e-6
    fd = (f_two_np(x + eps * xd, A + eps * Ad) - f_two_np(x - eps * xd, A - eps * Ad)) / (2 * eps)
    np.testing.assert_allclose(ydot, fd, rtol=1e-7, atol=1e-9)


def test_jvp_accepts_lists_and_python_floats():
    y, ydot = ad.jvp(lambda a, b: a * anp.sin(b), [2.0, 0.5], [1.0, -1.0])
    # d(a sin b) = sin(b) da + a cos(b) db, with da = 1, db = -1 (worked by hand)
    assert np.isclose(y, 2.0 * np.sin(0.5))
    assert np.isclose(ydot, np.sin(0.5) - 2.0 * np.cos(0.5))


def test_vjp_returns_one_cotangent_per_primal_equal_to_J_transpose():
    rng = rng_for("vjp two args")
    x, A = rng.normal(size=3), rng.normal(size=(2, 3))
    ybar = rng.normal(size=2)
    y, vjp_fn = ad.vjp(f_two, x, A)
    np.testing.assert_allclose(y, f_two_np(x, A), rtol=1e-14)
    xbar, Abar = vjp_fn(ybar)
    Jx = fd_jacobian(lambda x: f_two_np(x, A), x)
    JA = fd_jacobian(lambda A: f_two_np(x, A), A)
    np.testing.assert_allclose(xbar, np.tensordot(ybar, Jx, axes=1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(Abar, np.tensordot(ybar, JA, axes=1), rtol=1e-6, atol=1e-9)


def test_vjp_fn_is_linear_and_reusable():
    """Calling the pullback again (the cotangents are accumulated in buffers) must
    not change earlier results, must not modify its argument, and must be linear."""
    rng = rng_for("vjp reuse")
    x = rng.normal(size=4)

    def f(x):   # x is used many times: its cotangent is accumulated
        return anp.stack([anp.sum(x * x), anp.sum(anp.sin(x) * x), x[0] * x[1] + x[0]])
    _, vjp_fn = ad.vjp(f, x)
    u, w = rng.normal(size=3), rng.normal(size=3)
    u_copy = u.copy()
    gu = vjp_fn(u)[0]
    gu_saved = np.array(gu)
    gw = vjp_fn(w)[0]
    np.testing.assert_array_equal(gu, gu_saved)
    np.testing.assert_array_equal(u, u_copy)
    np.testing.assert_allclose(vjp_fn(1.5 * u - 0.7 * w)[0], 1.5 * gu - 0.7 * gw, rtol=1e-12)
    J = fd_jacobian(lambda x: np.stack([np.sum(x * x), np.sum(np.sin(x) * x), x[0] * x[1] + x[0]]), x)
    np.testing.assert_allclose(gu, u @ J, rtol=1e-6)


def test_vjp_returns_arrays_that_do_not_alias_each_other_or_the_seed():
    g = np.ones(3)
    _, vjp_fn = ad.vjp(lambda x, y: x + y, np.zeros(3), np.zeros(3))
    a, b = vjp_fn(g)
    a += 1.0
    np.testing.assert_array_equal(b, np.ones(3))
    np.testing.assert_array_equal(g, np.ones(3))


def test_value_used_many_times_accumulates():
    # f(x) = x*x + sin(x)*x + x  =>  f'(x) = 2x + cos(x) x + sin(x) + 1  (by hand)
    f = lambda x: x * x + anp.sin(x) * x + x    # noqa: E731
    for x in (-1.3, 0.4, 2.2):
        expected = 2 * x + np.cos(x) * x + np.sin(x) + 1
        assert np.isclose(ad.grad(f)(x), expected, rtol=1e-13)
        assert np.isclose(ad.jvp(f, (x,), (1.0,))[1], expected, rtol=1e-13)


def test_output_independent_of_input_has_zero_derivative():
    x = np.arange(3.0)
    np.testing.assert_array_equal(ad.grad(lambda x: 3.0)(x), np.zeros(3))
    y, t = ad.jvp(lambda x: np.ones(2), (x,), (np.ones(3),))
    np.testing.assert_array_equal(t, np.zeros(2))
    _, fn = ad.vjp(lambda x, y: anp.sin(y), x, 1.0)
    xbar, ybar = fn(0.5)
    np.testing.assert_array_equal(xbar, np.zeros(3))
    assert np.isclose(ybar, 0.5 * np.cos(1.0))


# ----------------------------------------------------------------- grad ----
def test_grad_matches_finite_differences():
    x = rng_for("grad").normal(size=(2, 3))
    np.testing.assert_allclose(ad.grad(f_scalar)(x), fd_jacobian(f_scalar_np, x), rtol=1e-6, atol=1e-8)


def test_grad_argnums_int_tuple_negative():
    rng = rng_for("argnums")
    x, A, w = rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=2)
    f = lambda x, A, w: anp.sum(w * f_two(x, A))              # noqa: E731
    f_np = lambda x, A, w: np.sum(w * f_two_np(x, A))          # noqa: E731
    gx_fd = fd_jacobian(lambda x: f_np(x, A, w), x)
    gA_fd = fd_jacobian(lambda A: f_np(x, A, w), A)
    gw_fd = fd_jacobian(lambda w: f_np(x, A, w), w)
    np.testing.assert_allclose(ad.grad(f)(x, A, w), gx_fd, rtol=1e-6)
    np.testing.assert_allclose(ad.grad(f, argnums=1)(x, A, w), gA_fd, rtol=1e-6)
    np.testing.assert_allclose(ad.grad(f, argnums=-1)(x, A, w), gw_fd, rtol=1e-6)
    g = ad.grad(f, argnums=(0, 2))(x, A, w)
    assert isinstance(g, tuple) and len(g) == 2
    np.testing.assert_allclose(g[0], gx_fd, rtol=1e-6)
    np.testing.assert_allclose(g[1], gw_fd, rtol=1e-6)
    (g1,) = ad.grad(f, argnums=(1,))(x, A, w)    # a 1-tuple stays a tuple
    np.testing.assert_allclose(g1, gA_fd, rtol=1e-6)


def test_value_and_grad():
    rng = rng_for("value_and_grad")
    x, y = rng.normal(size=3), rng.normal(size=3)
    f = lambda x, y: anp.sum(anp.sin(x) * y ** 2)              # noqa: E731
    v, g = ad.value_and_grad(f)(x, y)
    assert np.isclose(v, np.sum(np.sin(x) * y ** 2))
    np.testing.assert_allclose(g, np.cos(x) * y ** 2, rtol=1e-13)   # d/dx, by hand
    v2, (gx, gy) = ad.value_and_grad(f, argnums=(0, 1))(x, y)
    assert v2 == v
    np.testing.assert_allclose(gx, np.cos(x) * y ** 2, rtol=1e-13)
    np.testing.assert_allclose(gy, 2 * np.sin(x) * y, rtol=1e-13)


def test_grad_of_scalar_python_float():
    # f(x) = x^3 e^{-x}: f'(x) = (3x^2 - x^3) e^{-x}  (by hand)
    g = ad.grad(lambda x: x ** 3 * anp.exp(-x))(1.7)
    assert np.shape(g) == ()
    assert np.isclose(g, (3 * 1.7 ** 2 - 1.7 ** 3) * np.exp(-1.7), rtol=1e-13)


# ------------------------------------------------------------ jacobians ----
JAC_CASES = [
    ("vector->vector", f_vec, f_vec_np, lambda rng: rng.normal(size=3)),
    ("matrix->scalar", f_scalar, f_scalar_np, lambda rng: rng.normal(size=(2, 3))),
    ("matrix->matrix", lambda X: anp.tanh(X @ X.T) + X[:, :2], lambda X: np.tanh(X @ X.T) + X[:, :2],
     lambda rng: rng.normal(size=(2, 3))),
    ("scalar->vector", lambda t: anp.stack([anp.cos(t), anp.sin(2 * t), t ** 3]),
     lambda t: np.stack([np.cos(t), np.sin(2 * t), t ** 3]), lambda rng: np.array(rng.normal())),
    ("linalg", lambda A: anp.linalg.inv(A) @ anp.linalg.solve(A, A[:, 0]),
     lambda A: np.linalg.inv(A) @ np.linalg.solve(A, A[:, 0]),
     lambda rng: rng.normal(size=(3, 3)) + 3 * np.eye(3)),
]


@pytest.mark.parametrize("name,f,f_np,draw", JAC_CASES, ids=[c[0] for c in JAC_CASES])
def test_jacfwd_equals_jacrev_equals_finite_differences(name, f, f_np, draw):
    x = draw(rng_for("jac " + name))
    J_fd = fd_jacobian(f_np, x)
    Jf, Jr = ad.jacfwd(f)(x), ad.jacrev(f)(x)
    assert np.shape(Jf) == np.shape(Jr) == J_fd.shape
    np.testing.assert_allclose(Jf, Jr, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(Jf, J_fd, rtol=1e-6, atol=1e-8)


def test_jacobians_of_python_float_input():
    # f(t) = sin(t) t: f'(t) = cos(t) t + sin(t)  (by hand)
    for jac in (ad.jacfwd, ad.jacrev):
        J = jac(lambda t: anp.sin(t) * t)(0.8)
        assert np.isclose(J, np.cos(0.8) * 0.8 + np.sin(0.8))


@pytest.mark.parametrize("jac", [ad.jacfwd, ad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_argnums(jac):
    rng = rng_for("jac argnums")
    x, A = rng.normal(size=3), rng.normal(size=(2, 3))
    Jx_fd = fd_jacobian(lambda x: f_two_np(x, A), x)
    JA_fd = fd_jacobian(lambda A: f_two_np(x, A), A)
    np.testing.assert_allclose(jac(f_two)(x, A), Jx_fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jac(f_two, argnums=1)(x, A), JA_fd, rtol=1e-6, atol=1e-9)
    Jx, JA = jac(f_two, argnums=(0, 1))(x, A)
    assert Jx.shape == (2, 3) and JA.shape == (2, 2, 3)
    np.testing.assert_allclose(Jx, Jx_fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(JA, JA_fd, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------- higher order ----
def test_hessian_matches_finite_differences_of_the_gradient():
    rng = rng_for("hessian")
    x = rng.normal(size=(2, 3))
    # The gradient of f_scalar, worked out by hand (and checked against finite
    # differences of f_scalar_np first):
    # * sum(sin(x) * cos(xr)) with xr = x flipped along both axes: x_ij appears
    #   once as sin(x_ij) and once inside cos(xr) at the flipped position, so the
    #   gradient is cos(x) cos(xr) - flip(sin(x) sin(xr));
    # * s^2 / 10 with s = sum(x x^T) = ||c||^2, c_j = sum_i x_ij (column sums):
    #   ds/dx_ij = 2 c_j, so the gradient is (2 s / 10) * 2 c_j.
    def grad_np(x):
        xr = x[::-1, ::-1]
        g = np.cos(x) * np.cos(xr) - (np.sin(x) * np.sin(xr))[::-1, ::-1]
        c = x.sum(axis=0)
        s = np.sum(x @ x.T)
        return g + (2 * s / 10.0) * 2 * np.broadcast_to(c, x.shape)
    np.testing.assert_allclose(grad_np(x), fd_jacobian(f_scalar_np, x), rtol=1e-6, atol=1e-8)
    H_fd = fd_jacobian(grad_np, x)
    H = ad.hessian(f_scalar)(x)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-7)
    Hm = H.reshape(6, 6)
    np.testing.assert_allclose(Hm, Hm.T, rtol=1e-12, atol=1e-12)


def test_hessian_argnums_int():
    rng = rng_for("hessian argnums")
    x, y = rng.normal(size=3), rng.normal(size=3)
    # f = sum(x^2 y^3): d2f/dy2 = diag(6 x^2 y)  (by hand)
    f = lambda x, y: anp.sum(x ** 2 * y ** 3)          # noqa: E731
    np.testing.assert_allclose(ad.hessian(f, argnums=1)(x, y), np.diag(6 * x ** 2 * y), rtol=1e-12)
    np.testing.assert_allclose(ad.hessian(f)(x, y), np.diag(2 * y ** 3), rtol=1e-12)


def test_hessian_argnums_tuple_is_nested_tuple():
    rng = rng_for("hessian argnums tuple")
    x, y = rng.normal(size=3), rng.normal(size=2)
    f = lambda x, y: anp.sum(x ** 2) * anp.sum(anp.sin(y))     # noqa: E731
    # By hand: H_xx = 2 I sum(sin y); H_xy = 2 x cos(y)^T; H_yx = its transpose;
    # H_yy = -diag(sin y) sum(x^2).
    H = ad.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(H, tuple) and all(isinstance(r, tuple) and len(r) == 2 for r in H)
    np.testing.assert_allclose(H[0][0], 2 * np.eye(3) * np.sum(np.sin(y)), rtol=1e-12)
    np.testing.assert_allclose(H[0][1], 2 * np.outer(x, np.cos(y)), rtol=1e-12)
    np.testing.assert_allclose(H[1][0], 2 * np.outer(np.cos(y), x), rtol=1e-12)
    np.testing.assert_allclose(H[1][1], -np.diag(np.sin(y)) * np.sum(x ** 2), rtol=1e-12)


def test_jacfwd_of_tuple_output_is_not_silently_stacked():
    f = lambda x: (anp.sin(x), 2.0 * x)                 # noqa: E731
    x = np.array([0.3, -0.4])
    try:
        J = ad.jacfwd(f)(x)
    except TypeError:
        return      # refusing, like jacrev, is acceptable
    assert isinstance(J, tuple)
    np.testing.assert_allclose(J[0], np.diag(np.cos(x)))
    np.testing.assert_allclose(J[1], 2.0 * np.eye(2))


def test_grad_of_grad_closed_form_and_finite_differences():
    # f(x) = x^2 sin(x): f' = 2x sin x + x^2 cos x, f'' = 2 sin x + 4x cos x - x^2 sin x
    f = lambda x: x ** 2 * anp.sin(x)                   # noqa: E731
    for x in (-2.1, 0.3, 1.4):
        d2 = 2 * np.sin(x) + 4 * x * np.cos(x) - x ** 2 * np.sin(x)
        assert np.isclose(ad.grad(ad.grad(f))(x), d2, rtol=1e-12)
        fp = lambda x: 2 * x * np.sin(x) + x ** 2 * np.cos(x)     # noqa: E731
        assert np.isclose(ad.grad(ad.grad(f))(x), fd_directional(fp, x, 1.0), rtol=1e-7)


def test_third_derivative():
    # d^3/dx^3 sin = -cos; d^3/dx^3 exp(2x) = 8 exp(2x)
    g3 = ad.grad(ad.grad(ad.grad(anp.sin)))
    assert np.isclose(g3(0.7), -np.cos(0.7), rtol=1e-13)
    e3 = ad.grad(ad.grad(ad.grad(lambda x: anp.exp(2.0 * x))))
    assert np.isclose(e3(0.3), 8 * np.exp(0.6), rtol=1e-13)
    # forward over forward over reverse
    h = lambda x: ad.jvp(lambda y: ad.jvp(ad.grad(anp.sin), (y,), (1.0,))[1], (x,), (1.0,))[1]  # noqa: E731
    assert np.isclose(h(0.7), -np.cos(0.7), rtol=1e-13)


def test_all_four_hessian_compositions_agree_with_finite_differences():
    rng = rng_for("four hessians")
    x = rng.normal(size=3)
    def f(x):
        return anp.sin(x[0]) * anp.exp(x[1]) + x[2] ** 3 * x[0] + anp.sum(anp.tanh(x) ** 2)
    # gradient by hand, for the finite-difference Hessian
    def grad_np(x):
        t = np.tanh(x)
        g = 2 * t * (1 - t ** 2)
        g[0] += np.cos(x[0]) * np.exp(x[1]) + x[2] ** 3
        g[1] += np.sin(x[0]) * np.exp(x[1])
        g[2] += 3 * x[2] ** 2 * x[0]
        return g
    H_fd = fd_jacobian(grad_np, x)
    for name, H in [("fwd(rev)", ad.jacfwd(ad.jacrev(f))(x)), ("rev(fwd)", ad.jacrev(ad.jacfwd(f))(x)),
                    ("rev(rev)", ad.jacrev(ad.jacrev(f))(x)), ("fwd(fwd)", ad.jacfwd(ad.jacfwd(f))(x)),
                    ("hessian", ad.hessian(f)(x)), ("rev(grad)", ad.jacrev(ad.grad(f))(x))]:
        np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-7, err_msg=name)


def test_hessian_vector_product():
    rng = rng_for("hvp")
    x, v = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    H = ad.hessian(f_scalar)(x).reshape(6, 6)
    Hv = (H @ v.ravel()).reshape(2, 3)
    g, hvp = ad.jvp(ad.grad(f_scalar), (x,), (v,))              # forward over reverse
    np.testing.assert_allclose(g, ad.grad(f_scalar)(x), rtol=1e-13)
    np.testing.assert_allclose(hvp, Hv, rtol=1e-10, atol=1e-12)
    # reverse over forward: grad of the directional derivative
    rof = ad.grad(lambda x: ad.jvp(f_scalar, (x,), (v,))[1])(x)
    np.testing.assert_allclose(rof, Hv, rtol=1e-10, atol=1e-12)
    # independent: finite differences of the gradient along v
    fd = fd_directional(ad.grad(f_scalar), x, v)
    np.testing.assert_allclose(hvp, fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------- perturbation confusion ----
def test_perturbation_confusion_product():
    # f(x) = x * g(x) with g(x) = d/dy (x*y) = x, so f(x) = x^2 and f'(x) = 2x.
    # An implementation that confuses the two perturbations would also count the
    # inner derivative's dependence on the outer x incorrectly.
    def f(x):
        return x * ad.grad(lambda y: x * y)(1.0)
    x = 2.0
    assert np.isclose(ad.grad(f)(x), 2 * x)
    assert np.isclose(ad.jvp(f, (x,), (1.0,))[1], 2 * x)


def test_perturbation_confusion_classic():
    # d/dx [x * (d/dy (x + y))(1)]: the inner derivative is 1 for every x, so the
    # function is x * 1 and its derivative is 1.  Confusing the perturbations of
    # x and y gives 2 (Siskind and Pearlmutter's example).
    inner_rev = lambda x: x * ad.grad(lambda y: x + y)(1.0)                      # noqa: E731
    inner_fwd = lambda x: x * ad.jvp(lambda y: x + y, (1.0,), (1.0,))[1]         # noqa: E731
    for f in (inner_rev, inner_fwd):
        assert np.isclose(ad.grad(f)(2.0), 1.0)
        assert np.isclose(ad.jvp(f, (2.0,), (1.0,))[1], 1.0)


def test_nested_derivative_with_closure_over_outer_variable():
    # h(x) = d/dy [sin(x y)] at y = 1 = x cos(x); h'(x) = cos(x) - x sin(x)  (by hand)
    h = lambda x: ad.grad(lambda y: anp.sin(x * y))(1.0)           # noqa: E731
    for x in (0.4, -1.1):
        assert np.isclose(h(x), x * np.cos(x))
        assert np.isclose(ad.grad(h)(x), np.cos(x) - x * np.sin(x), rtol=1e-13)
        assert np.isclose(ad.jvp(h, (x,), (1.0,))[1], np.cos(x) - x * np.sin(x), rtol=1e-13)


def test_same_function_differentiated_at_two_levels():
    # g(x) = grad(f)(x) * f(x) with f = sin: g' = f'' f + f'^2 = -sin^2 + cos^2 = cos(2x)
    f = anp.sin
    g = lambda x: ad.grad(f)(x) * f(x)                              # noqa: E731
    for x in (0.2, 1.3):
        assert np.isclose(ad.grad(g)(x), np.cos(2 * x), rtol=1e-13)
        assert np.isclose(ad.jvp(g, (x,), (1.0,))[1], np.cos(2 * x), rtol=1e-13)


def test_slice_cotangents_accumulate_with_traced_cotangents():
    # f(x) = sum(x[1:] * x[:-1]) + sum(x**3): in grad-of-grad the slice pullbacks meet
    # cotangents that are themselves being differentiated.  Hessian by hand:
    # d2/dxi dxj of sum x_k x_{k+1} is 1 on the off-diagonals; sum x^3 gives diag(6 x).
    x = np.array([0.3, -1.2, 0.8, 2.0])
    f = lambda x: anp.sum(x[1:] * x[:-1]) + anp.sum(x ** 3)      # noqa: E731
    H = np.diag(6 * x) + np.eye(4, k=1) + np.eye(4, k=-1)
    np.testing.assert_allclose(ad.hessian(f)(x), H, rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(ad.grad(f))(x), H, rtol=1e-12)
    # a slice whose cotangent is a constant meets one that is being differentiated
    f2 = lambda x: anp.sum(x ** 3) + anp.sum(x[1:]) + anp.sum(x[:2] ** 2)   # noqa: E731
    H2 = np.diag(6 * x) + np.diag([2.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(ad.jacrev(ad.grad(f2))(x), H2, rtol=1e-12)
    np.testing.assert_allclose(ad.hessian(f2)(x), H2, rtol=1e-12)
    g = lambda x: anp.sum(x[1:] * anp.sin(x[:-1]))             # noqa: E731
    v = np.array([0.5, 1.0, -0.3, 0.2])
    hv = ad.grad(lambda x: anp.sum(ad.grad(g)(x) * v))(x)      # reverse over reverse
    np.testing.assert_allclose(hv, ad.hessian(g)(x) @ v, rtol=1e-12)


# ------------------------------------------------ the rule dispatch API ----
@pytest.mark.parametrize("kind", ["fixed", "varargs"])
def test_jvp_term_and_vjp_term_have_one_signature(kind):
    """Per-argument terms: they sum to the full JVP, and satisfy <ybar, J_i t> = <J_i^T ybar, t>."""
    from adlib.numpy import _products
    rng = rng_for(f"dispatch {kind}")
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    prim, args = ((_products._matmul, (A, B)) if kind == "fixed" else
                  (_products._einsum, ("ij,jk->ik", A, B)))
    plain = lambda a, b: a @ b      # noqa: E731
    slots = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
    ans = prim.fun(*args)
    tangents = [rng.standard_normal(np.shape(a)) if k in slots else None
                for k, a in enumerate(args)]
    ybar = rng.standard_normal(ans.shape)
    total = prim.jvp_sum(tangents, ans, args, {})
    terms = [prim.jvp_term(k, tangents[k], ans, args, {}) for k in slots]
    np.testing.assert_allclose(sum(terms), total, rtol=1e-12)
    a0, b0 = (args[k] for k in slots)
    fd = fd_directional(lambda s: plain(a0 + s * tangents[slots[0]],
                                        b0 + s * tangents[slots[1]]), 0.0, 1.0)
    np.testing.assert_allclose(total, fd, rtol=1e-6)
    for k, term in zip(slots, terms):
        cot = np.asarray(prim.vjp_term(k, ybar, ans, args, {}))
        assert np.sum(ybar * term) == pytest.approx(np.sum(cot * tangents[k]), rel=1e-12)
        assert prim.has_jvp(k) and prim.has_vjp(k)


def test_broadcasting_jvp_rules_return_the_answers_shape():
    """The engine does not broadcast tangents: binary rules do (one traced argument)."""
    rng = rng_for("broadcast tangents")
    small, big = rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, (2, 3))
    for name in ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum"]:
        f = getattr(anp, name)
        for fun, x in [(lambda u: f(u, big), small), (lambda u: f(big, u), small)]:
            v = rng.standard_normal(x.shape)
            y, t = ad.jvp(fun, (x,), (v,))
            assert np.shape(t) == np.shape(y) == (2, 3), name
            np.testing.assert_allclose(t, fd_directional(fun, x, v), rtol=1e-6, atol=1e-9)
    cond = big > 1.0
    _, t = ad.jvp(lambda u: anp.where(cond, u, big), (small,), (np.ones(3),))
    np.testing.assert_allclose(t, np.where(cond, 1.0, 0.0))


def test_the_engine_does_not_import_adlib_numpy():
    """engine.Box is generic; the array protocol lives in adlib/numpy/_boxes.py."""
    import ast
    from adlib import engine
    from adlib.numpy import _boxes
    tree_ = ast.parse(open(engine.__file__).read())
    imported = [n.module for n in ast.walk(tree_) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree_) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("adlib.numpy")]
    assert not [n for n in ast.walk(tree_) if isinstance(n, ast.ImportFrom)
                and n.module == "adlib" and any(a.name == "numpy" for a in n.names)]
    assert engine.Box.__matmul__ is _boxes.ArrayBox.__matmul__   # installed by adlib.numpy
