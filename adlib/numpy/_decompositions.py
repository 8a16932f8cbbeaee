"""Matrix decompositions (Cholesky, symmetric eigen, SVD, general eigen) and their rules.

**Which function of the n² entries.**  ``cholesky``, ``eigh`` and ``eigvalsh``
read a square matrix ``A`` and compute the decomposition of its symmetric
part, :math:`\\operatorname{sym}(A) = (A + A^T)/2` (JAX's choice).  On a
symmetric ``A`` this is NumPy's answer; on any other ``A`` it is still a
smooth function of all n² entries, and the rules below are its exact
derivative, so a check in a general (non-symmetric) direction passes.  NumPy
itself reads one triangle only; ``UPLO`` is accepted for compatibility and
has no effect, since both triangles of :math:`\\operatorname{sym}(A)` agree.

Every function accepts a stack of matrices (``(..., n, n)``).

**Rules** (derived in the rule catalogue appendix):

* ``cholesky``: :math:`\\dot L = L\\,\\Phi(L^{-1}\\operatorname{sym}(\\dot A)L^{-T})`,
  with :math:`\\Phi` the lower triangle with its diagonal halved; the
  pullback is its transpose, :math:`\\bar A = \\operatorname{sym}(L^{-T}\\Phi(L^T\\bar L)L^{-1})`.
* ``eigh``: with :math:`M = V^T \\operatorname{sym}(\\dot A) V`,
  :math:`\\dot d = \\operatorname{diag} M`, :math:`\\dot V = V(F\\circ M)`,
  :math:`F_{ij} = 1/(d_j - d_i)` off the diagonal.  Distinct eigenvalues are
  assumed (a repeated one gives infinities, since its eigenvectors are not a
  function of ``A``).
* ``svd`` (reduced): with :math:`P = U^T\\dot A V`, :math:`\\dot s = \\operatorname{diag} P`,
  :math:`\\dot U = U(F\\circ(PS + SP^T)) + (I - UU^T)\\dot A V S^{-1}`,
  :math:`\\dot V = V(F\\circ(SP + P^TS)) + (I - VV^T)\\dot A^T U S^{-1}`,
  :math:`F_{ij} = 1/(s_j^2 - s_i^2)` off the diagonal.  Each pair
  :math:`(u_i, v_i)` is defined up to a common sign (the *gauge*); the rule
  differentiates the pair LAPACK returns, which is locally smooth.  Distinct,
  nonzero singular values are assumed.
* ``eig`` (real input with real, distinct eigenvalues): with
  :math:`M = V^{-1}\\dot A V`, :math:`\\dot w = \\operatorname{diag} M`,
  :math:`\\dot V = V(F\\circ M)` then each column made orthogonal to its
  eigenvector, since NumPy normalizes eigenvectors to unit length.

The pushforwards are written with :mod:`adlib.numpy` operations; reverse mode
transposes them, and derivatives of any order follow.
"""
from __future__ import annotations

import numpy as np

from adlib.custom import custom_jvp
from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, shape_of
from adlib.errors import DTypeError, ShapeError, UnsupportedError
from adlib.numpy import _shape as shp
from adlib.numpy._reductions import sum as _sum
from adlib.numpy._util import swap_last

__all__ = ["cholesky", "eigh", "eigvalsh", "svd", "eig", "eigvals", "symmetric_part"]


def symmetric_part(x):
    """:math:`(x + x^T)/2` over the last two axes."""
    return 0.5 * (x + swap_last(x))


def _require_square(name: str, A) -> None:
    s = shape_of(A)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeError(f"anp.linalg.{name} expects a square matrix (or a stack of them, "
                         f"shape (..., n, n)), got shape {s}")
    _require_real(name, A)


def _require_real(name: str, A) -> None:
    if np.iscomplexobj(_primal(A)):
        raise DTypeError(f"anp.linalg.{name}: the input is complex (shape {shape_of(A)}); "
                         "adlib differentiates real arrays only. Split it into real and "
                         "imaginary parts and write the function on those.")


def _eye_like(x):
    return np.eye(shape_of(x)[-1])


def _gap_inverse(d):
    """``F[..., i, j] = 1/(d_j - d_i)`` off the diagonal, 0 on it."""
    eye = np.eye(shape_of(d)[-1])
    gap = shp.expand_dims(d, -2) - shp.expand_dims(d, -1)
    return (1.0 - eye) / (gap + eye)


# ---- Cholesky ------------------------------------------------------------------
_cholesky = Primitive(lambda A: np.linalg.cholesky(0.5 * (A + np.swapaxes(A, -1, -2))),
                      "cholesky")


def _lower_half_diagonal(X):
    """Lower triangle of ``X`` with its diagonal halved (the map Φ)."""
    return shp.tril(X) - 0.5 * X * _eye_like(X)


def cholesky_jvp(t, L, A):
    from adlib.numpy.linalg import inv
    L_inv = inv(L)
    return L @ _lower_half_diagonal(L_inv @ symmetric_part(t) @ swap_last(L_inv))


def cholesky_vjp(g, L, A):
    from adlib.numpy.linalg import inv
    L_inv = inv(L)
    return symmetric_part(swap_last(L_inv) @ _lower_half_diagonal(swap_last(L) @ g) @ L_inv)


defjvp(_cholesky, cholesky_jvp); defvjp(_cholesky, cholesky_vjp, reads=[(ANS,)])


def cholesky(A):
    """Lower Cholesky factor ``L`` of the symmetric part of ``A``.

    Parameters
    ----------
    A : array, shape (..., n, n)
        Its symmetric part :math:`(A + A^T)/2` must be positive definite.

    Returns
    -------
    L : array, shape (..., n, n)
        Lower triangular, :math:`L L^T = (A + A^T)/2`.
    """
    _require_square("cholesky", A)
    return _cholesky(A)


