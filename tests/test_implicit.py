"""Tests of adlib.implicit: implicit-function-theorem rules for solvers.

Every rule is checked against central finite differences through the solver
(check_jvp) and with the dot-product test (check_vjp), with general random
seeds; where a closed form exists (the cubic root) it was derived by hand, not
taken from the rule.
"""
import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib.implicit import (ImplicitFunction, NotConvergedError, SingularJacobianError,
                            fixed_point_diff, implicit_diff)
from adlib.testing import check_grads, check_jvp, check_vjp


# ---- scalar root finding: a x^3 - x - 2 = 0 ------------------------------------
def cubic(x, a):
    return a * x ** 3 - x - 2


@implicit_diff(cubic)
def cubic_root(a):
    x = 1.5
    for _ in range(100):
        step = cubic(x, a) / (3 * a * x ** 2 - 1)
        x -= step
        if abs(step) < 1e-15:
            break
    return x


@pytest.mark.parametrize("a", [0.7, 1.0, 2.5])
def test_cubic_root_matches_hand_derived_derivative(a):
    x = cubic_root(a)
    assert abs(cubic(x, a)) < 1e-12
    expected = -x ** 3 / (3 * a * x ** 2 - 1)          # from d/da (a x^3 - x - 2) = 0
    assert np.isclose(ad.grad(cubic_root)(a), expected, rtol=1e-12)
    _, xdot = ad.jvp(cubic_root, (a,), (1.0,))
    assert np.isclose(xdot, expected, rtol=1e-12)


def test_cubic_root_second_order_both_modes():
    check_grads(cubic_root, (1.3,), order=2, modes=("fwd", "rev"))


def test_cubic_root_second_derivative_against_finite_differences():
    a, h = 1.3, 1e-5
    d2 = ad.grad(ad.grad(cubic_root))(a)
    fd = (ad.grad(cubic_root)(a + h) - ad.grad(cubic_root)(a - h)) / (2 * h)
    assert np.isclose(d2, fd, rtol=1e-6)


# ---- a fixed-point layer z = tanh(W z + x) --------------------------------------
def tanh_map(z, W, x):
    return anp.tanh(W @ z + x)


def _contraction(rng, n, norm=0.6):
    W = rng.standard_normal((n, n))
    return W * (norm / np.linalg.norm(W, 2))


def _iterate(W, x, iters=300):
    z = np.zeros(x.shape)
    for _ in range(iters):
        z = np.tanh(W @ z + x)
    return z


@fixed_point_diff(tanh_map)
def tanh_layer(W, x):
    return _iterate(W, x)


@pytest.fixture
def layer_args():
    rng = np.random.default_rng(20250311)
    return _contraction(rng, 5), rng.standard_normal(5)


def test_fixed_point_layer_jvp_and_vjp(layer_args):
    check_jvp(tanh_layer, layer_args, seed=3)
    check_vjp(tanh_layer, layer_args, seed=4)


def test_fixed_point_layer_second_order(layer_args):
    check_grads(tanh_layer, layer_args, order=2, seed=5)


def test_fixed_point_layer_hessian_forward_over_reverse(layer_args):
    W, x = layer_args

    def loss(x):
        return anp.sum(tanh_layer(W, x) ** 2)
    H = ad.hessian(loss)(x)
    h = 1e-5
    g = ad.grad(loss)
    fd = np.stack([(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(x.size)], axis=1)
    np.testing.assert_allclose(H, fd, atol=1e-8)


def test_unrolled_gradient_converges_to_implicit_gradient(layer_args):
    """Differentiating through the iterations approaches the implicit rule."""
    W, x = layer_args
    w = np.random.default_rng(7).standard_normal(x.size)

    def unrolled(x, iters):
        z = anp.zeros(x.shape)
        for _ in range(iters):
            z = anp.tanh(W @ z + x)
        return anp.sum(w * z)
    exact = ad.grad(lambda x: anp.sum(w * tanh_layer(W, x)))(x)
    errors = [np.max(np.abs(ad.grad(unrolled)(x, k) - exact)) for k in (5, 10, 20, 40)]
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))
    assert errors[-1] < 1e-7


# ---- parameters as a pytree, matrix-shaped unknowns --------------------------------
def pytree_residual(x, params):
    M, v = params["M"], params["v"]
    return M @ x + 0.3 * anp.tanh(x) - v


@implicit_diff(pytree_residual)
def pytree_solver(params):
    M, v = params["M"], params["v"]
    x = np.linalg.solve(M, v)
    for _ in range(50):                      # Newton
        F = M @ x + 0.3 * np.tanh(x) - v
        J = M + 0.3 * np.diag(1 - np.tanh(x) ** 2)
        x = x - np.linalg.solve(J, F)
    return x


