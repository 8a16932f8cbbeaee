"""Tests of adlib.qp: differentiable equality- and inequality-constrained QPs.

Rules are checked with central finite differences through the solver and with
the dot-product test, with general (non-symmetric) random seeds.  About Q:
solve_eqp uses the symmetric part (Q + Q^T)/2 (the objective sees nothing else),
so its derivative in a general direction Qdot is the derivative in sym(Qdot),
and the symmetric cotangent -sym(w_x x^T) is the exact adjoint for general
Qdot.  That is why the checks below may perturb Q with general matrices; one test
also uses the symmetric parametrization Q = S + S^T + cI, and one shows that the
unsymmetrized -w_x x^T passes only that restricted test.
"""
import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg

import adlib as ad
import adlib.numpy as anp
from adlib import qp
from adlib.qp import (ActiveSetWarning, DependentConstraintWarning, QPError,
                      SingularKKTError, interior_point_qp, solve_eqp, solve_qp)
from adlib.testing import check_grads, check_jvp, check_vjp


def random_eqp(seed, n=5, m=2):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((n, n))
    Q = S @ S.T + 0.5 * np.eye(n)
    return Q, rng.standard_normal(n), rng.standard_normal((m, n)), rng.standard_normal(m)


# ---- solve_eqp: the primal --------------------------------------------------------
def test_eqp_solves_the_kkt_conditions():
    Q, c, A, b = random_eqp(1)
    x, lam = solve_eqp(Q, c, A, b)
    np.testing.assert_allclose(Q @ x + c + A.T @ lam, 0, atol=1e-12)
    np.testing.assert_allclose(A @ x, b, atol=1e-12)
    # minimality: the objective does not decrease along feasible directions
    N = scipy.linalg.null_space(A)
    f = lambda x: 0.5 * x @ Q @ x + c @ x
    for d in N.T:
        assert f(x + 1e-3 * d) > f(x) and f(x - 1e-3 * d) > f(x)


def test_eqp_uses_the_symmetric_part_of_Q():
    Q, c, A, b = random_eqp(2)
    K = np.random.default_rng(3).standard_normal(Q.shape)
    skew = K - K.T
    for a, b_ in zip(solve_eqp(Q + skew, c, A, b), solve_eqp(Q, c, A, b)):
        np.testing.assert_allclose(a, b_, atol=1e-12)


def test_eqp_without_constraints():
    Q, c, _, _ = random_eqp(4)
    x, lam = solve_eqp(Q, c, np.zeros((0, 5)), np.zeros(0))
    np.testing.assert_allclose(x, np.linalg.solve(Q, -c), atol=1e-12)
    assert lam.shape == (0,)
    check_vjp(lambda Q, c: solve_eqp(Q, c, np.zeros((0, 5)), np.zeros(0))[0], (Q, c), seed=1)


# ---- solve_eqp: the rules ---------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eqp_rules_general_seeds(seed):
    args = random_eqp(10 + seed)
    check_jvp(solve_eqp, args, seed=seed)
    check_vjp(solve_eqp, args, seed=seed)


def test_eqp_rules_with_symmetric_parametrization():
    Q, c, A, b = random_eqp(20)
    S = np.random.default_rng(21).standard_normal(Q.shape)

    def f(S, c, A, b):
        return solve_eqp(S + S.T + 6.0 * np.eye(5), c, A, b)
    check_jvp(f, (S, c, A, b), seed=3)
    check_vjp(f, (S, c, A, b), seed=4)


def test_eqp_second_order():
    check_grads(solve_eqp, random_eqp(30, n=4, m=1), order=2, seed=2)


