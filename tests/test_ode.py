"""Tests of adlib.ode.odeint: forward sensitivities, the adjoint ODE, any order.

Derivatives are checked against central finite differences through the solver
(check_jvp, and finite differences written out in the tests), with the
dot-product test (check_vjp) in general random directions, against closed forms
derived by hand (linear ODEs: the matrix exponential), and forward against
reverse mode.  A hand-written adjoint with a planted sign error must be
rejected by the checker where the error matters (drag b != 0).
"""
import numpy as np
import pytest
import scipy.linalg as sla
from scipy.integrate import solve_ivp

import adlib as ad
import adlib.numpy as anp
from adlib.errors import (AdlibError, CheckFailure, ShapeError, SolverError,
                          UnsupportedError, UsageError)
from adlib.ode import TimeGridError, odeint
from adlib.testing import check_grads, check_jvp, check_vjp

TIGHT = dict(rtol=1e-11, atol=1e-11)


# ---- the projectile with quadratic drag (Part 6's example) ----------------------
def projectile(y, t, b, m, g):
    return anp.stack([y[1], -(b / m) * y[1] ** 2 - g])


Y0 = np.array([0.0, 10.0])
T01 = np.array([0.0, 1.0])


def height_at_1(b, m, g):
    return odeint(projectile, Y0, T01, b, m, g, **TIGHT)[-1, 0]


def _central(f, x, h):
    return np.array([(f(*(x + h * e)) - f(*(x - h * e))) / (2 * h) for e in np.eye(len(x))])


def test_projectile_reference_against_finite_differences():
    p = np.array([0.1, 1.0, 9.8])
    fd = _central(height_at_1, p, 1e-5)
    rev = np.array(ad.grad(height_at_1, (0, 1, 2))(*p))
    _, fwd = ad.jvp(lambda b, m, g: height_at_1(b, m, g), tuple(p), (1.0, 0.0, 0.0))
    assert np.allclose(rev, fd, rtol=1e-6)
    assert np.isclose(fwd, fd[0], rtol=1e-6)
    # the values quoted in the syllabus, to the digits quoted there
    assert np.allclose(np.round(fd, 2), [-12.86, 1.29, -0.41])


def test_projectile_without_drag_matches_closed_form():
    # b = 0: y(t) = 10 t - g t^2 / 2, so dy(1)/dg = -1/2 and dy(1)/dm = 0
    gb, gm, gg = ad.grad(height_at_1, (0, 1, 2))(0.0, 1.0, 9.8)
    assert np.isclose(gm, 0.0, atol=1e-9)
    assert np.isclose(gg, -0.5, rtol=1e-8)
    # dy/db at b = 0, by first-order perturbation of y'' = -(b/m) v^2 - g around
    # v(r) = 10 - 9.8 r:  dy(1)/db = -(1/m) int_0^1 (1 - r) v(r)^2 dr
    P = np.polynomial.Polynomial
    integrand = (P([10.0, -9.8]) ** 2 * P([1.0, -1.0])).integ()
    assert np.isclose(gb, -(integrand(1.0) - integrand(0.0)), rtol=1e-8)


# ---- a hand-written adjoint for the projectile: the sign trap ----------------------
def _hand_adjoint(drag_sign):
    """custom_vjp of y(1)[0] w.r.t. (b, m, g), adjoint written by hand.

    ``drag_sign=-1`` is the correct adjoint; ``+1`` flips the sign of the drag
    term in df/dv, a one-character change that vanishes when b = 0.
    """
    def rhs(t, y, b, m, g):
        return [y[1], -(b / m) * y[1] ** 2 - g]

    @ad.custom_vjp
    def h(b, m, g):
        return solve_ivp(rhs, (0, 1), Y0, args=(b, m, g), **TIGHT).y[0, -1]

    def fwd(b, m, g):
        sol = solve_ivp(rhs, (0, 1), Y0, args=(b, m, g), dense_output=True, **TIGHT)
        return sol.y[0, -1], (sol.sol, b, m, g)

    def bwd(res, ybar):
        y, b, m, g = res

        def adj(t, w):
            v = y(t)[1]
            lam = w[:2]
            dfdv = drag_sign * 2 * b * v / m
            dlam = -np.array([0.0, lam[0] + dfdv * lam[1]])
            dfdp = np.array([-v ** 2 / m, b * v ** 2 / m ** 2, -1.0])
            return np.concatenate([dlam, -dfdp * lam[1]])
        w = solve_ivp(adj, (1, 0), [ybar, 0.0, 0.0, 0.0, 0.0], **TIGHT).y[:, -1]
        return tuple(w[2:])
    h.defvjp(fwd, bwd)
    return h


