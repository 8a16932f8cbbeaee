"""Differentiable quadratic programs, through their KKT conditions.

:func:`solve_eqp` solves the equality-constrained QP

.. math:: \\min_x \\tfrac12 x^T Q x + c^T x \\quad \\text{s.t.}\\quad Ax = b

from its KKT system :math:`Mz = p`, :math:`M = \\begin{bmatrix} Q & A^T\\\\ A & 0\\end{bmatrix}`,
:math:`z = (x, \\lambda)`, :math:`p = (-c, b)`, and returns :math:`(x, \\lambda)`.
The matrix :math:`M` is factorized once (LU); both rules reuse that factorization:

* pushforward: :math:`M\\dot z = -\\begin{bmatrix}\\dot Q x + \\dot c + \\dot A^T\\lambda \\\\ \\dot A x - \\dot b\\end{bmatrix}`;
* pullback: solve :math:`M w = (\\bar x, \\bar\\lambda)`, then :math:`\\bar c = -w_x`,
  :math:`\\bar b = w_\\lambda`, :math:`\\bar A = -(\\lambda w_x^T + w_\\lambda x^T)`,
  :math:`\\bar Q = -\\tfrac12 (w_x x^T + x w_x^T)`.

The objective sees only the symmetric part of ``Q`` (:math:`x^TQx = x^T\\tfrac12(Q+Q^T)x`),
so ``solve_eqp`` uses :math:`\\tfrac12(Q + Q^T)`.  That makes :math:`M` symmetric (the
transposed solve of the pullback is the same solve) and makes the symmetric
:math:`\\bar Q` above the exact adjoint for *every* perturbation :math:`\\dot Q`.

:func:`solve_qp` adds inequalities :math:`Gx \\le h`.  A primal-dual interior-point
method finds the solution and the active set; the solution is then recomputed
exactly from the equality QP in which the active inequalities are equalities, and
differentiated through :func:`solve_eqp` (as in OptNet: inactive constraints keep
a zero multiplier).  Where a constraint is active with a zero multiplier (strict
complementarity fails) the solution is not differentiable; ``solve_qp`` then warns
with :class:`ActiveSetWarning`, naming the constraints.  Where the active rows are
linearly dependent (LICQ fails: a duplicated row, three lines through a corner) the
solution can still be unique while the multipliers are not; a maximal independent
subset of the active rows is held as equalities (a rank-revealing reduction), the
dependent rows get a zero multiplier, and ``solve_qp`` warns with
:class:`DependentConstraintWarning`.  The active-set view of the sensitivity of a
solution is classical (Fiacco, 1983); OptNet (Amos and Kolter, 2017) uses it to
differentiate a QP layer.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.linalg

from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, shape_of
from adlib.errors import ShapeError, SingularMatrixError, SolverError
from adlib.custom import BothModes, has_box
from adlib import numpy as anp

__all__ = ["solve_eqp", "solve_qp", "interior_point_qp", "KKTFactor", "QPResult",
           "QPError", "SingularKKTError", "ActiveSetWarning", "DependentConstraintWarning"]


class QPError(SolverError):
    """The QP solver did not converge (infeasible, unbounded or badly scaled problem)."""


class SingularKKTError(SingularMatrixError):
    """The KKT matrix is singular: the solution or its multipliers are not unique."""


class ActiveSetWarning(UserWarning):
    """A constraint is active with a zero multiplier: the derivative is one-sided there."""


class DependentConstraintWarning(ActiveSetWarning):
    """Active constraints are linearly dependent (LICQ fails): the multipliers are not unique."""


# ------------------------------------------------------------ KKT matrix ----
def _sym(X):
    return 0.5 * (X + anp.transpose(X))


class KKTFactor:
    """One LU factorization of :math:`M = [[\\tfrac12(Q+Q^T), A^T], [A, 0]]`, reused by every solve.

    Data, not a differentiated value.  ``M`` is symmetric, so solves with its
    transpose are solves with ``M``.
    """

    __slots__ = ("lu_piv", "n", "m", "rcond")

    def __init__(self, Q, A, rcond_limit: float = 1e-13):
        Q, A = np.asarray(_primal(Q), float), np.asarray(_primal(A), float)
        n, m = Q.shape[0], A.shape[0]
        M = np.zeros((n + m, n + m))
        M[:n, :n] = 0.5 * (Q + Q.T)
        M[:n, n:] = A.T
        M[n:, :n] = A
        self.n, self.m = n, m
        with warnings.catch_warnings():   # singularity is detected (and explained) below
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            self.lu_piv = scipy.linalg.lu_factor(M, check_finite=False)
        anorm = np.linalg.norm(M, 1)
        lu = self.lu_piv[0]
        if not np.all(np.isfinite(lu)) or np.min(np.abs(np.diag(lu))) == 0.0 or anorm == 0.0:
            self.rcond = 0.0
        else:
            self.rcond = float(scipy.linalg.lapack.dgecon(lu, anorm, norm="1")[0])
        if not self.rcond > rcond_limit:
            raise SingularKKTError(
                f"solve_eqp: the KKT matrix [[Q, A^T], [A, 0]] ({n + m}x{n + m}, n={n}, m={m}) "
                f"is singular (reciprocal condition number {self.rcond:.2e}). A unique "
                f"solution with unique multipliers needs the rows of A to be linearly "
                f"independent (m <= n, LICQ) and Q positive definite on the null space of A.")

    def solve(self, r):
        return scipy.linalg.lu_solve(self.lu_piv, r, check_finite=False)

    def __repr__(self) -> str:
        return f"KKTFactor(n={self.n}, m={self.m})"


def _kkt_solve_fun(Q, A, kkt, r):
    return kkt.solve(r)


# z = M(Q, A)^{-1} r, differentiable in Q, A and r: the rules below are what makes
# the first-order rules of solve_eqp differentiable again (higher order).
_kkt_solve = Primitive(_kkt_solve_fun, "kkt_solve")


def _split(z, n):
    return z[:n], z[n:]


def _stack(u, v):
    return anp.concatenate([u, v])


def kkt_solve_jvp_Q(t, z, Q, A, kkt, r):
    zx, _ = _split(z, kkt.n)
    return -_kkt_solve(Q, A, kkt, _stack(_sym(t) @ zx, np.zeros(kkt.m)))


def kkt_solve_jvp_A(t, z, Q, A, kkt, r):
    zx, zl = _split(z, kkt.n)
    return -_kkt_solve(Q, A, kkt, _stack(anp.transpose(t) @ zl, t @ zx))


def kkt_solve_jvp_r(t, z, Q, A, kkt, r):
    return _kkt_solve(Q, A, kkt, t)


def kkt_solve_vjp_Q(g, z, Q, A, kkt, r):
    wx, _ = _split(_kkt_solve(Q, A, kkt, g), kkt.n)
    zx, _ = _split(z, kkt.n)
    return -_sym(anp.outer(wx, zx))


def kkt_solve_vjp_A(g, z, Q, A, kkt, r):
    wx, wl = _split(_kkt_solve(Q, A, kkt, g), kkt.n)
    zx, zl = _split(z, kkt.n)
    return -(anp.outer(zl, wx) + anp.outer(wl, zx))


def kkt_solve_vjp_r(g, z, Q, A, kkt, r):
    return _kkt_solve(Q, A, kkt, g)


defjvp(_kkt_solve, kkt_solve_jvp_Q, kkt_solve_jvp_A, None, kkt_solve_jvp_r)
# what each VJP rule reads: the rules for Q and A read the answer z and solve with
# (Q, A, kkt); the rule for r only solves.  Nobody reads r itself.
defvjp(_kkt_solve, kkt_solve_vjp_Q, kkt_solve_vjp_A, None, kkt_solve_vjp_r,
       reads=[(ANS, 0, 1, 2), (ANS, 0, 1, 2), None, (0, 1, 2)])


# ------------------------------------------------------------ solve_eqp ----
def _shape_str(s) -> str:
    return "(" + ", ".join(map(str, s)) + (",)" if len(s) == 1 else ")")


def _check_eqp(where, Q, c, A, b):
    sQ, sc, sA, sb = (shape_of(v) for v in (Q, c, A, b))
    if len(sQ) != 2 or sQ[0] != sQ[1]:
        raise ShapeError(f"{where}: Q must be a square matrix (n, n), got shape {_shape_str(sQ)}")
    n = sQ[0]
    if sc != (n,):
        raise ShapeError(f"{where}: c must have shape ({n},) to match Q of shape "
                         f"{_shape_str(sQ)}, got {_shape_str(sc)}")
    if len(sA) != 2 or sA[1] != n:
        raise ShapeError(f"{where}: A must have shape (m, {n}) to match Q of shape "
                         f"{_shape_str(sQ)}, got {_shape_str(sA)} (use np.zeros((0, {n})) for "
                         f"no equality constraints)")
    if sb != (sA[0],):
        raise ShapeError(f"{where}: b must have shape ({sA[0]},) to match A of shape "
                         f"{_shape_str(sA)}, got {_shape_str(sb)}")
    return n, sA[0]


def _eqp_primal(Q, c, A, b, kkt):
    z = _kkt_solve(Q, A, kkt, _stack(-c, b))
    return _split(z, kkt.n)


def _eqp_jvp(primals, tangents):
    Q, c, A, b = primals
    Qd, cd, Ad, bd = tangents
    kkt = KKTFactor(Q, A)                       # the one factorization
    x, lam = _eqp_primal(Q, c, A, b, kkt)
    rhs = _stack(_sym(Qd) @ x + cd + anp.transpose(Ad) @ lam, Ad @ x - bd)
    xd, lamd = _split(-_kkt_solve(Q, A, kkt, rhs), kkt.n)
    return (x, lam), (xd, lamd)


def _eqp_fwd(Q, c, A, b):
    kkt = KKTFactor(Q, A)                       # the one factorization
    x, lam = _eqp_primal(Q, c, A, b, kkt)
    return (x, lam), (Q, A, kkt, x, lam)


def eqp_pullback(res, cts):
    Q, A, kkt, x, lam = res
    xbar, lambar = cts
    w_x, w_lam = _split(_kkt_solve(Q, A, kkt, _stack(xbar, lambar)), kkt.n)   # M w = (x̄, λ̄)
    Qbar = -0.5 * (anp.outer(w_x, x) + anp.outer(x, w_x))
    cbar = -w_x
    Abar = -(anp.outer(lam, w_x) + anp.outer(w_lam, x))
    bbar = w_lam
    return Qbar, cbar, Abar, bbar


def _eqp_plain(Q, c, A, b):
    kkt = KKTFactor(Q, A)
    return _eqp_primal(Q, c, A, b, kkt)


_eqp = BothModes(_eqp_plain, _eqp_jvp, _eqp_fwd, eqp_pullback, "solve_eqp")


def solve_eqp(Q, c, A, b):
    """Solve :math:`\\min_x \\tfrac12 x^TQx + c^Tx` s.t. :math:`Ax = b`; return ``(x, lam)``.

    Parameters
    ----------
    Q : array (n, n)
        Only its symmetric part :math:`\\tfrac12(Q + Q^T)` matters (and is used).
    c : array (n,)
    A : array (m, n)
        Linearly independent rows; ``np.zeros((0, n))`` for no constraints.
    b : array (m,)

    Returns
    -------
    x : array (n,)
        The minimizer.
    lam : array (m,)
        The multipliers, with :math:`Qx + c + A^T\\lambda = 0`.

    Notes
    -----
    Differentiable in all four arguments, in forward and reverse mode and to any
    order; the KKT matrix is factorized once per call and every rule reuses it.

    Raises
    ------
    SingularKKTError
        If the KKT matrix is singular (dependent constraints, or ``Q`` not
        positive definite on the null space of ``A``).
    """
    _check_eqp("solve_eqp", Q, c, A, b)
    return _eqp(Q, c, A, b)


# ------------------------------------------------- inequality-constrained QP ----
class QPResult(NamedTuple):
    """What :func:`interior_point_qp` returns (plain arrays)."""

    x: np.ndarray          #: the minimizer
    lam: np.ndarray        #: multipliers of Ax = b
    mu: np.ndarray         #: multipliers of Gx <= h (>= 0)
    slack: np.ndarray      #: h - Gx (>= 0)
    active: np.ndarray     #: inequalities held as equalities (independent rows)
    weak: np.ndarray       #: indices where strict complementarity fails
    iterations: int        #: interior-point iterations
    #: inequalities with G x = h whose rows depend linearly on the active ones and the
    #: rows of A (LICQ fails there); their multipliers are set to zero
    dependent: np.ndarray = np.zeros(0, dtype=int)


def _independent_rows(A, G, order, rank_tol: float = 1e-9) -> np.ndarray:
    """The indices in ``order`` whose rows of ``G`` are kept, greedily, in that order.

    A row is kept when it is linearly independent of the rows of ``A`` and of the
    rows kept before it (its distance to their span exceeds ``rank_tol`` times its
    norm): a rank-revealing reduction, one Gram-Schmidt step per candidate.
    """
    basis = [r / np.linalg.norm(r) for r in _orthonormal_rows(A)]
    kept = []
    for i in order:
        g = np.asarray(G[i], float)
        r = g.copy()
        for _ in range(2):                      # twice is enough (Kahan-Parlett)
            for q in basis:
                r -= (q @ r) * q
        if np.linalg.norm(r) > rank_tol * max(np.linalg.norm(g), np.finfo(float).tiny):
            basis.append(r / np.linalg.norm(r))
            kept.append(i)
    return np.asarray(kept, dtype=int)


def _orthonormal_rows(A):
    if A.shape[0] == 0:
        return np.zeros((0, A.shape[1]))
    q, _ = np.linalg.qr(A.T)
    return q.T


def _as_constraints(where, n, A, b, name_A, name_b):
    if A is None and b is None:
        return np.zeros((0, n)), np.zeros(0)
    if A is None or b is None:
        raise ShapeError(f"{where}: give both {name_A} and {name_b}, or neither")
    return A, b


def _check_ineq(where, n, G, h):
    sG, sh = shape_of(G), shape_of(h)
    if len(sG) != 2 or sG[1] != n:
        raise ShapeError(f"{where}: G must have shape (p, {n}) to match Q, got {_shape_str(sG)}")
    if sh != (sG[0],):
        raise ShapeError(f"{where}: h must have shape ({sG[0]},) to match G of shape "
                         f"{_shape_str(sG)}, got {_shape_str(sh)}")
    return sG[0]


def _mehrotra(Qs, c, A, b, G, h, tol, maxiter, scale):
    """Mehrotra's predictor-corrector iteration; returns (x, z, s, iterations).

    Variables: x, the multipliers y of Ax = b and z >= 0 of Gx + s = h, slacks s >= 0.
    Each Newton step eliminates s and z and solves the reduced KKT system
    [[Q + G^T D G, A^T], [A, 0]] with D = z/s, once factorized, twice solved.
    """
    n, m, p = Qs.shape[0], A.shape[0], G.shape[0]

    def factor(D):
        K = np.zeros((n + m, n + m))
        K[:n, :n] = Qs + G.T @ (D[:, None] * G)
        K[:n, n:] = A.T
        K[n:, :n] = A
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            lu = scipy.linalg.lu_factor(K, check_finite=False)
        return lambda r1, r2: np.split(scipy.linalg.lu_solve(lu, np.concatenate([r1, r2]),
                                                             check_finite=False), [n])

    def step(v, dv):   # largest step in [0, 1] keeping v + step * dv >= 0
        neg = dv < 0
        return min(1.0, np.min(-v[neg] / dv[neg], initial=np.inf))

    # start: minimize 1/2 x'Qx + c'x + 1/2 |Gx - h|^2 subject to Ax = b, then push inside
    x, y = factor(np.ones(p))(-c + G.T @ h, b)
    s = h - G @ x
    s = s + max(0.0, 1.0 - np.min(s, initial=1.0))
    z = np.ones(p)
    for it in range(1, maxiter + 1):
        rd = Qs @ x + c + A.T @ y + G.T @ z
        rp = A @ x - b
        rg = G @ x + s - h
        gap = s @ z / max(p, 1)
        worst = max(np.max(np.abs(r), initial=0.0) for r in (rd, rp, rg))
        if worst <= tol and gap <= tol:
            return x, z, s, it
        solve = factor(z / s)

        def direction(rc):
            dx, dy = solve(-rd - G.T @ ((z * rg - rc) / s), -rp)
            ds = -rg - G @ dx
            dz = (-rc - z * ds) / s
            return dx, dy, ds, dz

        dx, dy, ds, dz = direction(s * z)                                 # predictor
        a_aff = min(step(s, ds), step(z, dz))
        gap_aff = (s + a_aff * ds) @ (z + a_aff * dz) / max(p, 1)
        sigma = (gap_aff / gap) ** 3 if gap > 0 else 0.0
        dx, dy, ds, dz = direction(s * z + ds * dz - sigma * gap)         # corrector
        alpha = min(1.0, 0.99 * min(step(s, ds), step(z, dz)))
        x, y, s, z = x + alpha * dx, y + alpha * dy, s + alpha * ds, z + alpha * dz
        big = 1e12 * scale
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(x))
                and np.max(z, initial=0.0) < big and np.max(np.abs(x), initial=0.0) < big):
            raise QPError(
                f"interior_point_qp: the iterates diverged at iteration {it} (multipliers or "
                f"x beyond 1e12). The constraints are probably infeasible (no x with Ax = b "
                f"and Gx <= h), or the objective is unbounded below on them.")
    raise QPError(
        f"interior_point_qp: no convergence after {maxiter} iterations (largest KKT "
        f"residual {worst:.2e}, complementarity gap {gap:.2e}). The problem may be "
        f"infeasible, or unbounded (Q not positive definite on the feasible directions).")


def interior_point_qp(Q, c, A, b, G, h, *, tol: float = 1e-10, maxiter: int = 100,
                      degenerate_tol: float = 1e-7) -> QPResult:
    """Solve :math:`\\min \\tfrac12 x^TQx + c^Tx` s.t. :math:`Ax = b,\\ Gx \\le h` (plain NumPy).

    A primal-dual interior-point method (Mehrotra's predictor-corrector) for
    small dense convex problems, followed by *polishing*: the active set is read
    off (multiplier larger than slack), and the solution and multipliers are
    recomputed exactly from the KKT system in which the active inequalities are
    equalities.  ``A``/``b`` may be ``None``.

    Raises
    ------
    QPError
        If the iteration does not converge (e.g. an infeasible problem) or the
        polished point violates a constraint.
    """
    Q = np.asarray(Q, float)
    n = Q.shape[0]
    A, b = _as_constraints("interior_point_qp", n, A, b, "A", "b")
    A, b, G, h, c = (np.asarray(v, float) for v in (A, b, G, h, c))
    _check_eqp("interior_point_qp", Q, c, A, b)
    p = _check_ineq("interior_point_qp", n, G, h)
    m = A.shape[0]
    kept = _independent_rows(np.zeros((0, n)), A, range(m))
    if kept.size < m:
        raise SingularKKTError(
            f"interior_point_qp: the equality constraints are linearly dependent (A has "
            f"shape {_shape_str(A.shape)} and rank {kept.size}): row(s) "
            f"{np.setdiff1d(np.arange(m), kept).tolist()} of A combine the others. Remove "
            f"them from A and b (if b is consistent) or write them as inequalities.")
    Qs = 0.5 * (Q + Q.T)
    scale = 1.0 + max(np.max(np.abs(Qs), initial=0), np.max(np.abs(c), initial=0),
                      np.max(np.abs(h), initial=0), np.max(np.abs(b), initial=0))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x, z, s, it = _mehrotra(Qs, c, A, b, G, h, tol * scale, maxiter, scale)

    # polish: the active inequalities as equalities, solved exactly.  The active set is
    # read off the interior point (multiplier larger than slack); near a degenerate point
    # that guess can be off by a constraint, so a few active-set corrections follow
    # (drop the most negative multiplier, else add the most violated constraint).
    # Where the active rows are linearly dependent (LICQ fails), only a maximal
    # independent subset of them, picked by decreasing interior-point multiplier, is
    # made an equality: x is the same, and the multipliers are those with zeros on the
    # dependent rows.
    tol_d = degenerate_tol * scale
    candidates = np.flatnonzero(z > s)
    for _ in range(2 * p + 1):
        active = _independent_rows(A, G, candidates[np.argsort(-z[candidates],
                                                               kind="stable")])
        Aa = np.vstack([A, G[active]])
        ba = np.concatenate([b, h[active]])
        try:
            xs, nus = _eqp_plain(Q, c, Aa, ba)
        except SingularKKTError as err:
            raise SingularKKTError(
                f"interior_point_qp: the KKT matrix of the equality constraints and the "
                f"active inequalities {active.tolist()} is singular: the equality "
                f"constraints A are linearly dependent, or Q is not positive definite on "
                f"the null space of the active constraints. ({err})") from None
        mu = np.zeros(p)
        mu[active] = nus[m:]
        slack = h - G @ xs
        outside = np.setdiff1d(np.arange(p), candidates)
        if active.size and np.min(mu[active]) < -tol_d:
            candidates = np.setdiff1d(candidates, active[np.argmin(mu[active])])
        elif outside.size and np.min(slack[outside]) < -tol_d:
            candidates = np.union1d(candidates, outside[np.argmin(slack[outside])])
        else:
            break
    else:
        raise QPError("interior_point_qp: could not identify a consistent active set "
                          "from the interior-point solution; the problem is badly scaled "
                          "or degenerate.")
    rest = np.setdiff1d(np.arange(p), active)
    touching = rest[np.abs(slack[rest]) <= tol_d]          # G x = h, not an equality
    dependent = touching[[not _independent_rows(np.vstack([A, G[active]]), G, [i]).size
                          for i in touching]].astype(int)
    weak = np.sort(np.concatenate([active[np.abs(mu[active]) <= tol_d],
                                   np.setdiff1d(touching, dependent)]))
    return QPResult(xs, nus[:m], mu, slack, np.sort(active), weak.astype(int), it,
                    dependent)


def solve_qp(Q, c, A, b, G, h, *, tol: float = 1e-10, degenerate_tol: float = 1e-7):
    """Solve :math:`\\min \\tfrac12 x^TQx + c^Tx` s.t. :math:`Ax = b,\\ Gx \\le h`; return ``(x, lam, mu)``.

    Differentiable in all six arguments (forward and reverse mode), OptNet-style:
    the active inequalities act as equalities and the solution is differentiated
    through :func:`solve_eqp`; inactive inequalities have ``mu = 0`` with zero
    derivative.  ``A`` and ``b`` may be ``None`` (no equality constraints; ``lam``
    is then empty).

    Warns
    -----
    ActiveSetWarning
        When an inequality is active with a zero multiplier (strict complementarity
        fails): the solution has a kink there.  Such constraints are treated as
        inactive, which gives the one-sided derivative for perturbations that keep
        them inactive.
    DependentConstraintWarning
        When the active constraints are linearly dependent (LICQ fails, e.g. a
        duplicated row, or three lines through one point in the plane).  ``x`` is
        still unique and is computed exactly: a maximal linearly independent subset
        of the active rows (``interior_point_qp(...).active``) is held as equalities,
        and the dependent rows get ``mu = 0``, one of the many valid multipliers.
        The derivatives are those of the QP without the dependent rows: exact for
        perturbations of ``Q`` and ``c`` (they keep the dependency), one-sided for
        perturbations of ``A, b, G, h`` that keep the dependent rows inactive;
        ``mu`` itself is not a function of the data there.

    Notes
    -----
    ``Q`` enters through its symmetric part :math:`\tfrac12(Q + Q^T)` only, in the
    primal and in the rules, so the derivatives are those of the function of all
    :math:`n^2` entries of ``Q`` that the primal computes (in every direction, not
    only symmetric ones).
    """
    n = shape_of(Q)[0] if len(shape_of(Q)) == 2 else -1
    A, b = _as_constraints("solve_qp", n, A, b, "A", "b")
    _check_eqp("solve_qp", Q, c, A, b)
    p = _check_ineq("solve_qp", n, G, h)
    m = shape_of(A)[0]
    res = interior_point_qp(*(_primal(v) for v in (Q, c, A, b, G, h)), tol=tol,
                            degenerate_tol=degenerate_tol)
    if res.weak.size:
        warnings.warn(ActiveSetWarning(
            f"solve_qp: strict complementarity fails for inequality constraint(s) "
            f"{res.weak.tolist()}: G x = h there with a multiplier of 0 (to within "
            f"{degenerate_tol:.0e}). The solution is not differentiable at this point (the "
            f"active set changes here); the derivatives returned treat these constraints as "
            f"inactive (a one-sided derivative)."), stacklevel=2)
    if res.dependent.size:
        warnings.warn(DependentConstraintWarning(
            f"solve_qp: the active constraints are linearly dependent (LICQ fails): "
            f"inequality constraint(s) {res.dependent.tolist()} hold with G x = h but their "
            f"rows are combinations of the rows of A and of the active inequalities "
            f"{res.active.tolist()}. x is unique; the multipliers are not, and mu = 0 is "
            f"returned for {res.dependent.tolist()}. The derivatives returned are those of "
            f"the problem without them: exact for perturbations of Q and c, one-sided for "
            f"perturbations of A, b, G, h that keep them inactive."), stacklevel=2)
    active = np.setdiff1d(res.active, res.weak)
    if not has_box((Q, c, A, b, G, h)):
        mu = res.mu.copy()
        mu[res.weak] = 0.0
        return res.x, res.lam, mu
    Aa = anp.concatenate([A, G[active]]) if active.size else A
    ba = anp.concatenate([b, h[active]]) if active.size else b
    x, nu = solve_eqp(Q, c, Aa, ba)
    E = np.zeros((p, active.size))           # scatter the active multipliers into mu
    E[active, np.arange(active.size)] = 1.0
    return x, nu[:m], E @ nu[m:]