def test_eqp_pullback_formulas_and_symmetric_Qbar():
    """The cotangents are the book's formulas, with w from one KKT solve."""
    Q, c, A, b = random_eqp(40)
    rng = np.random.default_rng(41)
    xbar, lambar = rng.standard_normal(5), rng.standard_normal(2)
    (x, lam), pull = ad.vjp(solve_eqp, Q, c, A, b)
    Qbar, cbar, Abar, bbar = pull((xbar, lambar))
    M = np.block([[Q, A.T], [A, np.zeros((2, 2))]])
    w = np.linalg.solve(M, np.concatenate([xbar, lambar]))     # an independent solve
    wx, wl = w[:5], w[5:]
    np.testing.assert_allclose(cbar, -wx, atol=1e-12)
    np.testing.assert_allclose(bbar, wl, atol=1e-12)
    np.testing.assert_allclose(Abar, -(np.outer(lam, wx) + np.outer(wl, x)), atol=1e-12)
    np.testing.assert_allclose(Qbar, Qbar.T, atol=1e-14)
    np.testing.assert_allclose(Qbar, -0.5 * (np.outer(wx, x) + np.outer(x, wx)), atol=1e-12)


def test_eqp_one_factorization_per_call(monkeypatch):
    calls = []
    real = scipy.linalg.lu_factor

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(qp.scipy.linalg, "lu_factor", counting)
    args = random_eqp(50)
    tangents = tuple(np.random.default_rng(51).standard_normal(np.shape(a)) for a in args)
    ad.jvp(solve_eqp, args, tangents)
    assert len(calls) == 1
    calls.clear()
    out, pull = ad.vjp(solve_eqp, *args)
    pull(tuple(np.ones_like(o) for o in out))
    assert len(calls) == 1


# ---- the traps: unsymmetrized Qbar, the 1-D outer product ---------------------------
def _eqp_with_pullback(Qbar_rule):
    """solve_eqp with the book's pullback, except for the given Qbar."""
    @ad.custom_vjp
    def eqp(Q, c, A, b):
        return solve_eqp(Q, c, A, b)

    def fwd(Q, c, A, b):
        x, lam = solve_eqp(Q, c, A, b)
        return (x, lam), (Q, A, x, lam)

    def bwd(res, cts):
        Q, A, x, lam = res
        n, m = len(x), len(lam)
        M = np.block([[0.5 * (Q + Q.T), A.T], [A, np.zeros((m, m))]])
        w = np.linalg.solve(M, np.concatenate(cts))
        wx, wl = w[:n], w[n:]
        return Qbar_rule(wx, x), -wx, -(np.outer(lam, wx) + np.outer(wl, x)), wl
    eqp.defvjp(fwd, bwd)
    return eqp


def test_unsymmetrized_Qbar_passes_only_symmetric_perturbations():
    Q, c, A, b = random_eqp(60)
    eqp = _eqp_with_pullback(lambda wx, x: -np.outer(wx, x))
    # restricted to symmetric perturbations (Q = S + S^T + cI) it is a valid adjoint ...
    S = np.random.default_rng(61).standard_normal(Q.shape)
    check_vjp(lambda S, c, A, b: eqp(S + S.T + 6.0 * np.eye(5), c, A, b), (S, c, A, b))
    # ... but not for the function of a general Q (which sees only sym(Q))
    with pytest.raises(AssertionError, match="dot-product test failed"):
        check_vjp(eqp, (Q, c, A, b))
    # the symmetrized rule passes both
    good = _eqp_with_pullback(lambda wx, x: -0.5 * (np.outer(wx, x) + np.outer(x, wx)))
    check_vjp(good, (Q, c, A, b))


def test_one_d_outer_product_trap_is_a_shape_error():
    Q, c, A, b = random_eqp(70)
    # with 1-D arrays, x.T is x, and wx @ x.T is a scalar, not the n x n outer product
    eqp = _eqp_with_pullback(lambda wx, x: -wx @ x.T)
    with pytest.raises(ad.RuleError, match=r"returned a cotangent of shape \(\) for argument "
                                           r"0, which has shape \(5, 5\)"):
        check_vjp(eqp, (Q, c, A, b))


def test_one_d_outer_product_trap_broadcast_is_caught_by_the_dot_product_test():
    Q, c, A, b = random_eqp(71)
    # broadcasting the scalar to Q's shape gets past the shape check, not past the test
    eqp = _eqp_with_pullback(lambda wx, x: np.full((5, 5), -wx @ x.T))
    with pytest.raises(AssertionError, match="dot-product test failed"):
        check_vjp(eqp, (Q, c, A, b))


