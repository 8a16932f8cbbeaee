"""``adlib.numpy.linalg``: NumPy's linear algebra with derived rules.

Each rule below is a formula from the book (Parts 3 and 4 derive them):

=============  ===========================================  =====================================
function       pushforward                                  pullback
=============  ===========================================  =====================================
inv            :math:`\\dot Y = -Y\\dot A Y`                  :math:`\\bar A = -Y^T\\bar Y Y^T`
solve          :math:`A\\dot x = \\dot b - \\dot A x`           :math:`A^T w = \\bar x,\\ \\bar b = w,\\ \\bar A = -w x^T`
det            :math:`\\det A\\,\\mathrm{tr}(A^{-1}\\dot A)`    :math:`\\bar A = \\bar y \\det A\\, A^{-T}`
slogdet        :math:`\\mathrm{tr}(A^{-1}\\dot A)`             :math:`\\bar A = \\bar y A^{-T}`
cholesky       :math:`\\dot L = L\\Phi(L^{-1}\\dot A L^{-T})`   :math:`\\bar A = \\mathrm{sym}(L^{-T}\\Phi(L^T\\bar L)L^{-1})`
eigh           :math:`\\dot d = \\mathrm{diag}(V^T\\dot A V)`,   transposed automatically
               :math:`\\dot V = V(F\\circ V^T\\dot A V)`
norm           :math:`\\langle x,\\dot x\\rangle/\\|x\\|`           :math:`\\bar x = \\bar y\\, x/\\|x\\|` (0 at x = 0)
=============  ===========================================  =====================================

``solve`` factorizes ``A`` once (LU) and its rules reuse that factorization
for every further solve, with ``A`` or with ``A^T``.  ``cholesky`` and
``eigh`` assume a symmetric ``A`` and symmetrize the tangent they receive.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from adlib.custom import custom_jvp
from adlib.engine import Primitive, _primal, defjvp, defvjp, shape_of
from adlib import numpy as anp
from adlib.numpy._util import swap_last as _mT

__all__ = ["inv", "solve", "det", "slogdet", "cholesky", "eigh", "norm", "LUFactor"]


def _sym(x):
    return 0.5 * (x + _mT(x))


def _square(name, A):
    s = shape_of(A)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"anp.linalg.{name} expects a square matrix (or a stack of them), "
                         f"got shape {s}")


# ---- inverse --------------------------------------------------------------------
_inv = Primitive(np.linalg.inv, "inv")


def inv_jvp(t, Y, A): return -(Y @ t @ Y)
def inv_vjp(g, Y, A): return -(_mT(Y) @ g @ _mT(Y))


defjvp(_inv, inv_jvp); defvjp(_inv, inv_vjp)


def inv(A):
    """Matrix inverse."""
    _square("inv", A)
    return _inv(A)


# ---- linear solve, sharing one LU factorization ----------------------------------
class LUFactor:
    """An LU factorization of a square matrix, reused by every solve with it.

    It is data, not a differentiated value: the solve primitives take the
    matrix itself as a separate argument for that.
    """

    __slots__ = ("lu_piv", "n")

    def __init__(self, A):
        A = np.asarray(_primal(A))
        _square("solve", A)
        if A.ndim != 2:
            raise ValueError(f"anp.linalg.solve supports a single matrix, got shape {A.shape}; "
                             "loop over the stack")
        self.lu_piv = scipy.linalg.lu_factor(A, check_finite=False)
        self.n = A.shape[0]

    def solve(self, b, trans: int = 0):
        return scipy.linalg.lu_solve(self.lu_piv, b, trans=trans, check_finite=False)

    def __repr__(self) -> str:
        return f"LUFactor(n={self.n})"


def _solve_fun(A, lu, b): return lu.solve(b)
def _solve_t_fun(A, lu, b): return lu.solve(b, trans=1)


_solve = Primitive(_solve_fun, "solve")        # x = A^{-1} b
_solve_t = Primitive(_solve_t_fun, "solve_T")  # y = A^{-T} b


def _outer_like(u, v):
    """u v^T for vectors, u @ v^T for matrices of right-hand sides."""
    if len(shape_of(u)) == 1:
        return anp.outer(u, v)
    return u @ _mT(v)


def solve_jvp_A(t, x, A, lu, b): return -_solve(A, lu, t @ x)
def solve_jvp_b(t, x, A, lu, b): return _solve(A, lu, t)
def solve_vjp_A(g, x, A, lu, b): return -_outer_like(_solve_t(A, lu, g), x)
def solve_vjp_b(g, x, A, lu, b): return _solve_t(A, lu, g)
def solve_t_jvp_A(t, y, A, lu, b): return -_solve_t(A, lu, _mT(t) @ y)
def solve_t_jvp_b(t, y, A, lu, b): return _solve_t(A, lu, t)
def solve_t_vjp_A(g, y, A, lu, b): return -_outer_like(y, _solve(A, lu, g))
def solve_t_vjp_b(g, y, A, lu, b): return _solve(A, lu, g)


defjvp(_solve, solve_jvp_A, None, solve_jvp_b);     defvjp(_solve, solve_vjp_A, None, solve_vjp_b)
defjvp(_solve_t, solve_t_jvp_A, None, solve_t_jvp_b); defvjp(_solve_t, solve_t_vjp_A, None, solve_t_vjp_b)


def solve(A, b):
    """Solve ``A x = b`` for ``x`` (``b`` a vector or a matrix of right-hand sides).

    ``A`` is factorized once; the JVP and VJP rules reuse the factorization.
    """
    sa, sb = shape_of(A), shape_of(b)
    _square("solve", A)
    if not sb or sb[0] != sa[0] or len(sb) > 2:
        raise ValueError(f"anp.linalg.solve: b of shape {sb} does not match A of shape {sa}; "
                         f"b must have shape ({sa[0]},) or ({sa[0]}, k)")
    return _solve(A, LUFactor(A), b)


# ---- determinants ----------------------------------------------------------------
_det = Primitive(np.linalg.det, "det")
_logabsdet = Primitive(lambda A: np.linalg.slogdet(A)[1], "logabsdet")


def _trace_inv_times(A, t):
    """tr(A^{-1} t), batched."""
    return anp.sum(_mT(inv(A)) * t, axis=(-2, -1))


def _mat(x):
    return anp.expand_dims(anp.expand_dims(x, -1), -1)


def det_jvp(t, ans, A): return ans * _trace_inv_times(A, t)
def det_vjp(g, ans, A): return _mat(g * ans) * _mT(inv(A))
def logabsdet_jvp(t, ans, A): return _trace_inv_times(A, t)
def logabsdet_vjp(g, ans, A): return _mat(g) * _mT(inv(A))


defjvp(_det, det_jvp);               defvjp(_det, det_vjp)
defjvp(_logabsdet, logabsdet_jvp);   defvjp(_logabsdet, logabsdet_vjp)


def det(A):
    """Determinant."""
    _square("det", A)
    return _det(A)


def slogdet(A):
    """``(sign, log|det A|)``; only the second is differentiable."""
    _square("slogdet", A)
    return np.linalg.slogdet(_primal(A))[0], _logabsdet(A)


# ---- Cholesky --------------------------------------------------------------------
_cholesky = Primitive(np.linalg.cholesky, "cholesky")


def _phi(X):
    """Lower triangle with the diagonal halved."""
    n = shape_of(X)[-1]
    return anp.tril(X) - 0.5 * X * np.eye(n)


def cholesky_jvp(t, L, A):
    Linv = inv(L)
    return L @ _phi(Linv @ _sym(t) @ _mT(Linv))


def cholesky_vjp(g, L, A):
    Linv = inv(L)
    return _sym(_mT(Linv) @ _phi(_mT(L) @ g) @ Linv)


defjvp(_cholesky, cholesky_jvp); defvjp(_cholesky, cholesky_vjp)


def cholesky(A):
    """Lower Cholesky factor ``L`` of a symmetric positive definite ``A = L L^T``."""
    _square("cholesky", A)
    if len(shape_of(A)) != 2:
        raise ValueError(f"anp.linalg.cholesky supports a single matrix, got {shape_of(A)}")
    return _cholesky(A)


# ---- symmetric eigendecomposition --------------------------------------------------
@custom_jvp
def _eigh(A):
    return tuple(np.linalg.eigh(A))


@_eigh.defjvp
def eigh_jvp(primals, tangents):
    (A,), (Adot,) = primals, tangents
    d, V = _eigh(A)
    M = _mT(V) @ _sym(Adot) @ V
    n = shape_of(d)[-1]
    gap = anp.expand_dims(d, -2) - anp.expand_dims(d, -1)   # gap[i, j] = d_j - d_i
    F = (1.0 - np.eye(n)) / (gap + np.eye(n))               # 1/(d_j - d_i) off the diagonal
    return (d, V), (anp.diagonal(M), V @ (F * M))


def eigh(A):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    The rules assume distinct eigenvalues; repeated ones give infinities.
    """
    _square("eigh", A)
    if len(shape_of(A)) != 2:
        raise ValueError(f"anp.linalg.eigh supports a single matrix, got {shape_of(A)}")
    return _eigh(A)


