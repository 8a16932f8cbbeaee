"""Tests of adlib.linalg: Lyapunov and Sylvester solves, quadratic form, expm.

Every rule is checked against central finite differences (check_jvp) and with
the dot-product test (check_vjp), in both modes and to second order, at general
random points with general random seeds: non-symmetric Q, non-symmetric
cotangents.  Primal values are checked against SciPy's own solvers, and the
pushforwards against an independent algorithm (the Kronecker-vectorized solve,
differentiated by adlib's tracing).  A deliberately wrong Lyapunov pullback shows
what a symmetric seed hides.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import adlib as ad
import adlib.numpy as anp
from adlib import linalg as alg
from adlib.errors import DTypeError, ShapeError, SingularMatrixError
from adlib.testing import check_grads, check_jvp, check_vjp


def stable(rng, n, shift=3.0):
    """A general (non-symmetric) matrix with every eigenvalue in the left half-plane."""
    A = rng.standard_normal((n, n))
    return A - (shift + np.max(np.linalg.eigvals(A).real)) * np.eye(n)


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)


# ---------------------------------------------------------------- Lyapunov ----
def test_lyapunov_primal_matches_scipy(rng):
    A, Q = stable(rng, 5), rng.standard_normal((5, 5))
    P = alg.solve_lyapunov(A, Q)
    # scipy solves A X + X A^H = Q, so it gets -Q
    assert np.allclose(P, scipy.linalg.solve_continuous_lyapunov(A, -Q), rtol=1e-12, atol=1e-12)
    assert np.allclose(A @ P + P @ A.T + Q, 0.0, atol=1e-12)


def test_lyapunov_with_complex_eigenvalues(rng):
    # a rotation-dominated A: the real Schur form has 2x2 blocks
    A = np.array([[-0.5, 3.0, 0.0], [-3.0, -0.5, 1.0], [0.0, 0.0, -2.0]])
    assert np.iscomplexobj(np.linalg.eigvals(A)) and np.abs(np.linalg.eigvals(A).imag).max() > 1
    Q = rng.standard_normal((3, 3))
    P = alg.solve_lyapunov(A, Q)
    assert np.allclose(A @ P + P @ A.T + Q, 0.0, atol=1e-12)
    check_grads(alg.solve_lyapunov, (A, Q), order=2, seed=3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lyapunov_rules_general_seeds(rng, seed):
    A, Q = stable(rng, 4), rng.standard_normal((4, 4))   # Q not symmetric
    check_grads(alg.solve_lyapunov, (A, Q), order=2, modes=("fwd", "rev"), seed=seed)


def test_lyapunov_rules_symmetric_Q(rng):
    A, Q = stable(rng, 4), rng.standard_normal((4, 4))
    Q = Q @ Q.T
    check_grads(alg.solve_lyapunov, (A, Q), order=1, seed=5)
    check_grads(lambda A: alg.solve_lyapunov(A, Q), (A,), order=2, seed=6)


def test_lyapunov_third_order_forward(rng):
    A, Q = stable(rng, 3), rng.standard_normal((3, 3))
    check_grads(alg.solve_lyapunov, (A, Q), order=3, modes=("fwd",), seed=7)


def kron_lyapunov(A, Q):
    """The Lyapunov solve as one dense solve: (I (x) A + A (x) I) vec(P) = -vec(Q).

    With row-major vec (what reshape does), vec(A P) = (A (x) I) vec(P) and
    vec(P A^T) = (I (x) A) vec(P).  Built with adlib.numpy only, so adlib
    differentiates this *algorithm* by tracing.
    """
    n = A.shape[0]
    eye = np.eye(n)
    K = (anp.reshape(anp.einsum("ij,kl->ikjl", A, eye), (n * n, n * n))
         + anp.reshape(anp.einsum("ij,kl->ikjl", eye, A), (n * n, n * n)))
    return anp.reshape(anp.linalg.solve(K, -anp.reshape(Q, (n * n,))), (n, n))


def test_lyapunov_pushforward_matches_differentiated_algorithm(rng):
    A, Q = stable(rng, 5), rng.standard_normal((5, 5))
    Ad, Qd = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    P1, Pd1 = ad.jvp(alg.solve_lyapunov, (A, Q), (Ad, Qd))
    P2, Pd2 = ad.jvp(kron_lyapunov, (A, Q), (Ad, Qd))
    assert np.allclose(P1, P2, rtol=1e-10, atol=1e-12)
    assert np.allclose(Pd1, Pd2, rtol=1e-9, atol=1e-11)
    # the pushforward is another Lyapunov solve with the same A
    P = P1
    assert np.allclose(A @ Pd1 + Pd1 @ A.T + (Ad @ P + P @ Ad.T + Qd), 0.0, atol=1e-10)


def test_lyapunov_pullback_formula(rng):
    """The pullback is Abar = W P^T + W^T P, Qbar = W with A^T W + W A + Pbar = 0."""
    A, Q = stable(rng, 4), rng.standard_normal((4, 4))
    Pbar = rng.standard_normal((4, 4))
    P, pull = ad.vjp(alg.solve_lyapunov, A, Q)
    Abar, Qbar = pull(Pbar)
    W = scipy.linalg.solve_continuous_lyapunov(A.T, -Pbar)
    assert np.allclose(Qbar, W, rtol=1e-10, atol=1e-12)
    assert np.allclose(Abar, W @ P.T + W.T @ P, rtol=1e-10, atol=1e-12)
    # and against the traced Kronecker algorithm (an independent derivation)
    Abar2, Qbar2 = ad.vjp(kron_lyapunov, A, Q)[1](Pbar)
    assert np.allclose(Abar, Abar2, rtol=1e-9, atol=1e-11)
    assert np.allclose(Qbar, Qbar2, rtol=1e-9, atol=1e-11)


def test_lyapunov_reuses_one_schur_form(rng):
    A, Q = stable(rng, 6), rng.standard_normal((6, 6))
    with alg.counting() as c:
        ad.jvp(alg.solve_lyapunov, (A, Q), (rng.standard_normal((6, 6)), rng.standard_normal((6, 6))))
    # one factorization; primal solve + one solve per perturbed argument
    assert c == {"schur": 1, "solve": 3}
    with alg.counting() as c:
        _, pull = ad.vjp(alg.solve_lyapunov, A, Q)
        pull(rng.standard_normal((6, 6)))
    # one factorization; primal solve + ONE adjoint solve shared by Abar and Qbar
    assert c == {"schur": 1, "solve": 2}


def test_shared_adjoint_is_not_stale_when_seed_changes_in_place(rng):
    A, Q = stable(rng, 3), rng.standard_normal((3, 3))
    _, pull = ad.vjp(alg.solve_lyapunov, A, Q)
    g = rng.standard_normal((3, 3))
    Abar1, Qbar1 = pull(g)
    g *= -2.0     # same object, new values
    Abar2, Qbar2 = pull(g)
    assert np.allclose(Qbar2, -2.0 * Qbar1) and np.allclose(Abar2, -2.0 * Abar1)


# ---- the symmetric-seed trap ------------------------------------------------------------
def lyapunov_with_abar(abar_rule):
    """solve_lyapunov(A, Q) with a hand-written pullback computing Abar by ``abar_rule``."""
    @ad.custom_vjp
    def lyap(A, Q):
        return alg.solve_lyapunov(A, Q)

    def lyap_fwd(A, Q):
        P = alg.solve_lyapunov(A, Q)
        return P, (A, P)

    def lyap_bwd(res, Pbar):
        A, P = res
        W = alg.solve_lyapunov(A.T, Pbar)     # A^T W + W A + Pbar = 0
        return abar_rule(W, P), W

    lyap.defvjp(lyap_fwd, lyap_bwd)
    return lyap


def symmetric_seed_dot_product_gap(f, A, Q, rng, eps=1e-6):
    """<Pbar, J Adot> - <Abar, Adot> with a SYMMETRIC Pbar (what a careless test does)."""
    Ad = rng.standard_normal(A.shape)
    S = rng.standard_normal(A.shape)
    Pbar = S + S.T
    fd = (f(A + eps * Ad, Q) - f(A - eps * Ad, Q)) / (2 * eps)
    _, pull = ad.vjp(f, A, Q)
    Abar, _ = pull(Pbar)
    lhs, rhs = np.sum(Pbar * fd), np.sum(Abar * Ad)
    return abs(lhs - rhs) / (abs(lhs) + abs(rhs))


def test_symmetric_seed_trap(rng):
    A = stable(rng, 4)
    Q = rng.standard_normal((4, 4))
    Q = Q @ Q.T + np.eye(4)                       # symmetric Q, so P is symmetric
    wrong = lyapunov_with_abar(lambda W, P: 2.0 * W @ P)
    right = lyapunov_with_abar(lambda W, P: (W + W.T) @ P)

    # seeded with a symmetric Pbar, the wrong rule looks fine ...
    assert symmetric_seed_dot_product_gap(wrong, A, Q, np.random.default_rng(1)) < 1e-7
    # ... but the dot-product test with a general seed catches it
    with pytest.raises(AssertionError, match=r"check_vjp\(lyap\): dot-product test failed"):
        check_vjp(wrong, (A, Q), seed=2)
    # the correct rule passes both
    assert symmetric_seed_dot_product_gap(right, A, Q, np.random.default_rng(1)) < 1e-7
    check_vjp(right, (A, Q), seed=2)
    # and agrees with the library rule
    Pbar = rng.standard_normal((4, 4))
    assert np.allclose(ad.vjp(right, A, Q)[1](Pbar)[0],
                       ad.vjp(alg.solve_lyapunov, A, Q)[1](Pbar)[0], rtol=1e-10, atol=1e-12)


# ---- errors -------------------------------------------------------------------------------
def test_lyapunov_errors(rng):
    with pytest.raises(ShapeError, match=r"solve_lyapunov: A must be a square matrix \(n, n\), "
                                         r"got shape \(3, 4\)"):
        alg.solve_lyapunov(np.ones((3, 4)), np.ones((3, 3)))
    with pytest.raises(ShapeError, match=r"solve_lyapunov: Q must have the shape of A, \(3, 3\), "
                                         r"got \(3, 2\)"):
        alg.solve_lyapunov(-np.eye(3), np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"solve_lyapunov: A must be a square matrix .* got shape "
                                         r"\(2, 3, 3\)\. For a stack of problems, loop over it"):
        alg.solve_lyapunov(np.ones((2, 3, 3)), np.ones((3, 3)))
    with pytest.raises(DTypeError, match=r"solve_lyapunov: Q is complex; only real matrices"):
        alg.solve_lyapunov(-np.eye(2), np.eye(2) * 1j)
    with pytest.raises(SingularMatrixError,
                       match=r"solve_lyapunov: the equation is singular or nearly so: two "
                             r"eigenvalues of A sum to zero"):
        alg.solve_lyapunov(np.diag([1.0, -1.0]), np.eye(2))


# ---------------------------------------------------------------- Sylvester ----
def sylvester_problem(rng, m=4, n=3):
    """General A (m x m), B (n x n), C (m x n), with A and B both "unstable", so that an
    eigenvalue of A plus one of B is never zero."""
    A, B = -stable(rng, m, shift=2.0), -stable(rng, n, shift=2.0)
    return A, B, rng.standard_normal((m, n))


def test_sylvester_primal_matches_scipy(rng):
    A, B, C = sylvester_problem(rng)
    X = alg.solve_sylvester(A, B, C)
    assert np.allclose(X, scipy.linalg.solve_sylvester(A, B, C), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_sylvester_rules(rng, seed):
    A, B, C = sylvester_problem(rng)
    check_grads(alg.solve_sylvester, (A, B, C), order=2, seed=seed)


def test_sylvester_pullback_formula(rng):
    A, B, C = sylvester_problem(rng)
    Xbar = rng.standard_normal(C.shape)
    X, pull = ad.vjp(alg.solve_sylvester, A, B, C)
    Abar, Bbar, Cbar = pull(Xbar)
    W = scipy.linalg.solve_sylvester(A.T, B.T, Xbar)
    assert np.allclose(Cbar, W) and np.allclose(Abar, -W @ X.T) and np.allclose(Bbar, -X.T @ W)


def test_sylvester_reuses_schur_forms(rng):
    A, B, C = sylvester_problem(rng)
    with alg.counting() as c:
        _, pull = ad.vjp(alg.solve_sylvester, A, B, C)
        pull(rng.standard_normal(C.shape))
    assert c == {"schur": 2, "solve": 2}


def test_sylvester_errors():
    with pytest.raises(ShapeError, match=r"solve_sylvester: B must be a square matrix \(n, n\), "
                                         r"got shape \(2, 3\)"):
        alg.solve_sylvester(np.eye(2), np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ShapeError, match=r"solve_sylvester: C must have shape \(m, n\) = \(2, 3\) "
                                         r"for A of shape \(2, 2\) and B of shape \(3, 3\), got \(3, 2\)"):
        alg.solve_sylvester(np.eye(2), np.eye(3), np.ones((3, 2)))
    with pytest.raises(SingularMatrixError,
                       match=r"solve_sylvester: the equation is singular or nearly so: an "
                             r"eigenvalue of A plus an eigenvalue of B is zero"):
        alg.solve_sylvester(np.eye(2), -np.eye(2), np.ones((2, 2)))


# ---------------------------------------------------------------- quadratic form ----
def test_quad_form_value(rng):
    x, Q = rng.standard_normal(5), rng.standard_normal((5, 5))
    assert np.isclose(alg.quad_form(x, Q), 0.5 * x @ Q @ x)


@pytest.mark.parametrize("seed", [0, 1])
def test_quad_form_rules_general_Q(rng, seed):
    x, Q = rng.standard_normal(5), rng.standard_normal((5, 5))   # Q not symmetric
    check_grads(alg.quad_form, (x, Q), order=2, seed=seed)


def test_quad_form_rules_against_traced_expression(rng):
    x, Q = rng.standard_normal(4), rng.standard_normal((4, 4))
    xd, Qd = rng.standard_normal(4), rng.standard_normal((4, 4))
    traced = lambda x, Q: 0.5 * anp.dot(x, Q @ x)
    assert np.isclose(ad.jvp(alg.quad_form, (x, Q), (xd, Qd))[1],
                      ad.jvp(traced, (x, Q), (xd, Qd))[1], rtol=1e-12)
    for a, b in zip(ad.vjp(alg.quad_form, x, Q)[1](0.7), ad.vjp(traced, x, Q)[1](0.7)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_quad_form_symmetric_case(rng):
    """For symmetric Q: ydot = x^T Q xdot and xbar = ybar Q x."""
    x, S = rng.standard_normal(4), rng.standard_normal((4, 4))
    Q = S + S.T
    xd = rng.standard_normal(4)
    assert np.isclose(ad.jvp(lambda x: alg.quad_form(x, Q), (x,), (xd,))[1], x @ Q @ xd)
    xbar, _ = ad.vjp(alg.quad_form, x, Q)[1](1.3)
    assert np.allclose(xbar, 1.3 * Q @ x)


def test_quad_form_errors():
    with pytest.raises(ShapeError, match=r"quad_form: x must be a vector \(n,\), got shape \(3, 1\)"):
        alg.quad_form(np.ones((3, 1)), np.eye(3))
    with pytest.raises(ShapeError, match=r"quad_form: Q must have shape \(n, n\) = \(3, 3\) for x "
                                         r"of shape \(3,\), got \(2, 2\)"):
        alg.quad_form(np.ones(3), np.eye(2))


# ---------------------------------------------------------------- expm ----
def test_expm_value(rng):
    A = rng.standard_normal((4, 4))
    assert np.allclose(alg.expm(A), scipy.linalg.expm(A))


@pytest.mark.parametrize("seed", [0, 1])
def test_expm_rules(rng, seed):
    A = 0.5 * rng.standard_normal((4, 4))
    check_grads(alg.expm, (A,), order=2, seed=seed)


def test_expm_jvp_matches_scipy_frechet(rng):
    A, E = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    _, Yd = ad.jvp(alg.expm, (A,), (E,))
    assert np.allclose(Yd, scipy.linalg.expm_frechet(A, E, compute_expm=False), rtol=1e-10)


def test_expm_errors():
    with pytest.raises(ValueError, match=r"expm: A must be a square matrix \(n, n\), got shape \(2, 3\)"):
        alg.expm(np.ones((2, 3)))


# ---------------------------------------------------------------- counting ----
def test_counting_nests_and_resets(rng):
    A, Q = stable(rng, 3), rng.standard_normal((3, 3))
    with alg.counting() as outer:
        alg.solve_lyapunov(A, Q)
        with alg.counting() as inner:
            alg.solve_lyapunov(A, Q)
    alg.solve_lyapunov(A, Q)   # outside: not counted
    assert outer == {"schur": 2, "solve": 2} and inner == {"schur": 1, "solve": 1}


# ---- congruence B^T A B ------------------------------------------------------------
def test_congruence_value_and_rules_general_matrices():
    rng = np.random.default_rng(20261127)
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(alg.congruence(A, B), B.T @ A @ B, rtol=1e-12)
    check_grads(alg.congruence, (A, B), order=2, seed=5)
    # the same derivatives as differentiating the two products (independent route)
    Cbar = rng.standard_normal((3, 3))
    lib = ad.vjp(alg.congruence, A, B)[1](Cbar)
    ref = ad.vjp(lambda A, B: B.T @ A @ B, A, B)[1](Cbar)
    for u, v in zip(lib, ref):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_congruence_shape_errors():
    with pytest.raises(ShapeError, match=r"congruence: A must be square \(n, n\), got shape \(3, 2\)"):
        alg.congruence(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ShapeError, match=r"congruence: B must have shape \(3, k\)"):
        alg.congruence(np.ones((3, 3)), np.ones((2, 1)))