# ---- errors -----------------------------------------------------------------------
def test_eqp_shape_errors():
    Q, c, A, b = random_eqp(80)
    with pytest.raises(ValueError, match=r"solve_eqp: Q must be a square matrix \(n, n\), got "
                                         r"shape \(5, 4\)"):
        solve_eqp(Q[:, :4], c, A, b)
    with pytest.raises(ValueError, match=r"solve_eqp: c must have shape \(5,\) to match Q"):
        solve_eqp(Q, c[:3], A, b)
    with pytest.raises(ValueError, match=r"solve_eqp: A must have shape \(m, 5\) to match Q "
                                         r"of shape \(5, 5\), got \(2, 3\)"):
        solve_eqp(Q, c, A[:, :3], b)
    with pytest.raises(ValueError, match=r"solve_eqp: b must have shape \(2,\) to match A"):
        solve_eqp(Q, c, A, b[:1])


def test_eqp_singular_kkt():
    Q, c, A, b = random_eqp(81)
    A2 = np.vstack([A, A[0]])                       # dependent rows
    with pytest.raises(SingularKKTError, match=r"KKT matrix .* \(8x8, n=5, m=3\) is singular"):
        solve_eqp(Q, c, A2, np.concatenate([b, b[:1]]))
    with pytest.raises(SingularKKTError, match="positive definite on the null space"):
        solve_eqp(np.zeros((5, 5)), c, A, b)


# ---- inequality-constrained QP ----------------------------------------------------------
def random_qp(seed, n=4, m=1, p=6):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((n, n))
    Q = S @ S.T + 0.3 * np.eye(n)
    A, G = rng.standard_normal((m, n)), rng.standard_normal((p, n))
    x0 = rng.standard_normal(n)                     # a feasible point
    return Q, 3 * rng.standard_normal(n), A, A @ x0, G, G @ x0 + rng.uniform(0.1, 1, p)


def brute_force_qp(Q, c, A, b, G, h):
    """The exact solution by trying every active set (independent of the solver)."""
    n, m, p = Q.shape[0], A.shape[0], G.shape[0]
    for k in range(min(p, n - m) + 1):
        for J in map(list, itertools.combinations(range(p), k)):
            Aa, ba = np.vstack([A, G[J]]), np.concatenate([b, h[J]])
            K = np.block([[Q, Aa.T], [Aa, np.zeros((len(ba), len(ba)))]])
            z = np.linalg.solve(K, np.concatenate([-c, ba]))
            if np.all(G @ z[:n] <= h + 1e-9) and np.all(z[n + m:] >= -1e-9):
                return z[:n]