# ---- norms ----------------------------------------------------------------------
_norm2 = Primitive(lambda x: np.sqrt(np.sum(x * x)), "norm")
_spectral = Primitive(lambda A: np.linalg.norm(A, 2), "spectral_norm")


def _safe(ans):
    return anp.where(_primal(ans) > 0, ans, 1.0)


def norm2_jvp(t, ans, x): return anp.sum(x * t) / _safe(ans)
def norm2_vjp(g, ans, x): return g * x / _safe(ans)


def _top_singular_pair(A, s):
    """Unit vectors u, v with A v = s u for the top singular value s.

    For a plain matrix they come from the SVD.  When ``A`` is itself being
    differentiated (a higher-order derivative), u and v depend on it, so they
    are built from differentiable operations: v is the top eigenvector of
    A^T A and u = A v / s (the sign does not matter, u v^T is invariant).  The
    smaller of A^T A and A A^T is used, so that its eigenvalues stay distinct.
    """
    if type(A) is np.ndarray:
        U, _, Vt = np.linalg.svd(A)
        return U[:, 0], Vt[0]
    m, n = shape_of(A)
    if m < n:
        u = eigh(A @ _mT(A))[1][:, -1]
        return u, (_mT(A) @ u) / s
    v = eigh(_mT(A) @ A)[1][:, -1]
    return (A @ v) / s, v