def test_pytree_parameters():
    rng = np.random.default_rng(11)
    params = {"M": rng.standard_normal((4, 4)) + 4 * np.eye(4), "v": rng.standard_normal(4)}
    check_jvp(pytree_solver, (params,), seed=1)
    check_vjp(pytree_solver, (params,), seed=2)
    g = ad.grad(lambda p: anp.sum(pytree_solver(p) ** 2))(params)
    assert set(g) == {"M", "v"} and g["M"].shape == (4, 4) and g["v"].shape == (4,)


def sylvester_like(X, A, C):
    return A @ X + X @ A.T + 0.1 * X * X - C


@implicit_diff(sylvester_like)
def matrix_solver(A, C):
    X = np.zeros_like(C)
    for _ in range(60):                     # Newton on the vectorized equation
        F = sylvester_like(X, A, C).ravel()
        n = A.shape[0]
        I = np.eye(n)
        J = np.kron(A, I) + np.kron(I, A) + 0.2 * np.diag(X.ravel())
        X = X - np.linalg.solve(J, F).reshape(X.shape)
    return X


def test_matrix_shaped_unknown():
    rng = np.random.default_rng(12)
    A = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    C = rng.standard_normal((3, 3))
    check_jvp(matrix_solver, (A, C), seed=1)
    check_vjp(matrix_solver, (A, C), seed=2)


def test_only_some_arguments_differentiated(layer_args):
    W, x = layer_args
    J = ad.jacfwd(tanh_layer, argnums=1)(W, x)
    Jr = ad.jacrev(tanh_layer, argnums=1)(W, x)
    np.testing.assert_allclose(J, Jr, atol=1e-12)
    h = 1e-6
    fd = np.stack([(tanh_layer(W, x + h * e) - tanh_layer(W, x - h * e)) / (2 * h)
                   for e in np.eye(x.size)], axis=1)
    np.testing.assert_allclose(J, fd, atol=1e-8)


# ---- matrix-free linear solves -------------------------------------------------------
@pytest.mark.parametrize("linear_solver", ["gmres", "custom"])
def test_matrix_free_gmres(layer_args, linear_solver):
    if linear_solver == "custom":
        def linear_solver(matvec, b):        # dense, from the matvec: any solver will do
            J = np.stack([matvec(e) for e in np.eye(b.size)], axis=1)
            return np.linalg.solve(J, b)
    f = fixed_point_diff(tanh_map, linear_solver=linear_solver)(_iterate)
    check_jvp(f, layer_args, seed=8)
    check_vjp(f, layer_args, seed=9)
    W, x = layer_args
    dense = ad.jacrev(tanh_layer, argnums=1)(W, x)
    np.testing.assert_allclose(ad.jacrev(f, argnums=1)(W, x), dense, atol=1e-9)


def convex_gradient(x, theta):
    """Gradient of the strictly convex 1/2 x'Px + sum(x^4)/4 - theta'x: dF/dx is SPD."""
    P = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])
    return P @ x + x ** 3 - theta


@implicit_diff(convex_gradient, linear_solver="cg")
def convex_minimizer(theta):
    x = np.zeros(3)
    P = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])
    for _ in range(60):
        x = x - np.linalg.solve(P + np.diag(3 * x ** 2), convex_gradient(x, theta))
    return x


def test_matrix_free_cg():
    theta = np.random.default_rng(13).standard_normal(3)
    check_jvp(convex_minimizer, (theta,), seed=1)
    check_vjp(convex_minimizer, (theta,), seed=2)


def test_matrix_free_refuses_higher_order(layer_args):
    f = fixed_point_diff(tanh_map, linear_solver="gmres")(_iterate)
    W, x = layer_args
    with pytest.raises(NotImplementedError, match=r"first derivatives only; use "
                                                  r"linear_solver='dense'"):
        ad.hessian(lambda x: anp.sum(f(W, x)))(x)


# ---- errors ------------------------------------------------------------------------
def test_not_converged_solver_is_an_error(layer_args):
    short = fixed_point_diff(tanh_map)(lambda W, x: _iterate(W, x, iters=3))
    with pytest.raises(NotConvergedError, match=r"fixed_point_diff\(<lambda>\): the solver "
                                                r"returned x with max\|F\(x, theta\)\| = "
                                                r".*above residual_tol = 1e-06"):
        ad.grad(lambda x: anp.sum(short(*layer_args[:1], x)))(layer_args[1])
    loose = fixed_point_diff(tanh_map, residual_tol=None)(lambda W, x: _iterate(W, x, 3))
    assert loose(*layer_args).shape == (5,)