@pytest.mark.parametrize("seed", range(8))
def test_interior_point_matches_brute_force(seed):
    args = random_qp(seed, m=seed % 2)
    res = interior_point_qp(*args)
    np.testing.assert_allclose(res.x, brute_force_qp(*args), atol=1e-9)
    Q, c, A, b, G, h = args
    np.testing.assert_allclose(Q @ res.x + c + A.T @ res.lam + G.T @ res.mu, 0, atol=1e-10)
    assert np.all(res.mu >= 0) and np.all(res.slack >= -1e-12)
    np.testing.assert_allclose(res.mu * res.slack, 0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_qp_rules_general_seeds(seed):
    args = random_qp(seed)
    assert interior_point_qp(*args).active.size > 0        # some constraint is active
    check_jvp(solve_qp, args, seed=seed)
    check_vjp(solve_qp, args, seed=seed)


def test_qp_without_equalities():
    Q, c, _, _, G, h = random_qp(6, m=0)

    def f(Q, c, G, h):
        return solve_qp(Q, c, None, None, G, h)
    check_jvp(f, (Q, c, G, h), seed=1)
    check_vjp(f, (Q, c, G, h), seed=2)
    x, lam, mu = f(Q, c, G, h)
    assert lam.shape == (0,)


def test_inactive_constraints_have_zero_multiplier_and_derivative():
    args = random_qp(3)
    res = interior_point_qp(*args)
    inactive = np.setdiff1d(np.arange(6), res.active)
    assert inactive.size > 0
    tangents = tuple(np.random.default_rng(9).standard_normal(np.shape(a)) for a in args)
    (x, lam, mu), (xd, lamd, mud) = ad.jvp(solve_qp, args, tangents)
    np.testing.assert_array_equal(mu[inactive], 0.0)
    np.testing.assert_array_equal(mud[inactive], 0.0)


def _kink_problem():
    """Constraint 0 passes exactly through the unconstrained minimizer."""
    rng = np.random.default_rng(90)
    S = rng.standard_normal((3, 3))
    Q, c = S @ S.T + np.eye(3), rng.standard_normal(3)
    x_free = np.linalg.solve(Q, -c)
    G = rng.standard_normal((2, 3))
    h = np.array([G[0] @ x_free, G[1] @ x_free + 1.0])
    return Q, c, G, h


def test_active_set_change_warns_with_the_constraint_index():
    Q, c, G, h = _kink_problem()
    with pytest.warns(ActiveSetWarning, match=r"strict complementarity fails for inequality "
                                              r"constraint\(s\) \[0\]"):
        x, lam, mu = solve_qp(Q, c, None, None, G, h)
    np.testing.assert_allclose(x, np.linalg.solve(Q, -c), atol=1e-9)


def test_kink_derivative_is_the_one_sided_derivative_that_keeps_it_inactive():
    Q, c, G, h = _kink_problem()

    def x_of_h0(t):
        return solve_qp(Q, c, None, None, G, h + t * np.array([1.0, 0.0]))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ActiveSetWarning)
        _, xdot = ad.jvp(x_of_h0, (0.0,), (1.0,))
        eps = 1e-6
        right = (x_of_h0(eps) - x_of_h0(0.0)) / eps     # loosening h0: stays inactive
        left = (x_of_h0(0.0) - x_of_h0(-eps)) / eps     # tightening h0: becomes active
    np.testing.assert_allclose(xdot, right, atol=1e-8)
    assert np.max(np.abs(left - right)) > 1e-2          # a genuine kink


def test_qp_errors():
    Q, c, A, b, G, h = random_qp(7)
    with pytest.raises(QPError, match="probably infeasible"):
        interior_point_qp(Q, c, None, None, np.array([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]),
                          np.array([-1.0, -1.0]))
    with pytest.raises(ValueError, match=r"solve_qp: G must have shape \(p, 4\) to match Q, "
                                         r"got \(6, 3\)"):
        solve_qp(Q, c, A, b, G[:, :3], h)
    with pytest.raises(ValueError, match=r"solve_qp: give both A and b, or neither"):
        solve_qp(Q, c, A, None, G, h)


def test_qp_errors_belong_to_the_adlib_hierarchy():
    assert issubclass(QPError, ad.errors.SolverError)
    assert issubclass(SingularKKTError, ad.errors.SingularMatrixError)
    Q, c, A, b, G, h = random_qp(7)
    with pytest.raises(ad.errors.ShapeError, match=r"solve_qp: G must have shape"):
        solve_qp(Q, c, A, b, G[:, :3], h)


def test_interior_point_iteration_limit_and_shapes():
    Q, c, A, b, G, h = random_qp(8)
    with pytest.raises(QPError, match=r"no convergence after 2 iterations \(largest KKT "
                                      r"residual .*complementarity gap"):
        interior_point_qp(Q, c, A, b, G, h, maxiter=2)
    with pytest.raises(ValueError, match=r"interior_point_qp: h must have shape \(6,\) to "
                                         r"match G of shape \(6, 4\), got \(5,\)"):
        interior_point_qp(Q, c, A, b, G, h[:5])


def test_qp_second_order():
    args = random_qp(9, n=3, m=1, p=4)
    assert interior_point_qp(*args).active.size > 0
    check_grads(lambda c, h: solve_qp(args[0], c, args[2], args[3], args[4], h),
                (args[1], args[5]), order=2, seed=3)


# ---- failure of LICQ: dependent active rows, unique solution -------------------------
# Projection of theta onto a polyhedron: min 1/2 |x|^2 - theta^T x  s.t.  G x <= h.
THREE_LINES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])    # x1, x2, x1 + x2 <= 0
DUPLICATE = np.array([[0.0, 1.0], [0.0, 2.0]])                  # x2 <= 0 and 2 x2 <= 0