# ---- symmetric eigendecomposition ------------------------------------------------
@custom_jvp
def _eigh(A):
    return tuple(np.linalg.eigh(0.5 * (A + np.swapaxes(A, -1, -2))))


@_eigh.defjvp
def eigh_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    d, V = _eigh(A)
    M = swap_last(V) @ symmetric_part(A_dot) @ V
    return (d, V), (shp.diagonal(M, 0, -2, -1), V @ (_gap_inverse(d) * M))


def eigh(A, UPLO: str = "L"):
    """Eigenvalues (ascending) and unit eigenvectors of the symmetric part of ``A``.

    Parameters
    ----------
    A : array, shape (..., n, n)
    UPLO : {'L', 'U'}
        Accepted for NumPy compatibility; no effect (see the module notes).

    Returns
    -------
    d : array, shape (..., n)
    V : array, shape (..., n, n)
        Columns are eigenvectors.  The rules assume distinct eigenvalues.
    """
    _require_square("eigh", A)
    if UPLO not in ("L", "U"):
        raise UnsupportedError(f"anp.linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _eigh(A)


def eigvalsh(A, UPLO: str = "L"):
    """Eigenvalues (ascending) of the symmetric part of ``A``."""
    return eigh(A, UPLO)[0]


# ---- singular value decomposition ------------------------------------------------
@custom_jvp
def _svd(A):
    return tuple(np.linalg.svd(A, full_matrices=False))


@_svd.defjvp
def svd_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    U, s, Vt = _svd(A)
    V = swap_last(Vt)
    P = swap_last(U) @ A_dot @ V
    s_row = shp.expand_dims(s, -2)              # s_j along the last axis
    s_col = shp.expand_dims(s, -1)              # s_i along the second last
    F = _gap_inverse(s * s)                     # 1/(s_j^2 - s_i^2)
    PS, SP = P * s_row, s_col * P
    U_dot = U @ (F * (PS + swap_last(PS)))
    V_dot = V @ (F * (SP + swap_last(SP)))
    m, n = shape_of(A)[-2:]
    if m > n:
        AV = A_dot @ V
        U_dot = U_dot + (AV - U @ (swap_last(U) @ AV)) / s_row
    elif n > m:
        AU = swap_last(A_dot) @ U
        V_dot = V_dot + (AU - V @ (Vt @ AU)) / s_row
    return (U, s, Vt), (U_dot, shp.diagonal(P, 0, -2, -1), swap_last(V_dot))


def svd(A, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """Singular value decomposition ``A = U diag(s) Vt`` (NumPy's signature).

    Parameters
    ----------
    A : array, shape (..., m, n)
    full_matrices : bool
        ``True`` is only differentiable for square matrices (the extra columns
        of a full ``U`` or ``Vt`` are not a function of ``A``); pass ``False``.
    compute_uv : bool
        ``False`` returns the singular values only.
    hermitian : bool
        Must be ``False``.

    Returns
    -------
    U, s, Vt, or s alone
        The rules assume distinct, nonzero singular values.
    """
    shape = shape_of(A)
    if len(shape) < 2:
        raise ShapeError(f"anp.linalg.svd expects a matrix (..., m, n), got shape {shape}")
    _require_real("svd", A)
    if hermitian:
        raise UnsupportedError("anp.linalg.svd: hermitian=True is not supported; use "
                               "anp.linalg.eigh for symmetric matrices")
    U, s, Vt = _svd(A)
    if not compute_uv:
        return s
    if full_matrices and shape[-1] != shape[-2]:
        if type(A) is np.ndarray:
            return tuple(np.linalg.svd(A, full_matrices=True))
        raise UnsupportedError(
            f"anp.linalg.svd: full_matrices=True on a non-square matrix (shape {shape}) "
            "adds singular vectors that are not a function of A, so they have no "
            "derivative; call svd(A, full_matrices=False)")
    return U, s, Vt


# ---- general eigendecomposition (real spectrum) ---------------------------------------
def _eig_fun(A):
    w, V = np.linalg.eig(A)
    if np.iscomplexobj(w):
        raise UnsupportedError(
            f"anp.linalg.eig: this real matrix (shape {np.shape(A)}) has complex "
            "eigenvalues; adlib differentiates real arrays only. Use eigh for a "
            "symmetric matrix, or work with a real Schur form.")
    order = np.argsort(w, axis=-1)      # a fixed order, so tangents line up
    w = np.take_along_axis(w, order, -1)
    V = np.take_along_axis(V, order[..., None, :], -1)
    return w, V


@custom_jvp
def _eig(A):
    return _eig_fun(A)


@_eig.defjvp
def eig_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    w, V = _eig(A)
    from adlib.numpy.linalg import solve
    M = solve(V, A_dot @ V)
    V_dot = V @ (_gap_inverse(w) * M)
    # keep unit columns: remove each column's component along its eigenvector
    V_dot = V_dot - V * shp.expand_dims(_sum(V * V_dot, axis=-2), -2)
    return (w, V), (shp.diagonal(M, 0, -2, -1), V_dot)


def eig(A):
    """Eigenvalues and unit eigenvectors of a real matrix with a real spectrum.

    Eigenvalues are returned in ascending order (NumPy leaves the order to
    LAPACK).  The rules assume distinct eigenvalues; complex ones raise
    :class:`~adlib.errors.UnsupportedError`.
    """
    _require_square("eig", A)
    return _eig(A)


def eigvals(A):
    """Eigenvalues of a real matrix with a real spectrum, ascending."""
    return eig(A)[0]