def test_singular_jacobian_is_an_error():
    @implicit_diff(lambda x, a: (x - a) ** 2)          # a double root: dF/dx = 0 there
    def double_root(a):
        return a
    with pytest.raises(SingularJacobianError, match=r"implicit_diff\(double_root\): the "
                                                    r"Jacobian dF/dx .* \(1x1\) is singular"):
        ad.grad(double_root)(1.0)
    with pytest.raises(SingularJacobianError, match="not a locally unique"):
        ad.jvp(double_root, (1.0,), (1.0,))


def test_gmres_failure_is_reported():
    def residual(x, a):
        return anp.stack([x[0] - a, x[1] ** 3 - a])   # at a = 0: dF/dx = diag(1, 0)
    for method in ("cg", "gmres"):
        f = implicit_diff(residual, linear_solver=method)(lambda a: np.array([a, np.cbrt(a)]))
        with pytest.raises(NotConvergedError, match=rf"the {method.upper()} solve with dF/dx "
                                                    rf"did not converge"):
            ad.jvp(f, (0.0,), (1.0,))       # x1 = a^(1/3) has an infinite slope at 0
        with pytest.raises(NotConvergedError, match=r"did not converge \(SciPy info="):
            ad.grad(lambda a: anp.sum(f(a)))(0.0)


def test_bad_solver_outputs_and_options():
    with pytest.raises(ValueError, match=r"linear_solver='lu'; use 'dense', 'gmres', 'cg'"):
        implicit_diff(cubic, linear_solver="lu")(lambda a: 1.0)
    two = implicit_diff(lambda x, a: x - a)(lambda a: (a, a))
    with pytest.raises(TypeError, match=r"the solver returned a tuple; it must return one "
                                        r"array"):
        two(1.0)
    wrong = implicit_diff(lambda x, a: anp.sum(x) - a)(lambda a: np.full(2, a / 2))
    with pytest.raises(ValueError, match=r"the residual returned shape \(\) for x of shape "
                                         r"\(2,\); F\(x, theta\) must have the shape of x"):
        wrong(1.0)


def test_keyword_arguments_are_static():
    @implicit_diff(cubic)
    def root_from(a, x0=1.5, iters=100):
        x = x0
        for _ in range(iters):
            x -= cubic(x, a) / (3 * a * x ** 2 - 1)
        return x
    assert np.isclose(ad.grad(lambda a: root_from(a, x0=2.0))(1.0), ad.grad(cubic_root)(1.0))

    def boxed_kwarg(a):
        return root_from(1.0, x0=a)
    with pytest.raises(ad.TracingError, match="a keyword argument is being differentiated"):
        ad.grad(boxed_kwarg)(1.5)


def test_repr_and_type():
    assert isinstance(cubic_root, ImplicitFunction)
    assert repr(cubic_root) == "<implicit_diff cubic_root (linear_solver=dense)>"
    assert cubic_root.__name__ == "cubic_root"


def test_all_but_zero_jacobian_is_singular():
    """A 1x1 Jacobian has condition number 1; tiny singular values are caught too."""
    @implicit_diff(lambda x, t: x ** 2 - t)
    def newton_sqrt(t):
        x = 1.0
        for _ in range(80):
            x = x - (x * x - t) / (2 * x)
        return x
    assert np.isclose(ad.grad(newton_sqrt)(2.0), 1 / (2 * np.sqrt(2.0)))
    with pytest.raises(SingularJacobianError, match=r"smallest singular value is .* below "
                                                    r"max\(largest, 1\)/cond_limit = 1e-12"):
        ad.grad(newton_sqrt)(0.0)


def test_solver_must_return_plain_values():
    def outer(a):
        @implicit_diff(cubic)
        def leaky(b):
            return a * 0.0 + cubic_root(1.0)     # closes over the differentiated a
        return leaky(1.0)
    with pytest.raises(ad.TracingError, match=r"the solver returned a value being "
                                              r"differentiated; the solver must work on plain"):
        ad.grad(outer)(1.0)


def test_forward_and_reverse_agree_on_a_larger_gmres_problem():
    """GMRES without restarts for n <= 200: a slowly converging, non-normal case."""
    rng = np.random.default_rng(14)
    n = 120
    W = 0.97 * np.linalg.qr(rng.standard_normal((n, n)))[0]
    x = 0.3 * rng.standard_normal(n)
    f = fixed_point_diff(tanh_map, linear_solver="gmres")(lambda W, x: _iterate(W, x, 3000))
    g = fixed_point_diff(tanh_map)(lambda W, x: _iterate(W, x, 3000))
    v = rng.standard_normal(n)
    np.testing.assert_allclose(ad.jvp(f, (W, x), (np.zeros((n, n)), v))[1],
                               ad.jvp(g, (W, x), (np.zeros((n, n)), v))[1], atol=1e-9)
    np.testing.assert_allclose(ad.vjp(f, W, x)[1](v)[1], ad.vjp(g, W, x)[1](v)[1], atol=1e-9)