def _projection(G, h):
    def project(theta):
        return solve_qp(np.eye(2), -theta, None, None, G, h)[0]
    return project


def _fd_jacobian(f, x, eps=1e-6):
    return np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)],
                    axis=1)


@pytest.mark.parametrize("G, x_star, J_star", [
    (THREE_LINES, [0.0, 0.0], np.zeros((2, 2))),
    (DUPLICATE, [1.0, 0.0], np.diag([1.0, 0.0])),
])
def test_licq_failure_solves_and_differentiates_in_both_modes(G, x_star, J_star):
    theta = np.array([1.0, 2.0])
    project = _projection(G, np.zeros(len(G)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DependentConstraintWarning)
        x = project(theta)
        J_fwd, J_rev = ad.jacfwd(project)(theta), ad.jacrev(project)(theta)
        J_fd = _fd_jacobian(project, theta)
    # the exact projection (by hand: the corner, or the x1 axis)
    np.testing.assert_allclose(x, x_star, atol=1e-12)
    np.testing.assert_allclose(J_fwd, J_star, atol=1e-12)
    np.testing.assert_allclose(J_rev, J_star, atol=1e-12)
    np.testing.assert_allclose(J_fd, J_star, atol=1e-8)      # theta is inside the kink-free zone


def test_licq_failure_multipliers_and_warning():
    theta = np.array([1.0, 2.0])
    with pytest.warns(DependentConstraintWarning,
                      match=r"solve_qp: the active constraints are linearly dependent \(LICQ "
                            r"fails\): inequality constraint\(s\) \[2\] hold with G x = h"):
        x, lam, mu = solve_qp(np.eye(2), -theta, None, None, THREE_LINES, np.zeros(3))
    # a valid multiplier: stationarity, sign, complementarity; zero on the dependent row
    np.testing.assert_allclose(x - theta + THREE_LINES.T @ mu, 0, atol=1e-12)
    assert np.all(mu >= 0) and mu[2] == 0.0
    res = interior_point_qp(np.eye(2), -theta, None, None, THREE_LINES, np.zeros(3))
    assert sorted(res.active.tolist()) == [0, 1] and res.dependent.tolist() == [2]
    assert res.weak.size == 0


def test_licq_failure_rules_pass_the_checkers_in_theta_and_Q():
    """Q and c (theta) perturbations keep the dependency: the derivative is exact."""
    rng = np.random.default_rng(100)
    theta = np.array([1.0, 2.0])
    Q = np.eye(2) + 0.1 * rng.standard_normal((2, 2))       # general, not symmetric
    for G in (THREE_LINES, DUPLICATE):
        def f(Q, theta):
            return solve_qp(Q, -theta, None, None, G, np.zeros(len(G)))[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DependentConstraintWarning)
            check_jvp(f, (Q, theta), seed=1)
            check_vjp(f, (Q, theta), seed=2)


def test_licq_failure_in_h_is_a_kink_and_the_derivative_is_one_sided():
    """Loosening the dependent row keeps x; tightening it moves x: a kink in h."""
    theta = np.array([1.0, 2.0])
    e = np.array([0.0, 0.0, 1.0])                            # perturb h of x1 + x2 <= 0

    def x_of_t(t):
        return solve_qp(np.eye(2), -theta, None, None, THREE_LINES, t * e)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ActiveSetWarning)
        _, xdot = ad.jvp(x_of_t, (0.0,), (1.0,))
        eps = 1e-6
        right = (x_of_t(eps) - x_of_t(0.0)) / eps               # loosening: stays inactive
        left = (x_of_t(0.0) - x_of_t(-eps)) / eps               # tightening: x moves
    np.testing.assert_allclose(xdot, right, atol=1e-8)
    assert np.max(np.abs(left - right)) > 0.1