def spectral_jvp(t, ans, A):
    u, v = _top_singular_pair(A, ans)
    return u @ t @ v


def spectral_vjp(g, ans, A):
    u, v = _top_singular_pair(A, ans)
    return g * anp.outer(u, v)


defjvp(_norm2, norm2_jvp);     defvjp(_norm2, norm2_vjp)
defjvp(_spectral, spectral_jvp); defvjp(_spectral, spectral_vjp)


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector and matrix norms.

    Supported: the 2-norm of a vector and the Frobenius norm (``ord=None``,
    ``'fro'``; derivative 0 at ``x = 0``, where the norm has a kink), the
    spectral norm of a matrix (``ord=2``; assuming a simple top singular
    value), and ``ord=1`` / ``ord=inf`` for vectors.
    """
    nd = len(shape_of(x))
    if axis is not None or keepdims:
        if ord not in (None, 2, "fro"):
            raise NotImplementedError("anp.linalg.norm with axis supports the 2-norm only")
        return anp.sqrt(anp.sum(x * x, axis=axis, keepdims=keepdims))
    if ord is None or ord == "fro" or (ord == 2 and nd == 1):
        return _norm2(x)
    if ord == 2 and nd == 2:
        return _spectral(x)
    if ord == 1 and nd == 1:
        return anp.sum(anp.abs(x))
    if ord == np.inf and nd == 1:
        return anp.max(anp.abs(x))
    raise NotImplementedError(f"anp.linalg.norm: ord={ord!r} for a {nd}-D array is not "
                              "supported; write it with adlib.numpy operations")
