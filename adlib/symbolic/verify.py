"""Check derived rules against SymPy's Jacobian of explicit-entry matrices.

Matrix symbols become explicit matrices of small sizes (2×2 and 3×3 by default), the
inputs random rationals; ``J ẋ`` (pushforward) or ``Jᵀ ȳ`` (pullback), with ``J`` from
``sp.Matrix.jacobian``, is compared *exactly* with the claimed rule. This is the check
that does not share any step with the derivation (not even the built-in expansion of the
determinant, see :mod:`adlib.symbolic.expansion`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp
from sympy.matrices.exceptions import NonInvertibleMatrixError

from adlib.errors import ShapeError, SolverError
from adlib.symbolic.notation import (Variable, _apply, _as_inputs, _is_matrix, _names,
                                     _output_symbol, bar, dot)


def _adjugate_inverse(e: sp.Inverse) -> sp.ImmutableMatrix:
    m = sp.ImmutableMatrix(e.arg.doit())
    d = m.det()
    if d == 0:
        raise NonInvertibleMatrixError("singular random point")
    return (m.adjugate() / d).as_immutable()


class _Point:
    """Random rational values for every symbol, with explicit matrices for matrix symbols."""

    def __init__(self, dims: Mapping, rng: np.random.Generator):
        self.dims, self.rng, self.values = dict(dims), rng, {}

    def _number(self) -> sp.Rational:
        return sp.Rational(int(self.rng.choice([-1, 1]) * self.rng.integers(1, 10)),
                           int(self.rng.integers(1, 5)))

    def shape(self, m: sp.MatrixSymbol) -> tuple:
        return tuple(int(sp.sympify(d).xreplace(self.dims)) for d in m.shape)

    def value(self, leaf: Any) -> Any:
        if leaf not in self.values:
            if isinstance(leaf, sp.MatrixSymbol):
                r, c = self.shape(leaf)
                self.values[leaf] = sp.ImmutableMatrix(r, c, lambda i, j: self._number())
            else:
                self.values[leaf] = self._number()
        return self.values[leaf]

    def symbolic(self, x: Variable) -> tuple:
        """An explicit symbolic stand-in for input ``x`` and its entry values."""
        if isinstance(x, sp.MatrixSymbol):
            r, c = self.shape(x)
            ex = sp.ImmutableMatrix(r, c, lambda i, j: sp.Dummy(f"{x.name}_{i}{j}"))
            return ex, dict(zip(ex, self.value(x)))
        if isinstance(x, sp.MatrixBase):
            return x, {e: self.value(e) for e in x}
        return x, {x: self.value(x)}

    def substitute(self, expr: Any, keep: Mapping | None = None) -> Any:
        """Replace matrix symbols (by ``keep`` or random values), dimensions, then scalars."""
        expr = sp.sympify(expr)
        keep = dict(keep or {})
        mats = sorted(expr.atoms(sp.MatrixSymbol), key=str)  # sorted: draws in a fixed order
        expr = expr.xreplace({m: keep[m] if m in keep else self.value(m) for m in mats})
        expr = expr.xreplace({d: sp.Integer(v) for d, v in self.dims.items()})
        # explicit inverses by adjugate / determinant: much faster than SymPy's default
        # elimination on symbolic entries
        expr = expr.replace(lambda e: isinstance(e, sp.Inverse), _adjugate_inverse)
        if hasattr(expr, "doit"):
            expr = expr.doit()
        scalars = {s: self.value(s) for s in sorted(expr.free_symbols, key=str)
                   if isinstance(s, sp.Symbol) and not isinstance(s, sp.Dummy) and s not in keep
                   and s not in self.dims}
        return expr.xreplace(scalars)


def _flat(v: Any) -> list:
    if isinstance(v, sp.MatrixBase):
        return list(v)
    if _is_matrix(v):
        return list(v.as_explicit())
    return [sp.sympify(v)]


def _bad(v: Any) -> bool:
    entries = v if isinstance(v, list) else _flat(v)
    return any(sp.sympify(e).has(sp.zoo, sp.nan, sp.oo, -sp.oo) for e in entries)


def _same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for p, q in zip(a, b):
        d = sp.sympify(p - q)
        if d != 0 and (d.free_symbols or abs(sp.N(d, 40)) > sp.Float("1e-25")):
            return False
    return True


def _size_specs(sizes: Sequence, leaves: Sequence[Any]) -> list:
    dims = set()
    for leaf in leaves:
        if isinstance(leaf, sp.MatrixBase):
            continue
        for m in sp.sympify(leaf).atoms(sp.MatrixSymbol):
            for d in m.shape:
                dims |= sp.sympify(d).free_symbols
    if not dims:
        return [{}]
    specs = []
    for s in ([sizes] if isinstance(sizes, (int, Mapping)) else sizes):
        specs.append(dict(s) if isinstance(s, Mapping) else {d: int(s) for d in dims})
        missing = dims - set(specs[-1])
        if missing:
            raise ShapeError(f"adlib.symbolic: sizes {s} gives no value for the dimension(s) "
                             f"{', '.join(sorted(map(str, missing)))}; pass an int for all of "
                             "them or a dict with one entry per dimension symbol.")
    return specs


def _jacobian(fx: Any, variables: list) -> tuple:
    """SymPy's Jacobian of ``fx`` with one column per entry of the flattened inputs.

    A symbol repeated in an explicit matrix (``q12`` in a symmetric ``Q``) is one variable,
    and its tangent fills all its entries. Its Jacobian column is shared equally by those
    entries, so that ``J ẋ`` counts the tangent once. Returns ``(J, merge)``: ``merge`` adds
    up the values of a per-entry list for each distinct variable; cotangents are compared
    after merging, as ``⟨x̄, ẋ⟩ = ⟨Jᵀȳ, ẋ⟩`` for every tangent ``ẋ`` of that form.
    """
    distinct = list(dict.fromkeys(variables))
    Ju = sp.Matrix(_flat(fx)).jacobian(distinct)
    col = [distinct.index(v) for v in variables]
    J = sp.Matrix(Ju.rows, len(variables), lambda i, p: Ju[i, col[p]] / col.count(col[p]))

    def merge(values: list) -> list:  # values for the first len(values) entries
        out = [sp.S.Zero] * len(distinct)
        for p, value in enumerate(values):
            out[col[p]] += value
        return out

    return J, merge


def _jacobian_check(f: Any, inputs: tuple, rule: Callable, sizes: Sequence, seed: int,
                    leaves: Sequence[Any]) -> bool:
    """Evaluate ``rule(point, J, merge)`` for SymPy's Jacobian ``J`` of ``f`` (see
    :func:`_jacobian`) at random points until one is regular."""
    rng = np.random.default_rng(seed)
    for dims in _size_specs(sizes, list(inputs) + list(leaves)):
        for _attempt in range(20):
            pt = _Point(dims, rng)
            explicit, at = [], {}
            for x in inputs:
                ex, vals = pt.symbolic(x)
                explicit.append(ex)
                at.update(vals)
            keep = {x: ex for x, ex in zip(inputs, explicit) if isinstance(x, sp.MatrixSymbol)}
            keep.update({e: e for ex in explicit for e in _flat(ex)})
            if callable(f) and not isinstance(f, (sp.Basic, sp.MatrixBase)):
                fx = sp.sympify(f(*explicit))
                fx = pt.substitute(fx, keep) if isinstance(fx, sp.Basic) else fx
            else:
                fx = pt.substitute(f, keep)
            variables = [e for ex in explicit for e in _flat(ex)]
            J, merge = _jacobian(fx, variables)
            J = J.xreplace(at)
            if _bad(J):
                continue  # singular point: draw again
            try:
                outcome = rule(pt, J, merge)
            except (NonInvertibleMatrixError, ZeroDivisionError):
                outcome = None
            if outcome is None:
                continue
            if not outcome:
                return False
            break
        else:
            raise SolverError("adlib.symbolic: could not find a regular random point to "
                              "check at in 20 draws; try another seed= or other sizes=.")
    return True


def verify_pushforward(f: Any, inputs: Any, tangent_out: Any, *, sizes: Sequence = (2, 3),
                       seed: int = 0) -> bool:
    """Check a pushforward against SymPy's Jacobian on explicit matrices.

    Matrix symbols become explicit matrices of each size in ``sizes``; ``J ẋ`` (with ``J``
    from ``sp.Matrix.jacobian``) is compared exactly with ``tangent_out`` at a random
    rational point (inputs, tangents and any other symbols drawn independently).

    Parameters
    ----------
    f : expression or callable
        The function, as for :func:`pushforward`.
    inputs : Variable or sequence of them
        Its inputs.
    tangent_out : expression
        The claimed ``ẏ``, in terms of inputs and tangents (``dot(x)``).
    sizes : sequence of int or dict, default (2, 3)
        Values for the symbolic dimensions: an int sets all of them, a dict maps each one.
    seed : int
        Seed of the random point.

    Returns
    -------
    bool
        True when they agree at every size.

    Examples
    --------
    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> X = sp.MatrixSymbol("X", n, n)
    >>> Xd = dot(X)
    >>> verify_pushforward(X.inverse(), X, -X.inverse() * Xd * X.inverse())
    True
    >>> verify_pushforward(X.inverse(), X, -X.inverse() * Xd.T * X.inverse())
    False
    """
    inputs = _as_inputs(inputs)
    tangents = [dot(x) for x in inputs]

    def rule(pt: _Point, J: sp.Matrix, merge: Callable) -> bool | None:
        xdot = [v for t in tangents for v in _flat(pt.substitute(t))]
        claimed = pt.substitute(tangent_out)
        if _bad(claimed):
            return None
        return _same(list(J * sp.Matrix(xdot)), _flat(claimed))

    return _jacobian_check(f, inputs, rule, sizes, seed, [tangent_out])


def verify_pullback(f: Any, inputs: Any, cotangents: Mapping | Sequence, *,
                    cotangent_out: Any = None, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
    """Check a pullback against the transposed SymPy Jacobian on explicit matrices.

    ``cotangents`` may be keyed by a mutable ``sp.Matrix`` for an explicit input.

    ``Jᵀ ȳ`` is compared exactly with the claimed cotangents at a random rational point.

    Parameters
    ----------
    f, inputs :
        As in :func:`verify_pushforward`.
    cotangents : dict or sequence
        The claimed ``x̄`` for each input (``{x: x̄}`` or in input order), in terms of the
        inputs and ``cotangent_out``.
    cotangent_out : Variable, optional
        The ``ȳ`` used in ``cotangents``; default: ``bar`` of the output name that
        :func:`pullback` would use (``ybar`` or ``Ybar``).
    sizes, seed :
        As in :func:`verify_pushforward`.

    Returns
    -------
    bool

    Examples
    --------
    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> A, x = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("x", n, 1)
    >>> ybar = bar(sp.MatrixSymbol("y", n, 1))
    >>> verify_pullback(A * x, [A, x], {A: ybar * x.T, x: A.T * ybar})
    True
    >>> verify_pullback(A * x, [A, x], {A: x * ybar.T, x: A.T * ybar})
    False
    """
    inputs = _as_inputs(inputs)
    if isinstance(cotangents, Mapping):
        keyed = {(sp.ImmutableMatrix(k) if isinstance(k, sp.MatrixBase) else k): v
                 for k, v in cotangents.items()}
        cot = [keyed[x] for x in inputs]
    else:
        cot = list(cotangents)
    if cotangent_out is None:
        y = _apply(f, inputs)
        cotangent_out = bar(_output_symbol(y, _names(inputs + (y,)), None))

    def rule(pt: _Point, J: sp.Matrix, merge: Callable) -> bool | None:
        ybar = _flat(pt.substitute(cotangent_out))
        claimed = [v for g in cot for v in _flat(pt.substitute(g))]
        if _bad(claimed):
            return None
        if len(claimed) != J.cols:  # wrong shapes
            return False
        return _same(merge(list(J.T * sp.Matrix(ybar))), merge(claimed))

    return _jacobian_check(f, inputs, rule, sizes, seed, list(cot) + [cotangent_out])