def test_checker_rejects_the_wrong_sign_adjoint_when_drag_is_on():
    check_vjp(_hand_adjoint(-1), (0.1, 1.0, 9.8), seed=3, eps=1e-5, rtol=1e-6)
    with pytest.raises(CheckFailure, match="dot-product test failed"):
        check_vjp(_hand_adjoint(+1), (0.1, 1.0, 9.8), seed=3, eps=1e-5, rtol=1e-6)


def test_wrong_sign_adjoint_passes_at_zero_drag():
    # the trap: at b = 0 the wrong term is zero, so the check cannot see it
    check_vjp(_hand_adjoint(+1), (0.0, 1.0, 9.8), seed=3, eps=1e-5, rtol=1e-6)


def test_odeint_adjoint_agrees_with_the_correct_hand_adjoint():
    p = (0.1, 1.0, 9.8)
    _, pull = ad.vjp(_hand_adjoint(-1), *p)
    assert np.allclose(pull(1.0), ad.grad(height_at_1, (0, 1, 2))(*p), rtol=1e-7)


# ---- order 1 and 2 on small problems, both modes ------------------------------------
def forced_oscillator(y, t, k, c):
    return anp.stack([y[1], -k * y[0] - c * y[1] + 0.3 * anp.sin(2 * t)])


OSC_Y0 = np.array([1.0, -0.5])
OSC_T = np.array([0.1, 0.7, 1.2])


def osc(y0, t, k, c):
    return odeint(forced_oscillator, y0, t, k, c, **TIGHT)


@pytest.mark.parametrize("times", [OSC_T, OSC_T[::-1].copy()], ids=["increasing",
                                                                    "decreasing"])
def test_check_grads_order_1_all_inputs(times):
    check_grads(osc, (OSC_Y0, times, 2.0, 0.3), order=1, eps=1e-5, seed=11)


def test_check_grads_order_2_all_inputs():
    check_grads(osc, (OSC_Y0, OSC_T[1:], 2.0, 0.3), order=2, eps=1e-5, seed=12)


def lotka_volterra(y, t, theta):
    a, b, c, d = theta[0], theta[1], theta[2], theta[3]
    return anp.stack([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


def test_forward_and_reverse_jacobians_agree():
    theta = np.array([1.1, 0.4, 0.9, 0.3])
    y0, ts = np.array([1.5, 0.8]), np.array([0.0, 0.6, 1.3, 2.0])

    def f(y0, ts, theta):
        return odeint(lotka_volterra, y0, ts, theta, **TIGHT)
    for arg in range(3):
        Jf = ad.jacfwd(f, arg)(y0, ts, theta)
        Jr = ad.jacrev(f, arg)(y0, ts, theta)
        assert Jf.shape == (4, 2) + np.shape((y0, ts, theta)[arg])
        assert np.allclose(Jf, Jr, rtol=1e-7, atol=1e-9)


def test_hessian_against_finite_differences_of_the_gradient():
    theta = np.array([1.1, 0.4, 0.9, 0.3])

    def loss(theta):
        ys = odeint(lotka_volterra, np.array([1.5, 0.8]), np.array([0.0, 1.0]), theta,
                    **TIGHT)
        return anp.sum(ys[-1] ** 2)
    H = ad.hessian(loss)(theta)
    gr = ad.grad(loss)
    h = 1e-5
    fd = np.stack([(gr(theta + h * e) - gr(theta - h * e)) / (2 * h) for e in np.eye(4)])
    assert np.allclose(H, H.T, rtol=1e-6, atol=1e-8)
    assert np.allclose(H, fd, rtol=1e-5, atol=1e-7)


def test_second_derivatives_in_all_four_mode_pairs_match_closed_form():
    # y(t) = y0 exp(-a t): d2y/da2 = t^2 y, d2y/(da dy0) = -t exp(-a t)
    t1, a, y0 = 1.4, 0.8, 1.7

    def y_end(a, y0):
        return odeint(decay, y0, np.array([0.0, t1]), a, rtol=1e-10, atol=1e-10)[-1]
    y = y0 * np.exp(-a * t1)
    for outer in (ad.jacfwd, ad.jacrev):
        for inner in (ad.jacfwd, ad.jacrev):
            assert np.isclose(outer(inner(y_end, 0), 0)(a, y0), t1 ** 2 * y, rtol=1e-7)
            assert np.isclose(outer(inner(y_end, 0), 1)(a, y0), -t1 * np.exp(-a * t1),
                              rtol=1e-7)


# ---- linear ODEs: closed forms with the matrix exponential ---------------------------
def linear(y, t, A):
    return A @ y


def test_linear_system_derivatives_match_matrix_exponential():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3)) - 1.5 * np.eye(3)
    y0, t1 = rng.standard_normal(3), 1.7
    ybar = rng.standard_normal(3)
    E = sla.expm(A * t1)

    def out(y0, t, A):
        return odeint(linear, y0, t, A, **TIGHT)[-1]
    ts = np.array([0.0, t1])
    _, pull = ad.vjp(out, y0, ts, A)
    y0bar, tbar, _ = pull(ybar)
    assert np.allclose(y0bar, E.T @ ybar, rtol=1e-8)                 # Phi^T ybar
    f1 = A @ E @ y0
    assert np.isclose(tbar[1], ybar @ f1, rtol=1e-8)                 # ybar^T f(y(t1))
    assert np.isclose(tbar[0], -ybar @ E @ A @ y0, rtol=1e-8)        # -lambda0^T f(y0)


