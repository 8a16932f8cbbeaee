"""Inner products: the Euclidean one, weighted, quadrature and tuple inner products.

Each is given by its metric ``G`` (``<u, v> = <u, G v>_Euclidean``); the metric is
what turns the Euclidean adjoint of a map into its adjoint under this inner product
(:meth:`adlib.linearmap.LinearMap.adjoint`).
"""
from __future__ import annotations

import numpy as np

from adlib.errors import ShapeError, UnsupportedError, UsageError

from adlib.linearmap._spaces import Tree, describe, leaves, space_of

__all__ = ["InnerProduct", "EuclideanInner", "WeightedInner", "QuadratureInner",
           "TupleInner", "euclidean"]


class InnerProduct:
    """An inner product ``<u, v> = <u, G v>_Euclidean`` given by its metric ``G``.

    Subclasses implement :meth:`metric` (apply ``G``, symmetric positive
    definite) and :meth:`metric_inverse` (apply ``G⁻¹``); the metric is what
    turns a Euclidean adjoint into the adjoint under this inner product.
    """

    name: str = "inner product"

    def __call__(self, u: Tree, v: Tree) -> float:
        """The inner product of ``u`` and ``v``, as a Python float."""
        return euclidean(u, self.metric(v))

    def norm(self, u: Tree) -> float:
        """``sqrt(<u, u>)``."""
        return float(np.sqrt(max(self(u, u), 0.0)))

    def metric(self, v: Tree) -> Tree:  # pragma: no cover - abstract
        """Apply the metric: ``G v``, so that ``<u, v> = euclidean(u, G v)``."""
        raise UnsupportedError(f"{type(self).__name__} does not define its metric")

    def metric_inverse(self, v: Tree) -> Tree:  # pragma: no cover - abstract
        """Apply the inverse metric: ``G⁻¹ v``."""
        raise UnsupportedError(f"{type(self).__name__} does not define its metric")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class EuclideanInner(InnerProduct):
    """The Euclidean (Frobenius) inner product: the sum of elementwise products.

    For vectors ``u^T v``; for matrices ``tr(U V^T) = sum_ij U_ij V_ij``; for
    tuples of arrays the sum over the parts. The module-level instance is
    :data:`euclidean`.
    """

    name = "euclidean"

    def __call__(self, u: Tree, v: Tree) -> float:
        if space_of(u) != space_of(v):
            raise ShapeError(
                f"euclidean inner product: u has {describe(space_of(u))} but v has "
                f"{describe(space_of(v))}; both must have the same structure."
            )
        return float(sum(np.sum(np.multiply(a, b)) for a, b in zip(leaves(u), leaves(v))))

    def metric(self, v: Tree) -> Tree:
        return v

    def metric_inverse(self, v: Tree) -> Tree:
        return v

    def __repr__(self) -> str:
        return "euclidean"


#: The Euclidean / Frobenius inner product (sum of elementwise products, over tuples too).
euclidean = EuclideanInner()


class WeightedInner(InnerProduct):
    """The weighted inner product ``<u, v>_M = u^T M v`` with ``M`` symmetric positive definite.

    ``M`` acts on the first axis, so for matrices ``<U, V>_M = tr(U^T M V)``.
    The adjoint of ``A`` under this inner product on both sides is ``M⁻¹ A^T M``
    (see :meth:`LinearMap.adjoint`).

    Parameters
    ----------
    M : array of shape (n, n)
        Symmetric positive definite.
    name : str
        Short name for messages (default ``"M"``).
    """

    def __init__(self, M: np.ndarray, name: str = "M") -> None:
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ShapeError(f"WeightedInner: M must be a square matrix, got shape {M.shape}.")
        if not np.allclose(M, M.T, rtol=1e-12, atol=1e-14 * np.max(np.abs(M), initial=0.0)):
            raise ShapeError(
                "WeightedInner: M must be symmetric (M == M.T); symmetrize it, e.g. (M + M.T) / 2."
            )
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise ShapeError(
                "WeightedInner: M must be positive definite (its Cholesky factorization failed)."
            ) from None
        self.M = M
        self.name = f"weighted({name})"

    def _check(self, v) -> np.ndarray:
        n = self.M.shape[0]
        if isinstance(v, (tuple, list, dict)) or np.ndim(v) == 0 or np.shape(v)[0] != n:
            raise ShapeError(
                f"WeightedInner: {self.M.shape} weight matrix needs an array whose first "
                f"axis has length {self.M.shape[0]}, got {describe(space_of(v))}. "
                f"For tuples of arrays use TupleInner."
            )
        return np.asarray(v, dtype=float)

    def metric(self, v: Tree) -> np.ndarray:
        return np.tensordot(self.M, self._check(v), axes=1)

    def metric_inverse(self, v: Tree) -> np.ndarray:
        v = self._check(v)
        return np.linalg.solve(self.M, v.reshape(v.shape[0], -1)).reshape(v.shape)


