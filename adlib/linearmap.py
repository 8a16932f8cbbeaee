"""Matrix-free linear maps, inner products, adjoints and the dot-product test.

A :class:`LinearMap` is known only through its *action* ``x -> A x`` (a Python
function) and, optionally, the action of its adjoint ``w -> A† w``. Inputs and
outputs may be arrays of any shape or tuples (or dicts) of arrays; example
values fix the shapes. :func:`dot_product_test` checks an adjoint numerically,

.. math:: \\langle w, A x \\rangle_{\\text{out}} = \\langle A^\\dagger w, x \\rangle_{\\text{in}},

for random general ``x`` and ``w``, and :func:`linearize` turns a function at a
point into the linear map ``x_dot -> ∂f(x) x_dot`` whose adjoint is the pullback.

The adjoint action given to :class:`LinearMap` is the adjoint under the
Euclidean inner product (the sum of elementwise products) on both sides, which
is the convention of reverse-mode AD. :meth:`LinearMap.adjoint` with inner
products builds the adjoint under other inner products from it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

__all__ = [
    "LinearMap",
    "InnerProduct",
    "EuclideanInner",
    "WeightedInner",
    "QuadratureInner",
    "TupleInner",
    "euclidean",
    "DotProductResult",
    "dot_product_test",
    "linearize",
]

#: A value a linear map acts on: an array, a scalar, or a tuple/list/dict of such values.
Tree = Any


# ---------------------------------------------------------------- structures


@dataclass(frozen=True)
class _Leaf:
    """The structure of one array: just its shape."""

    shape: tuple


@dataclass(frozen=True)
class _Dict:
    """The structure of a dict: its (sorted) keys and the structure of each value."""

    keys: tuple
    values: tuple


def _spec(tree: Tree):
    """The structure of ``tree``: a ``_Leaf``, a ``_Dict`` or a tuple of structures."""
    if isinstance(tree, (tuple, list)):
        return tuple(_spec(t) for t in tree)
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        return _Dict(keys, tuple(_spec(tree[k]) for k in keys))
    return _Leaf(tuple(np.shape(tree)))


def _describe(spec) -> str:
    """Human-readable structure, e.g. ``shape (3, 4)`` or ``tuple (shape (3,), shape ())``."""
    if isinstance(spec, _Leaf):
        return f"shape {spec.shape}"
    if isinstance(spec, _Dict):
        items = ", ".join(f"{k!r}: {_describe(v)}" for k, v in zip(spec.keys, spec.values))
        return "dict {" + items + "}"
    return "tuple (" + ", ".join(_describe(s) for s in spec) + ")"


def _leaves(tree: Tree) -> list:
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    return [tree]


def _build(spec, make_leaf: Callable):
    """A tree of structure ``spec`` whose leaves are ``make_leaf(shape)``."""
    if isinstance(spec, _Leaf):
        return make_leaf(spec.shape)
    if isinstance(spec, _Dict):
        return {k: _build(v, make_leaf) for k, v in zip(spec.keys, spec.values)}
    return tuple(_build(s, make_leaf) for s in spec)


def _tree_map(fn: Callable, *trees: Tree) -> Tree:
    first = trees[0]
    if isinstance(first, (tuple, list)):
        return tuple(_tree_map(fn, *parts) for parts in zip(*trees))
    if isinstance(first, dict):
        return {k: _tree_map(fn, *(t[k] for t in trees)) for k in sorted(first)}
    return fn(*trees)


def _size(spec) -> int:
    if isinstance(spec, _Leaf):
        return int(np.prod(spec.shape, dtype=int))
    if isinstance(spec, _Dict):
        return sum(_size(s) for s in spec.values)
    return sum(_size(s) for s in spec)


def _to_vector(tree: Tree) -> np.ndarray:
    """Concatenate the leaves of ``tree`` (each raveled in C order) into one vector."""
    parts = [np.ravel(np.asarray(leaf, dtype=float)) for leaf in _leaves(tree)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _from_vector(spec, vector: np.ndarray) -> Tree:
    """Inverse of :func:`_to_vector` for a tree of structure ``spec``."""
    position = 0

    def take(shape):
        nonlocal position
        n = int(np.prod(shape, dtype=int))
        leaf = vector[position : position + n].reshape(shape)
        position += n
        return leaf

    return _build(spec, take)


def _paren(name: str) -> str:
    return f"({name})" if " " in name else name


def _default_name(action: Callable) -> str:
    name = getattr(action, "__name__", None)
    return name if name and name != "<lambda>" else "anonymous"


# ---------------------------------------------------------------- linear maps


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
            raise TypeError(f"LinearMap: action must be callable, got {type(action).__name__}.")
        if adjoint_action is not None and not callable(adjoint_action):
            raise TypeError(
                f"LinearMap: adjoint_action must be callable or None, "
                f"got {type(adjoint_action).__name__}."
            )
        self.name = name if name is not None else _default_name(action)
        self.in_spec = _spec(example_in)
        if example_out is None:
            example_out = action(_build(self.in_spec, np.zeros))
        self.out_spec = _spec(example_out)
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
            raise ValueError(
                f"LinearMap.from_matrix: expected a 2-D matrix, got an array of shape {M.shape}."
            )
        m, n = M.shape
        return cls._make(
            lambda x: M @ x,
            lambda w: M.T @ w,
            _Leaf((n,)),
            _Leaf((m,)),
            name if name is not None else f"matrix {M.shape}",
        )

    # -- applying -----------------------------------------------------------

    def __call__(self, x: Tree) -> Tree:
        """Apply the map: ``A x``."""
        _check_structure(x, self.in_spec, f"LinearMap '{self.name}'", "input")
        try:
            y = self._action(x)
        except Exception as error:
            if hasattr(error, "add_note"):  # Python >= 3.11
                error.add_note(f"(raised inside the action of LinearMap '{self.name}')")
            raise
        _check_structure(
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
        return (_size(self.out_spec), _size(self.in_spec))

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
        ValueError
            If the map was built without an adjoint action.
        """
        if self._adjoint_action is None:
            raise ValueError(
                f"LinearMap '{self.name}' has no adjoint action. Build it with "
                f"LinearMap(action, adjoint_action, example_in=...) to use adjoint() "
                f"or the dot-product test."
            )
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
            raise TypeError(
                f"LinearMap '{self.name}'.compose: expected a LinearMap, "
                f"got {type(other).__name__}."
            )
        if other.out_spec != self.in_spec:
            raise ValueError(
                f"Cannot compose LinearMap '{self.name}' after LinearMap '{other.name}': "
                f"'{other.name}' outputs {_describe(other.out_spec)} but '{self.name}' "
                f"takes {_describe(self.in_spec)}."
            )
        adjoint_action = None
        if self.has_adjoint and other.has_adjoint:
            self_adj, other_adj = self.adjoint(), other.adjoint()

            def adjoint_action(w):
                return other_adj(self_adj(w))

        return LinearMap._make(
            lambda x: self(other(x)), adjoint_action, other.in_spec, self.out_spec,
            f"{_paren(self.name)} @ {_paren(other.name)}",
        )

    def _combine(self, other, op: Callable, symbol: str, verb: str) -> "LinearMap":
        """``self + other`` or ``self - other`` (``op`` is ``np.add`` or ``np.subtract``)."""
        if other.in_spec != self.in_spec or other.out_spec != self.out_spec:
            raise ValueError(
                f"Cannot {verb} LinearMap '{self.name}' ({_describe(self.in_spec)} -> "
                f"{_describe(self.out_spec)}) and LinearMap '{other.name}' "
                f"({_describe(other.in_spec)} -> {_describe(other.out_spec)}): "
                f"both must map the same input space to the same output space."
            )
        adjoint_action = None
        if self.has_adjoint and other.has_adjoint:
            self_adj, other_adj = self.adjoint(), other.adjoint()

            def adjoint_action(w):
                return _tree_map(op, self_adj(w), other_adj(w))

        return LinearMap._make(
            lambda x: _tree_map(op, self(x), other(x)), adjoint_action,
            self.in_spec, self.out_spec, f"{_paren(self.name)} {symbol} {_paren(other.name)}",
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
                return _tree_map(lambda leaf: alpha * leaf, adj(w))

        return LinearMap._make(
            lambda x: _tree_map(lambda leaf: alpha * leaf, self(x)), adjoint_action,
            self.in_spec, self.out_spec, name,
        )

    def __mul__(self, alpha):
        if isinstance(alpha, LinearMap):
            raise TypeError(
                f"Cannot multiply LinearMap '{self.name}' by LinearMap '{alpha.name}' "
                f"with '*': use '@' to compose linear maps."
            )
        if not isinstance(alpha, numbers.Real):
            return NotImplemented
        return self._scaled(float(alpha), f"{float(alpha):g} * {_paren(self.name)}")

    __rmul__ = __mul__

    def __neg__(self) -> "LinearMap":
        return self._scaled(-1.0, f"-{_paren(self.name)}")

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
            matrix[:, j] = _to_vector(self(_from_vector(self.in_spec, basis_vector)))
        return matrix

    def __repr__(self) -> str:
        adjoint = "adjoint given" if self.has_adjoint else "no adjoint"
        return (
            f"LinearMap({self.name!r}: {_describe(self.in_spec)} -> "
            f"{_describe(self.out_spec)}, {adjoint})"
        )


def _check_structure(tree: Tree, spec, who: str, what: str, hint: str = "") -> None:
    """Raise a ValueError naming ``who`` if ``tree`` does not have structure ``spec``."""
    actual = _spec(tree)
    if actual != spec:
        message = f"{who}: {what} has {_describe(actual)}, expected {_describe(spec)}."
        raise ValueError(message + (" " + hint if hint else ""))


# ---------------------------------------------------------------- inner products


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
        raise NotImplementedError

    def metric_inverse(self, v: Tree) -> Tree:  # pragma: no cover - abstract
        """Apply the inverse metric: ``G⁻¹ v``."""
        raise NotImplementedError

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
        if _spec(u) != _spec(v):
            raise ValueError(
                f"euclidean inner product: u has {_describe(_spec(u))} but v has "
                f"{_describe(_spec(v))}; both must have the same structure."
            )
        return float(sum(np.sum(np.multiply(a, b)) for a, b in zip(_leaves(u), _leaves(v))))

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
            raise ValueError(f"WeightedInner: M must be a square matrix, got shape {M.shape}.")
        if not np.allclose(M, M.T, rtol=1e-12, atol=1e-14 * np.max(np.abs(M), initial=0.0)):
            raise ValueError(
                "WeightedInner: M must be symmetric (M == M.T); symmetrize it, e.g. (M + M.T) / 2."
            )
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise ValueError(
                "WeightedInner: M must be positive definite (its Cholesky factorization failed)."
            ) from None
        self.M = M
        self.name = f"weighted({name})"

    def _check(self, v) -> np.ndarray:
        n = self.M.shape[0]
        if isinstance(v, (tuple, list, dict)) or np.ndim(v) == 0 or np.shape(v)[0] != n:
            raise ValueError(
                f"WeightedInner: {self.M.shape} weight matrix needs an array whose first "
                f"axis has length {self.M.shape[0]}, got {_describe(_spec(v))}. "
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
            raise ValueError("QuadratureInner: all weights must be positive.")
        self.weights = weights
        self.name = f"quadrature({name})"

    def _check(self, v) -> np.ndarray:
        shape = None if isinstance(v, (tuple, list, dict)) else np.shape(v)
        try:
            ok = shape is not None and np.broadcast_shapes(self.weights.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"QuadratureInner: weights of shape {self.weights.shape} do not fit an "
                f"input of {_describe(_spec(v))}. For tuples of arrays use TupleInner."
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
            raise TypeError("TupleInner: pass one InnerProduct per tuple entry.")
        self.parts = parts
        self.name = "tuple(" + ", ".join(p.name for p in parts) + ")"

    def _check(self, v) -> None:
        if not isinstance(v, (tuple, list)) or len(v) != len(self.parts):
            raise ValueError(
                f"TupleInner: expected a tuple of {len(self.parts)} parts, "
                f"got {_describe(_spec(v))}."
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


# ---------------------------------------------------------------- dot-product test


@dataclass(frozen=True)
class DotProductResult:
    """The outcome of :func:`dot_product_test`: both sides of the identity and their mismatch."""

    #: Name of the linear map tested.
    name: str
    #: ``<w, A x>``, the inner product in the output space.
    lhs: float
    #: ``<A† w, x>``, the inner product in the input space.
    rhs: float
    #: ``|lhs - rhs| / max(|lhs|, |rhs|)``. (The denominator is never below
    #: ``1e-4 |w| |A x|``, so that rounding errors cannot raise a false alarm
    #: when both values happen to be nearly zero.)
    rel_error: float
    #: The tolerance the test used.
    rtol: float

    @property
    def passed(self) -> bool:
        """Whether ``rel_error <= rtol``."""
        return self.rel_error <= self.rtol

    def __repr__(self) -> str:
        failure = "" if self.passed else f"rel_error={self.rel_error:.2e}, "
        return (
            f"DotProductResult({self.name!r}, lhs={self.lhs:.8g}, rhs={self.rhs:.8g}, "
            f"{failure}passed={self.passed})"
        )


def dot_product_test(
    linear_map: LinearMap,
    *,
    adjoint: Optional[Callable[[Tree], Tree]] = None,
    inner: Optional[InnerProduct] = None,
    inner_out: Optional[InnerProduct] = None,
    seed: int = 0,
    rtol: float = 1e-10,
    raise_on_failure: bool = True,
) -> DotProductResult:
    """Check ``<w, A x>_out == <A† w, x>_in`` for random general ``x`` and ``w``.

    ``x`` and ``w`` are standard normal draws (every array of a tuple too) from
    ``numpy.random.default_rng(seed)``: no symmetry or other structure that
    could hide a wrong adjoint.

    Parameters
    ----------
    linear_map : LinearMap
        The map ``A``.
    adjoint : LinearMap or callable, optional
        The adjoint ``w -> A† w`` to check. Default: ``linear_map.adjoint()``,
        the Euclidean adjoint the map was built with.
    inner : InnerProduct, optional
        Inner product on the input space (default: :data:`euclidean`).
    inner_out : InnerProduct, optional
        Inner product on the output space (default: the same as ``inner``).
    seed : int
        Seed of the random draws.
    rtol : float
        Largest accepted relative error (see :class:`DotProductResult`).
    raise_on_failure : bool
        Raise an AssertionError when the test fails (default); otherwise just
        return the result.

    Returns
    -------
    DotProductResult

    Raises
    ------
    AssertionError
        If the identity fails and ``raise_on_failure`` is true; the message
        names the map and gives both values.
    """
    if not isinstance(linear_map, LinearMap):
        raise TypeError(
            f"dot_product_test: expected a LinearMap, got {type(linear_map).__name__}. "
            f"Wrap the function with LinearMap(action, adjoint_action, example_in=...)."
        )
    inner = euclidean if inner is None else inner
    inner_out = inner if inner_out is None else inner_out
    if adjoint is None:
        adjoint_map = linear_map.adjoint()
    elif isinstance(adjoint, LinearMap):
        if adjoint.in_spec != linear_map.out_spec or adjoint.out_spec != linear_map.in_spec:
            raise ValueError(
                f"dot_product_test: the adjoint '{adjoint.name}' maps "
                f"{_describe(adjoint.in_spec)} -> {_describe(adjoint.out_spec)}, but the "
                f"adjoint of '{linear_map.name}' must map {_describe(linear_map.out_spec)} -> "
                f"{_describe(linear_map.in_spec)}."
            )
        adjoint_map = adjoint
    else:
        adjoint_map = LinearMap._make(
            adjoint, None, linear_map.out_spec, linear_map.in_spec,
            f"{_default_name(adjoint)} (adjoint of {linear_map.name})",
        )

    rng = np.random.default_rng(seed)
    x = _build(linear_map.in_spec, rng.standard_normal)
    w = _build(linear_map.out_spec, rng.standard_normal)
    Ax = linear_map(x)
    Atw = adjoint_map(w)
    lhs = inner_out(w, Ax)
    rhs = inner(Atw, x)
    # Relative to the larger value; the floor keeps rounding errors from raising a
    # false alarm in the (unlikely) case that both values are nearly zero.
    scale = max(abs(lhs), abs(rhs), 1e-4 * inner_out.norm(w) * inner_out.norm(Ax))
    rel_error = abs(lhs - rhs) / scale if scale > 0 else 0.0
    result = DotProductResult(linear_map.name, lhs, rhs, rel_error, rtol)

    if raise_on_failure and not result.passed:
        spaces = inner.name if inner is inner_out else f"{inner.name} -> {inner_out.name}"
        message = (
            f"dot-product test failed for LinearMap '{linear_map.name}':\n"
            f"  <w, A x>  = {lhs:.12g}\n"
            f"  <A* w, x> = {rhs:.12g}  (A* = the adjoint)\n"
            f"  relative error {rel_error:.3e} > rtol {rtol:.1e} "
            f"(inner products: {spaces}; seed {seed}).\n"
            f"The adjoint does not match the action."
        )
        if adjoint is None and not (
            isinstance(inner, EuclideanInner) and isinstance(inner_out, EuclideanInner)
        ):
            message += (
                " The default adjoint is the Euclidean one; for the adjoint under these "
                "inner products pass adjoint=linear_map.adjoint(inner, inner_out)."
            )
        raise AssertionError(message)
    return result


# ---------------------------------------------------------------- linearize


def linearize(f: Callable, *primals: Tree) -> tuple:
    """The pushforward of ``f`` at ``primals`` as a LinearMap whose adjoint is the pullback.

    Parameters
    ----------
    f : callable
        A function written with :mod:`adlib.numpy`.
    *primals : array, or tuple or dict of arrays
        The point of linearization.

    Returns
    -------
    primal_out : array, or tuple or dict of arrays
        ``f(*primals)``.
    pushforward : LinearMap
        ``x_dot -> ∂f(x) x_dot``, computed with :func:`adlib.jvp` (each
        application re-runs ``f`` in forward mode). Its input is the tangent of
        the single primal, or a tuple with one tangent per primal. Its adjoint
        is the pullback ``y_bar -> ∂f(x)^T y_bar`` from :func:`adlib.vjp`,
        recorded once here and reused for every application.

    Examples
    --------
    >>> import numpy as np, adlib, adlib.numpy as anp
    >>> x = np.array([0.5, -1.0])
    >>> def f(x):
    ...     return anp.sin(x) * x
    >>> y, df = linearize(f, x)
    >>> y_bar = np.array([1.0, 2.0])
    >>> bool(np.allclose(df.adjoint()(y_bar), adlib.vjp(f, x)[1](y_bar)[0]))
    True
    """
    from . import jvp, vjp  # imported here: the core imports this module

    if not primals:
        raise TypeError("linearize: pass at least one primal value, as in linearize(f, x).")
    single = len(primals) == 1
    primal_out, vjp_fn = vjp(f, *primals)
    out_spec = _spec(primal_out)
    in_spec = _spec(primals[0]) if single else _spec(tuple(primals))

    def pushforward(tangent):
        tangents = (tangent,) if single else tuple(tangent)
        return jvp(f, primals, tangents)[1]

    def pullback(cotangent):
        cotangents = tuple(vjp_fn(cotangent))
        cotangents = tuple(
            _build(_spec(p), np.zeros) if c is None else c for c, p in zip(cotangents, primals)
        )
        return cotangents[0] if single else cotangents

    name = f"linearize({_default_name(f)})"
    return primal_out, LinearMap._make(pushforward, pullback, in_spec, out_spec, name)