# ---- dissipative systems: x' = -a x over [0, 30] -----------------------------------
def decay(y, t, a):
    return -a * y


@pytest.mark.parametrize("a", [0.3, 1.0])
def test_dissipative_gradients_are_accurate_over_a_long_horizon(a):
    # a purely relative tolerance (atol far below the solution's size) is needed to
    # resolve x(30) = e^{-30 a}; then both gradients are accurate to rtol-level
    kw = dict(rtol=1e-10, atol=1e-20)
    ts = np.array([0.0, 30.0])
    ga = ad.grad(lambda a: odeint(decay, 1.0, ts, a, **kw)[-1])(a)
    gy = ad.grad(lambda y0: odeint(decay, y0, ts, a, **kw)[-1])(1.0)
    assert np.isclose(ga, -30 * np.exp(-30 * a), rtol=1e-6)
    assert np.isclose(gy, np.exp(-30 * a), rtol=1e-6)


def test_dissipative_system_with_two_rates():
    # fast and slow decay mixed: a back-solve of x would amplify the fast mode by
    # e^{50 * 30}; the checkpointed adjoint is exact to tolerance
    A = np.array([[-1.0, 0.5], [0.0, -50.0]])
    ts = np.array([0.0, 10.0, 30.0])
    y0 = np.array([1.0, 2.0])
    kw = dict(rtol=1e-10, atol=1e-20, method="DOP853")
    _, pull = ad.vjp(lambda y0: odeint(linear, y0, ts, A, **kw), y0)
    G = np.array([[0.0, 0.0], [0.3, -0.7], [1.2, 0.4]])
    (y0bar,) = pull(G)
    expected = sla.expm(A * 10).T @ G[1] + sla.expm(A * 30).T @ G[2]
    assert np.allclose(y0bar, expected + G[0], rtol=1e-6)


# ---- shapes, pytrees, static arguments ----------------------------------------------
def matrix_flow(Y, t, p, n):
    return -(p["A"] @ Y) * n + p["c"]


def test_matrix_state_pytree_args_and_static_integer():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((2, 2)) + 2 * np.eye(2)
    Y0 = rng.standard_normal((2, 3))

    def f(Y0, A, c):
        return odeint(matrix_flow, Y0, [0.0, 0.4, 0.9], {"A": A, "c": c}, 2, **TIGHT)
    assert f(Y0, A, 0.5).shape == (3, 2, 3)
    check_grads(f, (Y0, A, 0.5), order=1, eps=1e-5, seed=4)


def test_single_output_time_returns_the_initial_state():
    y0 = np.array([1.0, 2.0])
    out = odeint(decay, y0, [0.5], 3.0)
    assert out.shape == (1, 2) and np.array_equal(out[0], y0)
    check_grads(lambda y0, a: odeint(decay, y0, [0.5], a), (y0, 3.0), order=1)


def test_default_tolerances_decay_matches_closed_form():
    ts = np.linspace(0.0, 2.0, 5)
    ys = odeint(decay, 2.0, ts, 0.7)
    assert np.allclose(ys, 2.0 * np.exp(-0.7 * ts), rtol=1e-6)
    J = ad.jacfwd(lambda a: odeint(decay, 2.0, ts, a))(0.7)
    assert np.allclose(J, -2.0 * ts * np.exp(-0.7 * ts), rtol=1e-5, atol=1e-9)


