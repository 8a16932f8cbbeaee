"""First-order expansion in ε, inner products, and reading off gradients.

:func:`_first_order` expands an expression in which every input ``x`` was replaced by
``x + ε ẋ``. Sums, products (in order: matrix products do not commute), integer powers,
transposes, traces, entries and any scalar function are expanded by the product and chain
rules. The inverse is derived from ``(X + εẊ)(X⁻¹ + εY) = I`` (:func:`_split_inverse`).
The determinant uses one piece of built-in knowledge, Jacobi's formula
``det(X + εẊ) = det(X)(1 + ε tr(X⁻¹Ẋ)) + O(ε²)``; each derivation that uses it says so
in its "expand" step, and ``verify()`` checks the result independently against SymPy's
Jacobian of explicit-entry matrices.
"""
from __future__ import annotations

from functools import reduce
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from adlib.errors import UnsupportedError
from adlib.symbolic.notation import EPS, Variable, _is_matrix, _zero_like

#: Built-in knowledge used by the expansion of a determinant (named in the derivation).
JACOBI = "Jacobi's formula for det, built in"
#: How the expansion of an inverse was obtained (named in the derivation).
INVERSE = "X⁻¹ from (X + εẊ)(X⁻¹ + εY) = I"


def _sum(terms: list) -> Any:
    terms = [t for t in terms if t is not None]
    return reduce(lambda a, b: a + b, terms) if terms else None


def _product(splits: list) -> tuple:
    """Product rule on ordered factors: (a0 + ε a1)(b0 + ε b1)··· to first order."""
    e0 = reduce(lambda a, b: a * b, [s[0] for s in splits])
    e1 = []
    for i, (_, d) in enumerate(splits):
        if d is not None:
            e1.append(reduce(lambda a, b: a * b, [s[0] for s in splits[:i]] + [d]
                             + [s[0] for s in splits[i + 1:]]))
    return e0, _sum(e1)


def _split(expr: Any, facts: list) -> tuple:
    """Return ``(e0, e1)`` with ``expr = e0 + ε·e1 + O(ε²)``; ``e1`` is None when zero."""
    if isinstance(expr, sp.MatrixBase):
        pairs = [_split(e, facts) for e in expr]
        e0 = sp.ImmutableMatrix(*expr.shape, [p[0] for p in pairs])
        if all(p[1] is None for p in pairs):
            return e0, None
        firsts = [p[1] if p[1] is not None else 0 for p in pairs]
        return e0, sp.ImmutableMatrix(*expr.shape, firsts)
    if not expr.has(EPS):
        return expr, None
    if expr == EPS:
        return sp.S.Zero, sp.S.One
    if isinstance(expr, (sp.Add, sp.MatAdd)):
        parts = [_split(a, facts) for a in expr.args]
        return _sum([p[0] for p in parts]), _sum([p[1] for p in parts])
    if isinstance(expr, (sp.Mul, sp.MatMul)):
        return _product([_split(a, facts) for a in expr.args])
    if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp > 0:
        return _product([_split(expr.base, facts)] * int(expr.exp))
    if isinstance(expr, sp.Transpose):
        a0, a1 = _split(expr.arg, facts)
        return a0.T, (a1.T if a1 is not None else None)
    if isinstance(expr, sp.Inverse):
        return _split_inverse(expr, facts)
    if isinstance(expr, sp.Determinant):
        # Built-in knowledge (Jacobi's formula), not derived here:
        # det(X + εẊ) = det(X) (1 + ε tr(X⁻¹ Ẋ)) + O(ε²). verify() checks the result
        # independently, with SymPy's Jacobian of det on explicit 2×2 and 3×3 matrices.
        a0, a1 = _split(expr.arg, facts)
        if a1 is None:
            return sp.Determinant(a0), None
        facts.append(JACOBI)
        d0 = sp.Determinant(a0)
        return d0, d0 * sp.Trace(a0.I * a1)
    if isinstance(expr, sp.Trace):
        a0, a1 = _split(expr.arg, facts)
        return sp.Trace(a0), (sp.Trace(a1) if a1 is not None else None)
    if isinstance(expr, MatrixElement):
        a0, a1 = _split(expr.parent, facts)
        return a0[expr.i, expr.j], (a1[expr.i, expr.j] if a1 is not None else None)
    if isinstance(expr, sp.Pow) and not expr.exp.has(EPS):
        b0, b1 = _split(expr.base, facts)
        return b0 ** expr.exp, (expr.exp * b0 ** (expr.exp - 1) * b1 if b1 is not None else None)
    if not _is_matrix(expr) and not any(_is_matrix(a) for a in expr.args):
        # any other scalar node g(u, v, ...): g(u0, ...) + ε Σ ∂g/∂uᵢ(u0, ...) uᵢ1
        parts = [_split(a, facts) for a in expr.args]
        dummies = [sp.Dummy() for _ in parts]
        g = expr.func(*dummies)
        at0 = dict(zip(dummies, [p[0] for p in parts]))
        e1 = _sum([g.diff(d).xreplace(at0) * p[1]
                   for d, p in zip(dummies, parts) if p[1] is not None])
        return expr.func(*[p[0] for p in parts]), e1
    raise UnsupportedError(_no_expansion_message(expr))