class QuadratureInner(InnerProduct):
    """``<u, v>_w = sum_i w_i u_i v_i`` with positive weights ``w``.

    This is the discretized ``∫ f g dx`` for functions sampled on a grid, with
    ``w`` the quadrature weights (e.g. trapezoidal). It is a weighted inner
    product with a diagonal weight matrix.

    Parameters
    ----------
    weights : array
        Positive; must broadcast to the shape of the arrays it is applied to.
    name : str
        Short name for messages (default ``"w"``).
    """

    def __init__(self, weights: np.ndarray, name: str = "w") -> None:
        weights = np.asarray(weights, dtype=float)
        if not np.all(weights > 0):
            raise ShapeError("QuadratureInner: all weights must be positive.")
        self.weights = weights
        self.name = f"quadrature({name})"

    def _check(self, v) -> np.ndarray:
        shape = None if isinstance(v, (tuple, list, dict)) else np.shape(v)
        try:
            ok = shape is not None and np.broadcast_shapes(self.weights.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ShapeError(
                f"QuadratureInner: weights of shape {self.weights.shape} do not fit an "
                f"input of {describe(space_of(v))}. For tuples of arrays use TupleInner."
            )
        return np.asarray(v, dtype=float)

    def metric(self, v: Tree) -> np.ndarray:
        return self.weights * self._check(v)

    def metric_inverse(self, v: Tree) -> np.ndarray:
        return self._check(v) / self.weights


class TupleInner(InnerProduct):
    """The inner product on tuples ``(u_1, ..., u_k)``: the sum of one inner product per part.

    Parameters
    ----------
    *parts : InnerProduct
        One inner product per tuple entry.

    Examples
    --------
    >>> ip = TupleInner(euclidean, WeightedInner(2.0 * np.eye(2)))
    >>> ip((np.ones(3), np.ones(2)), (np.ones(3), np.ones(2)))
    7.0
    """

    def __init__(self, *parts: InnerProduct) -> None:
        if not parts or not all(isinstance(p, InnerProduct) for p in parts):
            raise UsageError("TupleInner: pass one InnerProduct per tuple entry.")
        self.parts = parts
        self.name = "tuple(" + ", ".join(p.name for p in parts) + ")"

    def _check(self, v) -> None:
        if not isinstance(v, (tuple, list)) or len(v) != len(self.parts):
            raise ShapeError(
                f"TupleInner: expected a tuple of {len(self.parts)} parts, "
                f"got {describe(space_of(v))}."
            )

    def __call__(self, u: Tree, v: Tree) -> float:
        self._check(u)
        self._check(v)
        return float(sum(p(a, b) for p, a, b in zip(self.parts, u, v)))

    def metric(self, v: Tree) -> tuple:
        self._check(v)
        return tuple(p.metric(part) for p, part in zip(self.parts, v))

    def metric_inverse(self, v: Tree) -> tuple:
        self._check(v)
        return tuple(p.metric_inverse(part) for p, part in zip(self.parts, v))

    def __repr__(self) -> str:
        return "TupleInner(" + ", ".join(repr(p) for p in self.parts) + ")"