# ---- errors ---------------------------------------------------------------------------
def test_error_func_returns_wrong_shape():
    def bad_rhs(y, t):
        return anp.stack([y[0], y[1], y[0]])
    with pytest.raises(ShapeError, match=r"odeint\(bad_rhs\): func\(y, t, \*args\) "
                       r"returned shape \(3,\) for y of shape \(2,\).*shape of y0"):
        odeint(bad_rhs, np.ones(2), [0.0, 1.0])


def test_error_non_monotone_times():
    with pytest.raises(TimeGridError, match=r"odeint\(decay\): t must be strictly "
                       r"monotone.*t\[2\] = 0\.5 follows t\[1\] = 1.*np\.sort"):
        odeint(decay, 1.0, [0.0, 1.0, 0.5], 1.0)
    with pytest.raises(TimeGridError, match=r"t\[1\] = 0 follows t\[0\] = 0"):
        odeint(decay, 1.0, [0.0, 0.0, 1.0], 1.0)
    with pytest.raises(TimeGridError, match=r"1-D array of times, got shape \(2, 2\)"):
        odeint(decay, 1.0, np.zeros((2, 2)), 1.0)
    assert issubclass(TimeGridError, AdlibError) and issubclass(TimeGridError, ValueError)


def test_error_solver_failure_names_the_time():
    def blow_up(y, t):
        return y ** 2                      # y = 1 / (1 - t): infinite at t = 1
    with pytest.raises(SolverError, match=r"odeint\(blow_up\): solve_ivp \(RK45\) failed "
                       r"at t = 1(\.0+\d*)? while integrating from 0 to 2.*Radau"):
        odeint(blow_up, 1.0, [0.0, 2.0])


def test_error_unknown_method():
    with pytest.raises(UnsupportedError, match=r"method='Euler'.*RK45, DOP853"):
        odeint(decay, 1.0, [0.0, 1.0], 1.0, method="Euler")


def test_error_inside_a_derivative_is_the_same_error():
    with pytest.raises(ShapeError, match="returned shape"):
        ad.grad(lambda a: odeint(lambda y, t, a: anp.stack([a * y, y]), 1.0,
                                 [0.0, 1.0], a)[-1])(1.0)


def test_check_jvp_rejects_a_sensitivity_without_the_time_term():
    # planted: forget f(y(t_i)) * dt_i in the output tangent -> check_jvp must fail
    @ad.custom_jvp
    def without_time_term(y0, t, a):
        return odeint(decay, y0, t, a, **TIGHT)

    @without_time_term.defjvp
    def without_time_term_jvp(primals, tangents):
        (y0, t, a), (dy0, dt, da) = primals, tangents
        return ad.jvp(lambda y0, a: odeint(decay, y0, t, a, **TIGHT), (y0, a), (dy0, da))
    args = (1.3, np.array([0.0, 0.8, 1.6]), 0.9)
    check_jvp(lambda y0, t, a: odeint(decay, y0, t, a, **TIGHT), args, eps=1e-5)
    with pytest.raises(CheckFailure, match="disagrees with central finite"):
        check_jvp(without_time_term, args, eps=1e-5)


def test_error_stiff_problem_with_an_explicit_method_names_the_time():
    def stiff(y, t):
        return -1e6 * (y - anp.cos(t))
    with pytest.raises(SolverError, match=r"odeint\(stiff\): solve_ivp \(RK45\) gave up "
                       r"at t = [0-9.e-]+ after max_evals = 3000 evaluations of func.*"
                       r"stiff.*method='Radau'"):
        odeint(stiff, 0.0, [0.0, 1.0], max_evals=3000)
    ys = odeint(stiff, 0.0, [0.0, 1.0], method="Radau", max_evals=3000)
    assert np.isclose(ys[-1], np.cos(1.0), rtol=1e-5)
    with pytest.raises(UsageError, match=r"max_evals=0; use a positive integer"):
        odeint(stiff, 0.0, [0.0, 1.0], max_evals=0)


def test_lists_holding_traced_values_are_accepted():
    def end_height(v0, t1):
        return odeint(projectile, [0.0, v0], [0.0, t1], *(0.1, 1.0, 9.8), **TIGHT)[-1, 0]
    check_grads(end_height, (10.0, 1.0), order=1, eps=1e-5, seed=9)
    dv = ad.grad(end_height, 1)(10.0, 1.0)
    assert np.isclose(dv, odeint(projectile, Y0, T01, 0.1, 1.0, 9.8, **TIGHT)[-1, 1])