def test_duplicated_row_with_other_constraints_matches_brute_force():
    """A duplicated active row in a random QP: same x as without the duplicate."""
    Q, c, A, b, G, h = random_qp(3)
    res = interior_point_qp(Q, c, A, b, G, h)
    i = res.active[0]
    G2, h2 = np.vstack([G, 3.0 * G[i]]), np.concatenate([h, 3.0 * h[i:i + 1]])
    with pytest.warns(DependentConstraintWarning, match=r"\[[0-9]\]"):
        x, lam, mu = solve_qp(Q, c, A, b, G2, h2)
    np.testing.assert_allclose(x, brute_force_qp(Q, c, A, b, G, h), atol=1e-9)
    np.testing.assert_allclose(Q @ x + c + A.T @ lam + G2.T @ mu, 0, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DependentConstraintWarning)
        check_vjp(lambda Q, c: solve_qp(Q, c, A, b, G2, h2)[0], (Q, c), seed=5)
        check_jvp(lambda Q, c: solve_qp(Q, c, A, b, G2, h2)[0], (Q, c), seed=6)


def test_dependent_equality_constraints_still_raise():
    Q, c, A, b, G, h = random_qp(7, m=1)
    with pytest.raises(SingularKKTError, match=r"interior_point_qp: the equality constraints "
                                               r"are linearly dependent \(A has shape \(2, 4\) "
                                               r"and rank 1\): row\(s\) \[1\]"):
        solve_qp(Q, c, np.vstack([A, A]), np.concatenate([b, b]), G, h)


# ---- structured input: Q enters through its symmetric part, in primal and rules ------
@pytest.mark.parametrize("which", ["eqp", "qp"])
def test_Q_is_used_through_its_symmetric_part_in_general_directions(which):
    """The function of all n^2 entries of Q that the primal computes is f(sym(Q)):
    rules agree with it in every direction, at symmetric and non-symmetric points."""
    if which == "eqp":
        Q, c, A, b = random_eqp(110)
        f, rest = solve_eqp, (c, A, b)
    else:
        Q, c, A, b, G, h = random_qp(3)
        f, rest = solve_qp, (c, A, b, G, h)
    rng = np.random.default_rng(111)
    K = rng.standard_normal(Q.shape)
    skew = K - K.T
    zeros = tuple(np.zeros_like(v) for v in rest)
    # an antisymmetric direction changes nothing: rule and finite differences agree on 0
    _, tangents = ad.jvp(f, (Q, *rest), (skew, *zeros))
    eps = 1e-6
    fd = [(p - m) / (2 * eps) for p, m in zip(f(Q + eps * skew, *rest),
                                                f(Q - eps * skew, *rest))]
    for t, d in zip(tangents, fd):
        np.testing.assert_allclose(t, 0.0, atol=1e-12)
        np.testing.assert_allclose(d, 0.0, atol=1e-8)
    # the cotangent of Q is symmetric: it has no component along antisymmetric directions
    out, pull = ad.vjp(f, Q, *rest)
    seeds = tuple(rng.standard_normal(np.shape(o)) for o in out)
    Qbar = pull(seeds)[0]
    np.testing.assert_allclose(Qbar, Qbar.T, atol=1e-12)
    # and the rules pass the checkers in general directions at a non-symmetric point
    check_jvp(f, (Q + 0.3 * skew, *rest), seed=7)
    check_vjp(f, (Q + 0.3 * skew, *rest), seed=8)


def test_kkt_solve_vjp_rules_read_only_what_they_declare():
    """Poison every value a rule says it does not read: the cotangent must not change."""
    from adlib.engine import ANS
    Q, c, A, b = random_eqp(120)
    kkt = qp.KKTFactor(Q, A)
    rng = np.random.default_rng(121)
    r, g = rng.standard_normal(7), rng.standard_normal(7)
    z = kkt.solve(r)
    args = [Q, A, kkt, r]
    rules = {0: qp.kkt_solve_vjp_Q, 1: qp.kkt_solve_vjp_A, 3: qp.kkt_solve_vjp_r}
    for i, rule in rules.items():
        reads = qp._kkt_solve.vjp_reads(i)
        assert reads is not None
        poisoned = [a if (j in reads or j == 2) else np.full(np.shape(a), np.nan)
                    for j, a in enumerate(args)]
        ans = z if ANS in reads else np.full_like(z, np.nan)
        np.testing.assert_array_equal(rule(g, ans, *poisoned), rule(g, z, *args))
