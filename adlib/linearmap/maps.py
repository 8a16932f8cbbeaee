"""The :class:`LinearMap`: a linear map known through its action (and its adjoint's)."""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from adlib.errors import ShapeError, UsageError

from adlib.linearmap._spaces import (Tree, build, check_structure, default_name, describe,
                                     from_vector, paren, space_of, to_vector, tree_map)

if TYPE_CHECKING:  # pragma: no cover
    from adlib.linearmap.inner import InnerProduct

__all__ = ["LinearMap"]


class LinearMap:
    """A linear map known through its action, optionally with its adjoint's action.

    Parameters
    ----------
    action : callable
        ``x -> A x``. Must be linear in ``x``.
    adjoint_action : callable, optional
        ``w -> A† w``, the adjoint under the Euclidean inner products (sum of
        elementwise products) of input and output space. Needed by
        :meth:`adjoint` and :func:`dot_product_test`.
    example_in : array, or tuple or dict of arrays
        Any value of the input space; fixes the shapes (and the tuple or dict
        structure) of inputs.
    example_out : array, or tuple or dict of arrays, optional
        Any value of the output space. If omitted, it is found by applying
        ``action`` to zeros shaped like ``example_in``.
    name : str, optional
        Used in error messages and reprs (default: the name of ``action``).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> lm = LinearMap(lambda x: A @ x, lambda w: A.T @ w,
    ...                example_in=np.zeros(3), name="A")
    >>> lm
    LinearMap('A': shape (3,) -> shape (2,), adjoint given)
    >>> lm @ np.ones(3)
    array([ 3., 12.])
    >>> bool(np.all(lm.to_matrix() == A))
    True
    """

    # Let NumPy defer to our operators, so that ``np.float64(2) * lm`` works
    # and ``array @ lm`` raises a TypeError instead of building an object array.
    __array_ufunc__ = None

    def __init__(
        self,
        action: Callable[[Tree], Tree],
        adjoint_action: Optional[Callable[[Tree], Tree]] = None,
        *,
        example_in: Tree,
        example_out: Optional[Tree] = None,
        name: Optional[str] = None,
    ) -> None:
        if not callable(action):
            raise UsageError(f"LinearMap: action must be callable, got {type(action).__name__}.")
        if adjoint_action is not None and not callable(adjoint_action):
            raise UsageError(
                f"LinearMap: adjoint_action must be callable or None, "
                f"got {type(adjoint_action).__name__}."
            )
        self.name = name if name is not None else default_name(action)
        self.in_spec = space_of(example_in)
        if example_out is None:
            example_out = action(build(self.in_spec, np.zeros))
        self.out_spec = space_of(example_out)
        self._action = action
        self._adjoint_action = adjoint_action
        self._adjoint_name: Optional[str] = None

    @classmethod
    def _make(cls, action, adjoint_action, in_spec, out_spec, name) -> "LinearMap":
        """Build a map from known structures without evaluating anything."""
        lm = cls.__new__(cls)
        lm.name = name
        lm.in_spec, lm.out_spec = in_spec, out_spec
        lm._action, lm._adjoint_action = action, adjoint_action
        lm._adjoint_name = None
        return lm

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, name: Optional[str] = None) -> "LinearMap":
        """The map ``x -> matrix @ x`` on vectors, with adjoint ``w -> matrix.T @ w``.

        Parameters
        ----------
        matrix : array of shape (m, n)
        name : str, optional
            Default ``"matrix (m, n)"``.
        """
        M = np.asarray(matrix, dtype=float)
        if M.ndim != 2:
            raise ShapeError(
                f"LinearMap.from_matrix: expected a 2-D matrix, got an array of shape {M.shape}."
            )
        m, n = M.shape
        return cls._make(
            lambda x: M @ x,
            lambda w: M.T @ w,
            space_of(np.zeros(n)),
            space_of(np.zeros(m)),
            name if name is not None else f"matrix {M.shape}",
        )

    # -- applying -----------------------------------------------------------

    def __call__(self, x: Tree) -> Tree:
        """Apply the map: ``A x``."""
        check_structure(x, self.in_spec, f"LinearMap '{self.name}'", "input")
        try:
            y = self._action(x)
        except Exception as error:
            if hasattr(error, "add_note"):  # Python >= 3.11
                error.add_note(f"(raised inside the action of LinearMap '{self.name}')")
            raise
        check_structure(
            y, self.out_spec, f"LinearMap '{self.name}'", "output of the action",
            hint="Check the action, or the example_out the map was built with.",
        )
        return y

    def __matmul__(self, other):
        """``A @ B`` composes two maps; ``A @ x`` applies ``A`` to ``x``."""
        if isinstance(other, LinearMap):
            return self.compose(other)
        return self(other)

    @property
    def shape(self) -> tuple:
        """``(output size, input size)``: the shape of :meth:`to_matrix`."""
        return (self.out_spec.size, self.in_spec.size)

    @property
    def has_adjoint(self) -> bool:
        """Whether an adjoint action is known."""
        return self._adjoint_action is not None

    # -- adjoints -----------------------------------------------------------

    def adjoint(
        self,
        inner: Optional["InnerProduct"] = None,
        inner_out: Optional["InnerProduct"] = None,
    ) -> "LinearMap":
        """The adjoint map ``w -> A† w``, from the output space to the input space.

        Parameters
        ----------
        inner : InnerProduct, optional
            Inner product on the input space (default: Euclidean).
        inner_out : InnerProduct, optional
            Inner product on the output space (default: the same as ``inner``).

        Returns
        -------
        LinearMap
            With Euclidean inner products, the map with action and adjoint action
            swapped. Otherwise ``G_in⁻¹ A^T G_out``, where ``G`` is the metric of
            each inner product (``<u, v> = <u, G v>_Euclidean``); for
            ``WeightedInner(M)`` on both sides this is ``M⁻¹ A^T M``.

        Raises
        ------
        adlib.UsageError
            If the map was built without an adjoint action.
        """
        if self._adjoint_action is None:
            raise UsageError(
                f"LinearMap '{self.name}' has no adjoint action. Build it with "
                f"LinearMap(action, adjoint_action, example_in=...) to use adjoint() "
                f"or the dot-product test."
            )
        from adlib.linearmap.inner import EuclideanInner, euclidean

        inner = euclidean if inner is None else inner
        inner_out = inner if inner_out is None else inner_out
        if isinstance(inner, EuclideanInner) and isinstance(inner_out, EuclideanInner):
            adj = LinearMap._make(
                self._adjoint_action, self._action, self.out_spec, self.in_spec,
                self._adjoint_name or f"adjoint({self.name})",
            )
            adj._adjoint_name = self.name
            return adj

        forward, backward = self._action, self._adjoint_action

        def weighted_adjoint(w):
            return inner.metric_inverse(backward(inner_out.metric(w)))

        def weighted_adjoint_transposed(x):
            return inner_out.metric(forward(inner.metric_inverse(x)))

        under = inner.name if inner is inner_out else f"{inner.name} -> {inner_out.name}"
        return LinearMap._make(
            weighted_adjoint, weighted_adjoint_transposed, self.out_spec, self.in_spec,
            f"adjoint({self.name}) under {under}",
        )

    # -- algebra ------------------------------------------------------------

    def compose(self, other: "LinearMap") -> "LinearMap":
        """``self ∘ other``: first ``other``, then ``self`` (the same as ``self @ other``)."""
        if not isinstance(other, LinearMap):
            raise UsageError(
                f"LinearMap '{self.name}'.compose: expected a LinearMap, "
                f"got {type(other).__name__}."
            )
        if other.out_spec != self.in_spec:
            raise ShapeError(
                f"Cannot compose LinearMap '{self.name}' after LinearMap '{other.name}': "
                f"'{other.name}' outputs {describe(other.out_spec)} but '{self.name}' "
                f"takes {describe(self.in_spec)}."
            )
        adjoint_action = None
        if self.has_adjoint and other.has_adjoint:
            self_adj, other_adj = self.adjoint(), other.adjoint()

            def adjoint_action(w):
                return other_adj(self_adj(w))

        return LinearMap._make(
            lambda x: self(other(x)), adjoint_action, other.in_spec, self.out_spec,
            f"{paren(self.name)} @ {paren(other.name)}",
        )

    def _combine(self, other, op: Callable, symbol: str, verb: str) -> "LinearMap":
        """``self + other`` or ``self - other`` (``op`` is ``np.add`` or ``np.subtract``)."""
        if other.in_spec != self.in_spec or other.out_spec != self.out_spec:
            raise ShapeError(
                f"Cannot {verb} LinearMap '{self.name}' ({describe(self.in_spec)} -> "
                f"{describe(self.out_spec)}) and LinearMap '{other.name}' "
                f"({describe(other.in_spec)} -> {describe(other.out_spec)}): "
                f"both must map the same input space to the same output space."
            )
        adjoint_action = None
        if self.has_adjoint and other.has_adjoint:
            self_adj, other_adj = self.adjoint(), other.adjoint()

            def adjoint_action(w):
                return tree_map(op, self_adj(w), other_adj(w))

        return LinearMap._make(
            lambda x: tree_map(op, self(x), other(x)), adjoint_action,
            self.in_spec, self.out_spec, f"{paren(self.name)} {symbol} {paren(other.name)}",
        )

    def __add__(self, other):
        if not isinstance(other, LinearMap):
            return NotImplemented
        return self._combine(other, np.add, "+", "add")

    def __sub__(self, other):
        if not isinstance(other, LinearMap):
            return NotImplemented
        return self._combine(other, np.subtract, "-", "subtract")

    def _scaled(self, alpha: float, name: str) -> "LinearMap":
        adjoint_action = None
        if self.has_adjoint:
            adj = self.adjoint()

            def adjoint_action(w):
                return tree_map(lambda leaf: alpha * leaf, adj(w))

        return LinearMap._make(
            lambda x: tree_map(lambda leaf: alpha * leaf, self(x)), adjoint_action,
            self.in_spec, self.out_spec, name,
        )

    def __mul__(self, alpha):
        if isinstance(alpha, LinearMap):
            raise UsageError(
                f"Cannot multiply LinearMap '{self.name}' by LinearMap '{alpha.name}' "
                f"with '*': use '@' to compose linear maps."
            )
        if not isinstance(alpha, numbers.Real):
            return NotImplemented
        return self._scaled(float(alpha), f"{float(alpha):g} * {paren(self.name)}")

    __rmul__ = __mul__

    def __neg__(self) -> "LinearMap":
        return self._scaled(-1.0, f"-{paren(self.name)}")

    # -- inspection ---------------------------------------------------------

    def to_matrix(self) -> np.ndarray:
        """The dense matrix of the map, found by applying it to every basis vector.

        Inputs and outputs are flattened by concatenating their arrays, each
        raveled in C (row-major) order. Costs one application per input entry:
        meant for small maps (teaching, tests), not for computation.

        Returns
        -------
        ndarray of shape ``self.shape``
        """
        m, n = self.shape
        matrix = np.zeros((m, n))
        for j in range(n):
            basis_vector = np.zeros(n)
            basis_vector[j] = 1.0
            matrix[:, j] = to_vector(self(from_vector(self.in_spec, basis_vector)))
        return matrix

    def __repr__(self) -> str:
        adjoint = "adjoint given" if self.has_adjoint else "no adjoint"
        return (
            f"LinearMap({self.name!r}: {describe(self.in_spec)} -> "
            f"{describe(self.out_spec)}, {adjoint})"
        )

