"""``adlib.linalg``: matrix equations and forms NumPy does not have, with derived rules.

NumPy's own linear algebra lives in ``adlib.numpy.linalg``.  This module adds
the functions the book derives rules for in Parts 3 and 4 that NumPy lacks:

* :func:`solve_lyapunov` -- :math:`P` with :math:`AP + PA^T + Q = 0`.
  Pushforward: :math:`A\\dot P + \\dot P A^T + (\\dot A P + P\\dot A^T + \\dot Q) = 0`.
  Pullback: :math:`A^T W + W A + \\bar P = 0`, then
  :math:`\\bar A = W P^T + W^T P` and :math:`\\bar Q = W`.
* :func:`solve_sylvester` -- :math:`X` with :math:`AX + XB = C`.
  Pushforward: :math:`A\\dot X + \\dot X B = \\dot C - \\dot A X - X\\dot B`.
  Pullback: :math:`A^T W + W B^T = \\bar X`, then :math:`\\bar A = -W X^T`,
  :math:`\\bar B = -X^T W` and :math:`\\bar C = W`.
* :func:`quad_form` -- :math:`y = \\tfrac12 x^T Q x`.
  Pushforward: :math:`\\tfrac12(\\dot x^T Q x + x^T Q\\dot x) + \\tfrac12 x^T\\dot Q x`.
  Pullback: :math:`\\bar x = \\tfrac12\\bar y(Q + Q^T)x`,
  :math:`\\bar Q = \\tfrac12\\bar y\\, x x^T`.
* :func:`expm` -- the matrix exponential.  Pushforward: the upper-right block
  of :math:`\\exp\\begin{pmatrix}A & \\dot A\\\\ 0 & A\\end{pmatrix}`; pullback: the same
  with :math:`A^T` and :math:`\\bar Y`.

The rules hold for *general* arguments: ``Q`` need not be symmetric, and the
cotangent :math:`\\bar P` need not be symmetric either.  With a symmetric
``Q`` (so a symmetric ``P``) the Lyapunov pullback reads
:math:`\\bar A = (W + W^T) P`; the often-quoted :math:`\\bar A = 2 W P` is
only right when :math:`\\bar P` is symmetric as well.

**Reused factorizations.**  ``solve_lyapunov`` and ``solve_sylvester``
compute a real Schur form :math:`A = Z T Z^T` (and of ``B``) once, in the
primal call.  Every further solve -- the pushforward, the adjoint equation of
the pullback, and the solves of higher derivatives -- reuses it and costs
only a quasi-triangular solve (LAPACK ``trsyl``) plus four matrix products.
The pullback solves its adjoint equation once and shares the answer between
:math:`\\bar A` and :math:`\\bar Q`.  :func:`counting` counts Schur
factorizations and triangular solves, to see this.

Every rule is written with :mod:`adlib.numpy` operations, so derivatives of
any order are available.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from adlib import numpy as anp
from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, shape_of
from adlib.errors import DTypeError, ShapeError, SingularMatrixError, SolverError

__all__ = ["solve_lyapunov", "solve_sylvester", "quad_form", "congruence", "expm",
           "SchurFactor", "LyapunovFactor", "SylvesterFactor", "counting"]


# ---- bookkeeping: how many factorizations and solves ----------------------------------
_active_counters: list[dict] = []


@contextlib.contextmanager
def counting() -> Iterator[dict]:
    """Count the Schur factorizations and triangular solves done inside the block.

    Yields a dict ``{"schur": int, "solve": int}`` that is updated as the code
    in the ``with`` block runs.

    Examples
    --------
    >>> import numpy as np, adlib as ad
    >>> A, Q = -2.0 * np.eye(3) + 0.1 * np.ones((3, 3)), np.eye(3)
    >>> with counting() as c:
    ...     P, Pdot = ad.jvp(solve_lyapunov, (A, Q), (np.ones((3, 3)), np.zeros((3, 3))))
    >>> c["schur"], c["solve"]
    (1, 3)
    """
    c = {"schur": 0, "solve": 0}
    _active_counters.append(c)
    try:
        yield c
    finally:
        _active_counters.remove(c)


def _count(key: str) -> None:
    for c in _active_counters:
        c[key] += 1


# ---- input checks ---------------------------------------------------------------------
def _check_real(name: str, arg: str, x) -> None:
    if np.iscomplexobj(_primal(x)):
        raise DTypeError(f"adlib.linalg.{name}: {arg} is complex; only real matrices are "
                        "supported (adlib differentiates real floats)")


def _check_square(name: str, arg: str, x) -> int:
    s = shape_of(x)
    if len(s) != 2 or s[0] != s[1]:
        raise ShapeError(f"adlib.linalg.{name}: {arg} must be a square matrix (n, n), got shape "
                         f"{s}. For a stack of problems, loop over it.")
    _check_real(name, arg, x)
    return s[0]


# ---- Schur factors and the quasi-triangular Sylvester solve ------------------------------
class SchurFactor:
    """A real Schur form ``A = Z T Z^T`` (``T`` quasi upper triangular, ``Z`` orthogonal).

    It is data, not a differentiated value: computed once from the primal
    value of ``A`` and reused by every solve with ``A`` or ``A^T``.
    """

    __slots__ = ("T", "Z", "n")

    def __init__(self, A):
        A = np.asarray(_primal(A), dtype=np.float64)
        self.T, self.Z = scipy.linalg.schur(A, output="real")
        self.n = A.shape[0]
        _count("schur")

    def __repr__(self) -> str:
        return f"SchurFactor(n={self.n})"


def _sylvester_schur(fa: SchurFactor, fb: SchurFactor, C, trans_a: bool, trans_b: bool,
                     what: str):
    """Solve ``op(A) X + X op(B) = C`` with the Schur factors of ``A`` and ``B``.

    With ``A = Za Ta Za^T`` and ``B = Zb Tb Zb^T``, the unknown ``Y = Za^T X Zb``
    solves ``op(Ta) Y + Y op(Tb) = Za^T C Zb``, a quasi-triangular system
    (LAPACK ``trsyl``).
    """
    C = np.asarray(C, dtype=np.float64)
    rhs = fa.Z.T @ C @ fb.Z
    Y, scale, info = lapack.dtrsyl(fa.T, fb.T, rhs, trana="T" if trans_a else "N",
                                   tranb="T" if trans_b else "N", isgn=1)
    _count("solve")
    if info < 0:   # pragma: no cover - a bug in the arguments above, not a user error
        raise SolverError(f"LAPACK dtrsyl: illegal argument {-info}")
    if info > 0:
        hint = ("two eigenvalues of A sum to zero (lambda_i + lambda_j = 0), to working "
                "precision; a stable A (all eigenvalues with negative real part) never does"
                if what == "solve_lyapunov" else
                "an eigenvalue of A plus an eigenvalue of B is zero, to working precision; "
                "-B and A must have no common eigenvalue")
        raise SingularMatrixError(
            f"adlib.linalg.{what}: the equation is singular or nearly so: {hint}. Its "
            f"solution is not unique; check the matrices.")
    return fa.Z @ (Y / scale) @ fb.Z.T


class LyapunovFactor:
    """The Schur form of ``A``, solving ``A X + X A^T = C`` and ``A^T X + X A = C``."""

    __slots__ = ("schur", "_memo")

    def __init__(self, A):
        self.schur = SchurFactor(A)
        self._memo = None

    def solve(self, C, trans: bool = False):
        """``X`` with ``A X + X A^T = C`` (``trans=True``: ``A^T X + X A = C``)."""
        return _sylvester_schur(self.schur, self.schur, C, trans, not trans, "solve_lyapunov")

    def __repr__(self) -> str:
        return f"LyapunovFactor(n={self.schur.n})"


class SylvesterFactor:
    """The Schur forms of ``A`` and ``B``, solving ``A X + X B = C`` and its transpose."""

    __slots__ = ("schur_a", "schur_b", "_memo")

    def __init__(self, A, B):
        self.schur_a, self.schur_b = SchurFactor(A), SchurFactor(B)
        self._memo = None

    def solve(self, C, trans: bool = False):
        """``X`` with ``A X + X B = C`` (``trans=True``: ``A^T X + X B^T = C``)."""
        return _sylvester_schur(self.schur_a, self.schur_b, C, trans, trans, "solve_sylvester")

    def __repr__(self) -> str:
        return f"SylvesterFactor(m={self.schur_a.n}, n={self.schur_b.n})"


def _shared_adjoint(fac, g, solve):
    """The adjoint solution for cotangent ``g``, computed once for all arguments.

    The engine asks for one argument's cotangent at a time; each needs the same
    adjoint solve ``W``.  For plain arrays the last ``(g, W)`` pair is kept on
    the factor (the factor belongs to one primal call) and reused when the same,
    unchanged ``g`` comes back.  Traced values (higher-order derivatives) are
    never cached.
    """
    memo = fac._memo
    if memo is not None and memo[0] is g and np.array_equal(memo[1], g):
        return memo[2]
    W = solve(g)
    if type(g) is np.ndarray and type(W) is np.ndarray:
        fac._memo = (g, g.copy(), W)
    return W


# ---- Lyapunov equation A P + P A^T + Q = 0 ----------------------------------------------
def _lyap_fun(A, fac, Q):
    return fac.solve(-np.asarray(Q, dtype=np.float64))


def _lyap_t_fun(A, fac, C):
    return fac.solve(-np.asarray(C, dtype=np.float64), trans=True)


_lyap = Primitive(_lyap_fun, "solve_lyapunov")       # P:  A P + P A^T + Q = 0
_lyap_t = Primitive(_lyap_t_fun, "solve_lyapunov_T")  # W:  A^T W + W A + C = 0

_transpose = anp.transpose


def lyapunov_jvp_A(t, P, A, fac, Q): return _lyap(A, fac, t @ P + P @ _transpose(t))
def lyapunov_jvp_Q(t, P, A, fac, Q): return _lyap(A, fac, t)


def lyapunov_vjp_A(g, P, A, fac, Q):
    W = _shared_adjoint(fac, g, lambda g: _lyap_t(A, fac, g))
    return W @ _transpose(P) + _transpose(W) @ P


def lyapunov_vjp_Q(g, P, A, fac, Q):
    return _shared_adjoint(fac, g, lambda g: _lyap_t(A, fac, g))


# the transposed equation A^T W + W A + C = 0, used by the rules above (and by theirs).
# The VJP rules read the Schur factors (argument ``fac``) and the answer, not A's values.
def lyapunov_t_jvp_A(t, W, A, fac, C): return _lyap_t(A, fac, _transpose(t) @ W + W @ t)
def lyapunov_t_jvp_C(t, W, A, fac, C): return _lyap_t(A, fac, t)


def lyapunov_t_vjp_A(g, W, A, fac, C):
    V = _shared_adjoint(fac, g, lambda g: _lyap(A, fac, g))
    return W @ _transpose(V) + _transpose(W) @ V


def lyapunov_t_vjp_C(g, W, A, fac, C):
    return _shared_adjoint(fac, g, lambda g: _lyap(A, fac, g))


defjvp(_lyap, lyapunov_jvp_A, None, lyapunov_jvp_Q)
defvjp(_lyap, lyapunov_vjp_A, None, lyapunov_vjp_Q, reads=[(1, ANS), None, (1,)])
defjvp(_lyap_t, lyapunov_t_jvp_A, None, lyapunov_t_jvp_C)
defvjp(_lyap_t, lyapunov_t_vjp_A, None, lyapunov_t_vjp_C, reads=[(1, ANS), None, (1,)])


def solve_lyapunov(A, Q):
    """Solve the continuous Lyapunov equation :math:`A P + P A^T + Q = 0` for ``P``.

    Parameters
    ----------
    A : array_like, shape (n, n)
        Real square matrix with no two eigenvalues summing to zero (for
        instance a stable matrix: every eigenvalue has negative real part).
    Q : array_like, shape (n, n)
        Real matrix; a symmetric ``Q`` gives a symmetric ``P``.

    Returns
    -------
    P : array, shape (n, n)

    Notes
    -----
    Rules (derived in Parts 3 and 4 of the book), for general ``Q`` and
    general cotangents:

    * pushforward: :math:`\\dot P` solves
      :math:`A\\dot P + \\dot P A^T + (\\dot A P + P\\dot A^T + \\dot Q) = 0`,
      another Lyapunov equation with the same ``A``;
    * pullback: :math:`W` solves :math:`A^T W + W A + \\bar P = 0`, then
      :math:`\\bar Q = W` and :math:`\\bar A = W P^T + W^T P`
      (:math:`= (W + W^T) P` when ``P`` is symmetric).

    The real Schur form of ``A`` is computed once and reused by every solve
    of the rules (see :func:`counting`).

    Raises
    ------
    ValueError
        When ``A`` is not square or ``Q`` does not have ``A``'s shape.
    adlib.errors.SingularMatrixError
        When the equation is singular (eigenvalues with
        :math:`\\lambda_i + \\lambda_j = 0`).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    >>> P = solve_lyapunov(A, np.eye(2))
    >>> bool(np.allclose(A @ P + P @ A.T + np.eye(2), 0))
    True
    """
    n = _check_square("solve_lyapunov", "A", A)
    sq = shape_of(Q)
    if sq != (n, n):
        raise ShapeError(f"adlib.linalg.solve_lyapunov: Q must have the shape of A, {(n, n)}, "
                         f"got {sq} (A P + P A^T + Q = 0 needs Q square like A)")
    _check_real("solve_lyapunov", "Q", Q)
    return _lyap(A, LyapunovFactor(A), Q)


# ---- Sylvester equation A X + X B = C ---------------------------------------------------
def _sylv_fun(A, B, fac, C): return fac.solve(C)
def _sylv_t_fun(A, B, fac, C): return fac.solve(C, trans=True)


_sylv = Primitive(_sylv_fun, "solve_sylvester")       # X:  A X + X B = C
_sylv_t = Primitive(_sylv_t_fun, "solve_sylvester_T")  # Y:  A^T Y + Y B^T = C


def sylvester_jvp_A(t, X, A, B, fac, C): return _sylv(A, B, fac, -(t @ X))
def sylvester_jvp_B(t, X, A, B, fac, C): return _sylv(A, B, fac, -(X @ t))
def sylvester_jvp_C(t, X, A, B, fac, C): return _sylv(A, B, fac, t)


def _sylv_adjoint(g, A, B, fac):
    return _shared_adjoint(fac, g, lambda g: _sylv_t(A, B, fac, g))


def sylvester_vjp_A(g, X, A, B, fac, C): return -(_sylv_adjoint(g, A, B, fac) @ _transpose(X))
def sylvester_vjp_B(g, X, A, B, fac, C): return -(_transpose(X) @ _sylv_adjoint(g, A, B, fac))
def sylvester_vjp_C(g, X, A, B, fac, C): return _sylv_adjoint(g, A, B, fac)


def sylvester_t_jvp_A(t, Y, A, B, fac, C): return _sylv_t(A, B, fac, -(_transpose(t) @ Y))
def sylvester_t_jvp_B(t, Y, A, B, fac, C): return _sylv_t(A, B, fac, -(Y @ _transpose(t)))
def sylvester_t_jvp_C(t, Y, A, B, fac, C): return _sylv_t(A, B, fac, t)


def _sylv_t_adjoint(g, A, B, fac):
    return _shared_adjoint(fac, g, lambda g: _sylv(A, B, fac, g))


def sylvester_t_vjp_A(g, Y, A, B, fac, C): return -(Y @ _transpose(_sylv_t_adjoint(g, A, B, fac)))
def sylvester_t_vjp_B(g, Y, A, B, fac, C): return -(_transpose(_sylv_t_adjoint(g, A, B, fac)) @ Y)
def sylvester_t_vjp_C(g, Y, A, B, fac, C): return _sylv_t_adjoint(g, A, B, fac)


defjvp(_sylv, sylvester_jvp_A, sylvester_jvp_B, None, sylvester_jvp_C)
defvjp(_sylv, sylvester_vjp_A, sylvester_vjp_B, None, sylvester_vjp_C,
       reads=[(2, ANS), (2, ANS), None, (2,)])
defjvp(_sylv_t, sylvester_t_jvp_A, sylvester_t_jvp_B, None, sylvester_t_jvp_C)
defvjp(_sylv_t, sylvester_t_vjp_A, sylvester_t_vjp_B, None, sylvester_t_vjp_C,
       reads=[(2, ANS), (2, ANS), None, (2,)])


def solve_sylvester(A, B, C):
    """Solve the Sylvester equation :math:`A X + X B = C` for ``X``.

    Parameters
    ----------
    A : array_like, shape (m, m)
    B : array_like, shape (n, n)
        Real square matrices with no eigenvalue of ``A`` equal to minus an
        eigenvalue of ``B``.
    C : array_like, shape (m, n)

    Returns
    -------
    X : array, shape (m, n)

    Notes
    -----
    * pushforward: :math:`A\\dot X + \\dot X B = \\dot C - \\dot A X - X\\dot B`;
    * pullback: :math:`W` solves :math:`A^T W + W B^T = \\bar X`, then
      :math:`\\bar C = W`, :math:`\\bar A = -W X^T`, :math:`\\bar B = -X^T W`.

    The Schur forms of ``A`` and ``B`` are computed once and reused.

    Examples
    --------
    >>> import numpy as np
    >>> A, B, C = np.diag([1.0, 2.0]), np.array([[3.0]]), np.ones((2, 1))
    >>> X = solve_sylvester(A, B, C)
    >>> bool(np.allclose(A @ X + X @ B, C))
    True
    """
    m = _check_square("solve_sylvester", "A", A)
    n = _check_square("solve_sylvester", "B", B)
    sc = shape_of(C)
    if sc != (m, n):
        raise ShapeError(f"adlib.linalg.solve_sylvester: C must have shape (m, n) = {(m, n)} "
                         f"for A of shape {(m, m)} and B of shape {(n, n)}, got {sc}")
    _check_real("solve_sylvester", "C", C)
    return _sylv(A, B, SylvesterFactor(A, B), C)


# ---- quadratic form y = 1/2 x^T Q x -----------------------------------------------------
def _quad_form_fun(x, Q):
    return 0.5 * (x @ (Q @ x))


_quad_form = Primitive(_quad_form_fun, "quad_form")


def quad_form_jvp_x(t, y, x, Q): return 0.5 * (anp.dot(t, Q @ x) + anp.dot(x, Q @ t))
def quad_form_jvp_Q(t, y, x, Q): return 0.5 * anp.dot(x, t @ x)
def quad_form_vjp_x(g, y, x, Q): return (0.5 * g) * (Q @ x + _transpose(Q) @ x)
def quad_form_vjp_Q(g, y, x, Q): return (0.5 * g) * anp.outer(x, x)


defjvp(_quad_form, quad_form_jvp_x, quad_form_jvp_Q)
defvjp(_quad_form, quad_form_vjp_x, quad_form_vjp_Q, reads=[(0, 1), (0,)])


def quad_form(x, Q):
    """The quadratic form :math:`y = \\tfrac12 x^T Q x` (a scalar).

    Parameters
    ----------
    x : array_like, shape (n,)
    Q : array_like, shape (n, n)
        Need not be symmetric.

    Notes
    -----
    For general ``Q``:
    :math:`\\dot y = \\tfrac12(\\dot x^T Q x + x^T Q \\dot x) + \\tfrac12 x^T \\dot Q x`,
    :math:`\\bar x = \\tfrac12\\bar y (Q + Q^T) x`, :math:`\\bar Q = \\tfrac12 \\bar y\\, x x^T`.
    For symmetric ``Q`` these are :math:`\\dot y = x^T Q\\dot x + \\tfrac12 x^T\\dot Q x`
    and :math:`\\bar x = \\bar y\\, Q x`.

    Examples
    --------
    >>> import numpy as np
    >>> float(quad_form(np.array([1.0, 2.0]), np.array([[2.0, 0.0], [0.0, 1.0]])))
    3.0
    """
    sx, sq = shape_of(x), shape_of(Q)
    if len(sx) != 1:
        raise ShapeError(f"adlib.linalg.quad_form: x must be a vector (n,), got shape {sx}")
    if sq != (sx[0], sx[0]):
        raise ShapeError(f"adlib.linalg.quad_form: Q must have shape (n, n) = "
                         f"{(sx[0], sx[0])} for x of shape {sx}, got {sq}")
    return _quad_form(x, Q)


# ---- congruence B^T A B -----------------------------------------------------------------
_congruence = Primitive(lambda A, B: B.T @ (A @ B), "congruence")


def congruence_jvp_A(t, C, A, B): return _transpose(B) @ t @ B
def congruence_jvp_B(t, C, A, B): return _transpose(t) @ A @ B + _transpose(B) @ A @ t
def congruence_vjp_A(g, C, A, B): return B @ g @ _transpose(B)
def congruence_vjp_B(g, C, A, B): return A @ B @ _transpose(g) + _transpose(A) @ B @ g


defjvp(_congruence, congruence_jvp_A, congruence_jvp_B)
defvjp(_congruence, congruence_vjp_A, congruence_vjp_B, reads=[(1,), (0, 1)])


def congruence(A, B):
    """The congruence :math:`C = B^T A B` as one primitive.

    Parameters
    ----------
    A : array_like, shape (n, n)
        Need not be symmetric.
    B : array_like, shape (n, k)

    Notes
    -----
    :math:`\\dot C = \\dot B^T A B + B^T \\dot A B + B^T A \\dot B`,
    :math:`\\bar A = B \\bar C B^T`, :math:`\\bar B = A B \\bar C^T + A^T B \\bar C`.
    The often quoted :math:`\\bar B = 2 A B \\bar C` needs both a symmetric
    ``A`` and a symmetric cotangent.  Reverse mode through ``B.T @ A @ B``
    gives the same numbers but stores the intermediate ``A @ B``; this
    primitive stores only ``A`` and ``B``.

    Examples
    --------
    >>> import numpy as np
    >>> congruence(np.eye(2), np.array([[1.0], [2.0]]))
    array([[5.]])
    """
    sa, sb = shape_of(A), shape_of(B)
    if len(sa) != 2 or sa[0] != sa[1]:
        raise ShapeError(f"adlib.linalg.congruence: A must be square (n, n), got shape {sa}")
    if len(sb) != 2 or sb[0] != sa[0]:
        raise ShapeError(f"adlib.linalg.congruence: B must have shape ({sa[0]}, k) for A of "
                         f"shape {sa}, got {sb}")
    return _congruence(A, B)


# ---- matrix exponential -----------------------------------------------------------------
_expm = Primitive(lambda A: scipy.linalg.expm(A), "expm")


def _frechet_block(A, E):
    """``[expm([[A, E], [0, A]])]_12``: the derivative of expm at ``A`` in direction ``E``."""
    n = shape_of(A)[0]
    M = anp.concatenate([anp.concatenate([A, E], axis=1),
                         anp.concatenate([np.zeros((n, n)), A], axis=1)], axis=0)
    return _expm(M)[:n, n:]


def expm_jvp(t, Y, A): return _frechet_block(A, t)
def expm_vjp(g, Y, A): return _frechet_block(_transpose(A), g)


defjvp(_expm, expm_jvp)
defvjp(_expm, expm_vjp, reads=[(0,)])


def expm(A):
    """Matrix exponential :math:`e^A` (SciPy's ``expm``), with block-matrix rules.

    Notes
    -----
    The pushforward is the upper-right block of the exponential of a block
    matrix, :math:`\\dot Y = [\\exp\\begin{pmatrix}A & \\dot A\\\\ 0 & A\\end{pmatrix}]_{12}`;
    the pullback is the same formula with :math:`A^T` and :math:`\\bar Y`
    (the Fréchet derivative at :math:`A^T` is the adjoint of the one at
    :math:`A`).  Each costs one exponential of a :math:`2n \\times 2n` matrix.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.allclose(expm(np.diag([0.0, 1.0])), np.diag([1.0, np.e])))
    True
    """
    _check_square("expm", "A", A)
    return _expm(A)