def _no_expansion_message(expr: Any) -> str:
    kind = type(expr).__name__
    where = f"adlib.symbolic: no first-order expansion for the {kind} node {expr}"
    if isinstance(expr, sp.MatPow):
        return (f"{where}: a non-integer power of a matrix expression (e.g. sp.sqrt of the "
                "1×1 quadratic form x.T*x of a MatrixSymbol) has no matrix-symbol rule. "
                "Use explicit entries, e.g. x = sp.Matrix(sp.symbols('x0:3')) and "
                "sp.sqrt((x.T * x)[0, 0]), or the trace: sp.sqrt(sp.Trace(x.T * x)).")
    if kind in ("ElementwiseApplyFunction", "HadamardProduct", "HadamardPower"):
        return (f"{where}: entrywise functions and products of a MatrixSymbol have no "
                "matrix-symbol rule here. Use explicit entries instead, e.g. "
                "x = sp.Matrix(sp.symbols('x0:3')), then x.applyfunc(sp.exp) or "
                "x.multiply_elementwise(y); pushforward, pullback and the code generators "
                "accept explicit-entry matrices.")
    return (f"{where}; rewrite it with sums, products, transposes, inverses, traces and "
            "determinants, or use explicit sp.Matrix inputs.")


def _split_inverse(expr: sp.Inverse, facts: list) -> tuple:
    """First order of ``(X + εẊ)⁻¹``, derived rather than looked up.

    Write ``(X + εẊ)⁻¹ = X⁻¹ + εY + O(ε²)`` with an unknown ``Y`` and expand
    ``(X + εẊ)(X⁻¹ + εY) = I`` with the product rule. The ε⁰ terms cancel (``X X⁻¹ = I``,
    the only fact used); the ε¹ terms give the linear equation ``Ẋ X⁻¹ + X Y = 0``, solved
    by multiplying with ``X⁻¹`` on the left: ``Y = −X⁻¹ Ẋ X⁻¹``.
    """
    a0, a1 = _split(expr.arg, facts)
    if a1 is None:
        return a0.I, None
    unknown = sp.MatrixSymbol("Y_inverse", *a0.shape)
    _, first = _product([(a0, a1), (a0.I, unknown)])  # Ẋ X⁻¹ + X Y
    rest = first - a0 * unknown
    if rest.has(unknown):  # pragma: no cover - the product rule puts Y in one term only
        raise UnsupportedError(f"adlib.symbolic: could not isolate the first-order term "
                               f"of the inverse of {a0}.")
    facts.append(INVERSE)
    return a0.I, -a0.I * rest


def _first_order(perturbed: Any) -> tuple:
    """``(e0, e1, facts)`` with ``perturbed = e0 + ε·e1 + O(ε²)``.

    ``facts`` names the built-in knowledge the expansion used (see :data:`JACOBI`), so
    that a derivation can say so next to its "expand" step.
    """
    facts: list = []
    e0, e1 = _split(perturbed, facts)
    return e0, (e1 if e1 is not None else _zero_like(perturbed)), list(dict.fromkeys(facts))


# ---- inner products and reading off gradients ----------------------------------------------

def inner(a: Any, b: Any) -> Any:
    """Inner product ⟨a, b⟩: ``a·b`` for scalars, ``tr(aᵀ b)`` for matrix symbols, and the
    sum of entrywise products for explicit matrices.

    Examples
    --------
    >>> import sympy as sp
    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> inner(A, B)
    Trace(A.T*B)
    >>> inner(sp.Matrix([1, 2]), sp.Matrix(sp.symbols("u v")))
    u + 2*v
    """
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        a, b = sp.Matrix(a), sp.Matrix(b)
        return sp.Add(*[p * q for p, q in zip(a, b)])
    if _is_matrix(a) and _is_matrix(b):
        if a.shape == (1, 1):
            return sp.Trace(a) * sp.Trace(b)
        return sp.Trace(a.T * b)
    if _is_matrix(b):  # scalar times a 1×1 matrix expression
        return a * sp.Trace(b)
    return a * b


def _expand_traces(expr: Any) -> Any:
    """Use linearity of traces: ``tr(αA + βB) = α tr(A) + β tr(B)`` for scalars α, β."""
    def split(tr: sp.Trace) -> Any:
        terms = []
        for term in sp.MatAdd.make_args(sp.expand(tr.arg)):
            if isinstance(term, sp.MatMul):
                scalars, mats = term.as_coeff_matrices()
            else:
                scalars, mats = 1, [term]
            terms.append(scalars * sp.Trace(sp.MatMul(*mats)))
        return sp.Add(*terms)

    return expr.replace(lambda e: isinstance(e, sp.Trace), split)


def _gradient(scalar: Any, v: Variable) -> Any:
    """The x̄ with ``scalar = ⟨x̄, v⟩ + (terms without v)``, for ``scalar`` linear in ``v``.

    A symbol repeated in an explicit matrix (e.g. ``q12`` in a symmetric ``Q``) is one
    variable: the coefficient of its tangent is shared equally by its entries, so that
    ``⟨x̄, ẋ⟩`` (a sum over entries) counts it once.
    """
    if isinstance(v, sp.MatrixBase):
        entries = list(v)
        return sp.ImmutableMatrix(v.applyfunc(
            lambda e: sp.expand(sp.diff(scalar, e) / entries.count(e))))
    if not _is_matrix(v) and scalar.has(sp.Trace):
        # a scalar input multiplying matrices (θ A): SymPy cannot differentiate a trace
        # by a scalar, so pull the scalars out of the traces first
        scalar = _expand_traces(scalar)
    g = sp.diff(scalar, v)
    if isinstance(v, sp.MatrixSymbol) and g == 0:
        return sp.ZeroMatrix(*v.shape)
    return g


