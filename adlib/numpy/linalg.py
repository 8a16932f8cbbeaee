"""``adlib.numpy.linalg``: NumPy's linear algebra with derived rules.

Each rule below is a formula from the book (Parts 3 and 4 derive them):

=============  ===========================================  =====================================
function       pushforward                                  pullback
=============  ===========================================  =====================================
inv            :math:`\\dot Y = -Y\\dot A Y`                  :math:`\\bar A = -Y^T\\bar Y Y^T`
solve          :math:`A\\dot x = \\dot b - \\dot A x`           :math:`A^T w = \\bar x,\\ \\bar b = w,\\ \\bar A = -w x^T`
det            :math:`\\det A\\,\\mathrm{tr}(A^{-1}\\dot A)`    :math:`\\bar A = \\bar y \\det A\\, A^{-T}`
slogdet        :math:`\\mathrm{tr}(A^{-1}\\dot A)`             :math:`\\bar A = \\bar y A^{-T}`
pinv           see :func:`pinv`                              its transpose
norm           :math:`\\langle x,\\dot x\\rangle/\\|x\\|`           :math:`\\bar x = \\bar y\\, x/\\|x\\|` (0 at x = 0)
=============  ===========================================  =====================================

``solve``, ``det`` and ``slogdet`` factorize ``A`` once (LU, an
:class:`LUFactor`) in the primal call; their rules, and the rules of those
rules (higher derivatives), reuse that factorization for every further solve,
with ``A`` or with ``A^T``, and never form an explicit inverse.  The pullback
of ``det`` is :math:`\\bar y\\det A\\,A^{-T}`, a dense matrix: it is obtained
by n solves with the stored factors, not by a new factorization.

``cholesky``, ``eigh``, ``eigvalsh``, ``svd`` and ``eig`` live in
:mod:`adlib.numpy._decompositions` (re-exported here): ``cholesky`` and
``eigh`` compute the decomposition of the symmetric part
:math:`(A + A^T)/2`, so their rules are exact in every direction.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, shape_of
from adlib.errors import ShapeError, UnsupportedError
from adlib.numpy import _elementwise as elw
from adlib.numpy import _reductions as red
from adlib.numpy import _shape as shp
from adlib.numpy._decompositions import (  # noqa: F401  (re-exported)
    _require_square, cholesky, eig, eigh, eigvals, eigvalsh, svd,
)
from adlib.numpy._util import swap_last as _swap_last, unbroadcast as _unbroadcast

__all__ = ["inv", "solve", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "eig",
           "eigvals", "pinv", "norm", "LUFactor"]


def _as_scalar_matrix(x):
    """Give a batch of scalars two trailing axes, to scale a batch of matrices."""
    return shp.expand_dims(shp.expand_dims(x, -1), -1)


# ---- inverse --------------------------------------------------------------------
_inv = Primitive(np.linalg.inv, "inv")


def inv_jvp(t, Y, A): return -(Y @ t @ Y)
def inv_vjp(g, Y, A): return -(_swap_last(Y) @ g @ _swap_last(Y))


defjvp(_inv, inv_jvp); defvjp(_inv, inv_vjp, reads=[(ANS,)])


def inv(A):
    """Matrix inverse (of a matrix or of each matrix in a stack)."""
    _require_square("inv", A)
    return _inv(A)


# ---- LU factorization, shared by solve, det and slogdet -----------------------------
class LUFactor:
    """LU factorizations of a square matrix or of a stack of them, reused by every solve.

    It is data, not a differentiated value: the primitives that use it take
    the matrix itself as a separate argument for that.

    Parameters
    ----------
    A : array, shape (..., n, n)
    """

    __slots__ = ("lu", "piv", "n", "batch")

    def __init__(self, A):
        A = np.asarray(_primal(A), dtype=float)
        _require_square("solve", A)
        self.n, self.batch = A.shape[-1], A.shape[:-2]
        self.lu = np.empty_like(A)
        self.piv = np.empty(A.shape[:-1], dtype=np.int32)
        for k in np.ndindex(self.batch):
            self.lu[k], self.piv[k] = scipy.linalg.lu_factor(A[k], check_finite=False)

    def solve(self, b, trans: int = 0):
        """``A^{-1} b`` (``trans=0``) or ``A^{-T} b`` (``trans=1``).

        ``b`` has shape ``(n,)`` or ``(n, k)`` for one matrix, ``(..., n, k)``
        (broadcast against the stack) otherwise.
        """
        if not self.batch and np.ndim(b) <= 2:
            return scipy.linalg.lu_solve((self.lu, self.piv), b, trans=trans,
                                         check_finite=False)
        b = np.asarray(b, dtype=float)
        batch = np.broadcast_shapes(self.batch, b.shape[:-2])
        b = np.broadcast_to(b, batch + b.shape[-2:])
        lu = np.broadcast_to(self.lu, batch + self.lu.shape[-2:])
        piv = np.broadcast_to(self.piv, batch + self.piv.shape[-1:])
        out = np.empty(b.shape)
        for k in np.ndindex(batch):
            out[k] = scipy.linalg.lu_solve((lu[k], piv[k]), b[k], trans=trans,
                                           check_finite=False)
        return out

    def log_abs_det(self):
        """``(sign, log|det A|)`` from the diagonal of ``U`` and the pivots."""
        diag = np.diagonal(self.lu, axis1=-2, axis2=-1)
        swaps = np.sum(self.piv != np.arange(self.n), axis=-1)
        sign = np.where(swaps % 2, -1.0, 1.0) * np.prod(np.sign(diag), axis=-1)
        with np.errstate(divide="ignore"):
            return sign, np.sum(np.log(np.abs(diag)), axis=-1)

    def __repr__(self) -> str:
        return f"LUFactor(n={self.n}, batch={self.batch})"


# ---- linear solve ----------------------------------------------------------------------
def _solve_fun(A, lu, b): return lu.solve(b)
def _solve_t_fun(A, lu, b): return lu.solve(b, trans=1)


_solve = Primitive(_solve_fun, "solve")        # x = A^{-1} b
_solve_t = Primitive(_solve_t_fun, "solve_T")  # y = A^{-T} b


def _outer_like(u, v, A):
    """u v^T for vectors, u @ v^T for (stacks of) matrices of right-hand sides."""
    if len(shape_of(u)) == 1:
        return elw.multiply(shp.reshape(u, (-1, 1)), shp.reshape(v, (1, -1)))
    return _unbroadcast(u @ _swap_last(v), shape_of(A))


def solve_jvp_A(t, x, A, lu, b): return -_solve(A, lu, t @ x)
def solve_jvp_b(t, x, A, lu, b): return _solve(A, lu, t)
def solve_vjp_A(g, x, A, lu, b): return -_outer_like(_solve_t(A, lu, g), x, A)
def solve_vjp_b(g, x, A, lu, b): return _unbroadcast(_solve_t(A, lu, g), shape_of(b))
def solve_t_jvp_A(t, y, A, lu, b): return -_solve_t(A, lu, _swap_last(t) @ y)
def solve_t_jvp_b(t, y, A, lu, b): return _solve_t(A, lu, t)
def solve_t_vjp_A(g, y, A, lu, b): return -_outer_like(y, _solve(A, lu, g), A)
def solve_t_vjp_b(g, y, A, lu, b): return _unbroadcast(_solve(A, lu, g), shape_of(b))


defjvp(_solve, solve_jvp_A, None, solve_jvp_b)
defvjp(_solve, solve_vjp_A, None, solve_vjp_b, reads=[(1, ANS), None, (1,)])
defjvp(_solve_t, solve_t_jvp_A, None, solve_t_jvp_b)
defvjp(_solve_t, solve_t_vjp_A, None, solve_t_vjp_b, reads=[(1, ANS), None, (1,)])


def solve(A, b):
    """Solve ``A x = b`` for ``x`` (NumPy 2's shapes).

    Parameters
    ----------
    A : array, shape (n, n) or (..., n, n)
    b : array, shape (n,) -- one right-hand side, for every matrix of a stack --
        or (..., n, k), broadcast against ``A``'s stack.

    ``A`` is factorized once; the JVP and VJP rules reuse the factorization.
    """
    sa, sb = shape_of(A), shape_of(b)
    _require_square("solve", A)
    n = sa[-1]
    if len(sb) == 1 and sb[0] == n:
        if len(sa) == 2:
            return _solve(A, LUFactor(A), b)
        return _solve(A, LUFactor(A), shp.reshape(b, (n, 1)))[..., 0]
    if len(sb) < 2 or sb[-2] != n:
        raise ShapeError(f"anp.linalg.solve: b of shape {sb} does not match A of shape {sa}; "
                         f"b must have shape ({n},) or (..., {n}, k)")
    return _solve(A, LUFactor(A), b)


# ---- determinants, from the same LU factors ------------------------------------------
def _det_fun(A, lu):
    sign, logabs = lu.log_abs_det()
    return sign * np.exp(logabs)


def _logabsdet_fun(A, lu):
    return lu.log_abs_det()[1]


_det = Primitive(_det_fun, "det")
_logabsdet = Primitive(_logabsdet_fun, "logabsdet")


def _trace_of_solve(A, lu, t):
    """tr(A^{-1} t) over the last two axes, with the stored factors."""
    return red.sum(shp.diagonal(_solve(A, lu, t), 0, -2, -1), axis=-1)


def _inverse_transpose(A, lu):
    """A^{-T}, by n solves with the stored factors (no new factorization)."""
    return _solve_t(A, lu, np.broadcast_to(np.eye(lu.n), lu.batch + (lu.n, lu.n)))


def det_jvp(t, ans, A, lu): return ans * _trace_of_solve(A, lu, t)
def det_vjp(g, ans, A, lu): return _as_scalar_matrix(g * ans) * _inverse_transpose(A, lu)
def logabsdet_jvp(t, ans, A, lu): return _trace_of_solve(A, lu, t)
def logabsdet_vjp(g, ans, A, lu): return _as_scalar_matrix(g) * _inverse_transpose(A, lu)


# the rules read the LU factors (argument 1), not A's values; det also its answer
defjvp(_det, det_jvp);             defvjp(_det, det_vjp, None, reads=[(1, ANS), None])
defjvp(_logabsdet, logabsdet_jvp); defvjp(_logabsdet, logabsdet_vjp, None, reads=[(1,), None])


def det(A):
    """Determinant (of a matrix or of each matrix in a stack), from one LU factorization."""
    _require_square("det", A)
    return _det(A, LUFactor(A))


def slogdet(A):
    """``(sign, log|det A|)`` from one LU factorization; only the second is differentiable."""
    _require_square("slogdet", A)
    lu = LUFactor(A)
    return lu.log_abs_det()[0], _logabsdet(A, lu)


# ---- pseudo-inverse ----------------------------------------------------------------------
_pinv = Primitive(lambda A: np.linalg.pinv(A), "pinv")


def _projectors(P, A):
    """I - A A^+ (onto the complement of range A) and I - A^+ A (of range A^T)."""
    m, n = shape_of(A)[-2:]
    return np.eye(m) - A @ P, np.eye(n) - P @ A


def pinv_jvp(t, P, A):
    out_left, out_right = _projectors(P, A)
    return (-(P @ t @ P) + P @ _swap_last(P) @ _swap_last(t) @ out_left
            + out_right @ _swap_last(t) @ _swap_last(P) @ P)


def pinv_vjp(g, P, A):
    out_left, out_right = _projectors(P, A)
    return (-(_swap_last(P) @ g @ _swap_last(P)) + out_left @ _swap_last(g) @ P @ _swap_last(P)
            + _swap_last(P) @ P @ _swap_last(g) @ out_right)


defjvp(_pinv, pinv_jvp); defvjp(_pinv, pinv_vjp, reads=[(0, ANS)])


def pinv(A):
    """Moore--Penrose pseudo-inverse ``A^+`` of a matrix or of each in a stack.

    The rules (Golub and Pereyra's formula)
    :math:`\\dot P = -P\\dot A P + PP^T\\dot A^T(I - AP) + (I - PA)\\dot A^T P^T P`
    hold where the rank of ``A`` is locally constant: at full rank, or along
    directions that keep a deficient rank.  A perturbation that raises the rank
    of a rank-deficient ``A`` makes ``A^+`` jump (it is not continuous there),
    so no derivative exists in that direction; the rule returns the derivative
    along the rank-preserving part.
    """
    shape = shape_of(A)
    if len(shape) < 2:
        raise ShapeError(f"anp.linalg.pinv expects a matrix (..., m, n), got shape {shape}")
    return _pinv(A)


# ---- norms ------------------------------------------------------------------------------
_norm2 = Primitive(lambda x: np.sqrt(np.sum(x * x)), "norm")
_spectral = Primitive(lambda A: np.linalg.norm(A, 2), "spectral_norm")


def _where_positive(ans):
    """``ans`` where positive, 1 elsewhere: the norm rules' divisor, finite at 0."""
    return elw.where(_primal(ans) > 0, ans, 1.0)


def norm2_jvp(t, ans, x): return red.sum(x * t) / _where_positive(ans)
def norm2_vjp(g, ans, x): return g * x / _where_positive(ans)


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
        u = eigh(A @ _swap_last(A))[1][:, -1]
        return u, (_swap_last(A) @ u) / s
    v = eigh(_swap_last(A) @ A)[1][:, -1]
    return (A @ v) / s, v


def spectral_jvp(t, ans, A):
    u, v = _top_singular_pair(A, ans)
    return u @ t @ v


def spectral_vjp(g, ans, A):
    u, v = _top_singular_pair(A, ans)
    return g * elw.multiply(shp.reshape(u, (-1, 1)), shp.reshape(v, (1, -1)))


defjvp(_norm2, norm2_jvp);       defvjp(_norm2, norm2_vjp, reads=[(0, ANS)])
defjvp(_spectral, spectral_jvp); defvjp(_spectral, spectral_vjp, reads=[(0, ANS)])


def _vector_norm(x, ord, axis):
    absx = elw.abs(x)
    if ord is None or ord == 2:
        return elw.sqrt(red.sum(x * x, axis=axis))
    if ord == np.inf:
        return red.max(absx, axis=axis)
    if ord == -np.inf:
        return red.min(absx, axis=axis)
    if ord == 0:
        return red.sum(_primal(x) != 0, axis=axis).astype(float)
    if ord == 1:
        return red.sum(absx, axis=axis)
    if isinstance(ord, str):
        raise ShapeError(f"anp.linalg.norm: ord={ord!r} is a matrix norm; a vector was given")
    return red.sum(absx ** ord, axis=axis) ** (1.0 / ord)


def _matrix_norm(x, ord, axes):
    x = shp.moveaxis(x, axes, (-2, -1))
    if ord in (None, "fro"):
        return elw.sqrt(red.sum(x * x, axis=(-2, -1)))
    if ord == "nuc":
        return red.sum(svd(x, compute_uv=False), axis=-1)
    if ord in (2, -2):
        if len(shape_of(x)) == 2 and ord == 2:
            return _spectral(x)
        s = svd(x, compute_uv=False)
        return red.max(s, axis=-1) if ord == 2 else red.min(s, axis=-1)
    if ord in (1, -1):
        col = red.sum(elw.abs(x), axis=-2)
        return red.max(col, axis=-1) if ord == 1 else red.min(col, axis=-1)
    if ord in (np.inf, -np.inf):
        row = red.sum(elw.abs(x), axis=-1)
        return red.max(row, axis=-1) if ord == np.inf else red.min(row, axis=-1)
    raise UnsupportedError(f"anp.linalg.norm: ord={ord!r} is not a matrix norm NumPy "
                           "defines (None, 'fro', 'nuc', 1, -1, 2, -2, inf, -inf)")


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """Vector and matrix norms, with NumPy's ``ord``, ``axis`` and ``keepdims``.

    The 2-norm of a whole array (``ord=None`` and no ``axis``) has derivative
    0 at ``x = 0``, where the norm has a kink; the other norms are written
    with :mod:`adlib.numpy` operations and inherit their conventions (``abs``
    has derivative 0 at 0, ``max`` shares it among ties).  ``ord='nuc'`` and
    ``ord=±2`` of matrices go through the singular values and assume them
    distinct.
    """
    x = _stack_if_list(x)
    nd = len(shape_of(x))
    if axis is None:
        if ord is None and not keepdims:
            return _norm2(x)
        if ord is not None and nd not in (1, 2):
            raise ShapeError(f"anp.linalg.norm: ord={ord!r} needs a 1-D or 2-D array or "
                             f"an axis, got shape {shape_of(x)}")
        axis = tuple(range(nd)) if ord is None else tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(int(a) % nd for a in axes)
    if len(axes) == 1 or (ord is None and len(axes) != 2):
        out = _vector_norm(x, ord, axes if ord is None else axes[0])
    elif len(axes) == 2:
        out = _matrix_norm(x, ord, axes)
    else:
        raise ShapeError(f"anp.linalg.norm: axis must name one or two axes, got {axis!r}")
    if keepdims:
        shape = tuple(1 if i in axes else n for i, n in enumerate(shape_of(x)))
        out = shp.reshape(out, shape)
    return out


def _stack_if_list(x):
    if isinstance(x, (list, tuple)):
        from adlib.numpy import array
        return array(x)
    return x
