"""Derive pushforward and pullback rules with SymPy, and show every step.

The book derives its rules instead of stating them. This module automates the two
recipes it teaches, so that a notebook cell can display the derivation and check it:

* **Pushforward by perturbation.** Replace every input ``x`` by ``x + ε·ẋ``, expand, and
  keep the coefficient of ``ε``: that is ``ẏ``. Works for scalar symbols, explicit
  ``sp.Matrix`` inputs and abstract ``sp.MatrixSymbol`` inputs (products do not commute;
  transposes, inverses, traces and determinants are expanded with their first-order
  series, e.g. ``(X + εẊ)⁻¹ = X⁻¹ − εX⁻¹ẊX⁻¹ + O(ε²)``).
* **Pullback by transposition.** Write ``⟨ȳ, ẏ⟩`` and read off whatever multiplies each
  ``ẋ``: it is ``x̄``. SymPy does the reading off as a gradient of the inner product with
  respect to the tangent (``tr(Ȳᵀ Ẏ)`` for matrices). A symbol repeated in an explicit
  matrix (a symmetric ``Q``) is one variable: its coefficient is split equally among its
  entries, so ``Q̄`` is symmetric and ``⟨Q̄, Q̇⟩`` counts it once.
* **Implicit functions** ``F(x, y) = 0``: the linear equation for ``ẏ`` and the adjoint
  equation ``∂ᵧFᵀ w = −ȳ`` with ``x̄ = ∂ₓFᵀ w``.

Every derivation object renders its steps as LaTeX in a notebook and has a deterministic
text ``repr``. Derived rules can be checked against SymPy's Jacobian of explicit 2×2 and
3×3 matrices (:func:`verify_pushforward`, :func:`verify_pullback`), turned into
``adlib.numpy`` code (:func:`to_function`, :func:`to_custom_jvp`, :func:`to_custom_vjp`)
and checked numerically with :mod:`adlib.testing` (:func:`check_numerically`).

Naming: the tangent of ``x`` is ``xdot`` (LaTeX ``\\dot{x}``), its cotangent ``xbar``
(LaTeX ``\\bar{x}``); the perturbation parameter is :data:`EPS` (``\\varepsilon``, ``ε``
in the text ``repr``).
Column vectors are ``n×1`` matrix symbols; the generated code treats them as 1-D arrays.
"""
from __future__ import annotations

import dataclasses
import keyword
import re
from functools import reduce
from typing import Any, Callable, Mapping, NamedTuple, Sequence, Union

import numpy as np
import sympy as sp
from sympy.matrices.exceptions import NonInvertibleMatrixError
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.str import StrPrinter

__all__ = [
    "EPS", "dot", "bar", "inner", "latex",
    "Derivation", "Pushforward", "Pullback", "ImplicitPushforward", "ImplicitPullback",
    "pushforward", "pullback", "implicit_pushforward", "implicit_pullback",
    "verify_pushforward", "verify_pullback",
    "to_function", "to_custom_jvp", "to_custom_vjp", "check_numerically",
]

#: The perturbation parameter ε.
EPS = sp.Symbol("varepsilon")

Variable = Union[sp.Symbol, sp.MatrixSymbol, sp.MatrixBase]
"""An input or output: a scalar symbol, a matrix symbol, or an explicit matrix of symbols."""


# ---- names and notation ---------------------------------------------------------------

def _decorate(name: str, modifier: str) -> str:
    base, sups, subs = split_super_sub(name)
    if base.startswith("\\"):
        return rf"\{modifier}{{{name}}}"
    return base + modifier + "".join("^" + s for s in sups) + "".join("_" + s for s in subs)


def _renamed(x: Variable, modifier: str) -> Variable:
    if isinstance(x, sp.MatrixSymbol):
        return sp.MatrixSymbol(_decorate(x.name, modifier), *x.shape)
    if isinstance(x, sp.MatrixBase):
        return sp.ImmutableMatrix(x.applyfunc(lambda e: _renamed(e, modifier)))
    if isinstance(x, sp.Symbol):
        return sp.Symbol(_decorate(x.name, modifier), real=True) if x.is_real else sp.Symbol(
            _decorate(x.name, modifier))
    raise TypeError(f"adlib.symbolic: cannot name a tangent for {x!r} ({type(x).__name__}); "
                    "use a sympy Symbol, MatrixSymbol or a Matrix of Symbols.")


def dot(x: Variable) -> Variable:
    """Tangent of ``x``: same kind and shape, named with a dot.

    Parameters
    ----------
    x : Symbol, MatrixSymbol or Matrix of Symbols

    Returns
    -------
    Symbol, MatrixSymbol or ImmutableMatrix
        ``xdot`` (LaTeX ``\\dot{x}``); for a matrix of symbols, the matrix of their tangents.

    Examples
    --------
    >>> import sympy as sp
    >>> dot(sp.Symbol("x")), sp.latex(dot(sp.MatrixSymbol("A", 2, 2)))
    (xdot, '\\\\dot{A}')
    """
    return _renamed(x, "dot")


def bar(x: Variable) -> Variable:
    """Cotangent (adjoint) of ``x``: same kind and shape, named with a bar.

    Examples
    --------
    >>> import sympy as sp
    >>> bar(sp.Symbol("y")), sp.latex(bar(sp.MatrixSymbol("Y", 2, 2)))
    (ybar, '\\\\bar{Y}')
    """
    return _renamed(x, "bar")


class _NotationPrinter(LatexPrinter):
    """LaTeX in the book's notation: ``A^{-T}`` and ``\\det``."""

    def _print_Inverse(self, expr):
        arg, power = expr.arg, "-1"
        if isinstance(arg, sp.Transpose):
            arg, power = arg.arg, "-T"
        base = self._print(arg)
        if not isinstance(arg, (sp.Symbol, sp.MatrixSymbol)):
            base = rf"\left({base}\right)"
        return f"{base}^{{{power}}}"

    def _print_Determinant(self, expr):
        return rf"\det\left({self._print(expr.arg)}\right)"


class _TextPrinter(StrPrinter):
    """SymPy's plain-text form, with ε for the perturbation parameter."""

    def _print_Symbol(self, expr):
        return "ε" if expr == EPS else super()._print_Symbol(expr)


def _text(expr: Any) -> str:
    return _TextPrinter().doprint(expr)


def latex(expr: Any) -> str:
    """LaTeX of a SymPy expression in the book's notation (``A^{-T}``, ``\\det``).

    Examples
    --------
    >>> import sympy as sp
    >>> A = sp.MatrixSymbol("A", 3, 3)
    >>> latex(A.T.inverse())
    'A^{-T}'
    """
    return _NotationPrinter().doprint(expr)


def _is_matrix(e: Any) -> bool:
    return bool(getattr(e, "is_Matrix", False))


def _shape_kind(shape) -> str:
    r, c = shape
    if r == 1 and c == 1:
        return "scalar"
    return "col" if c == 1 else "row" if r == 1 else "mat"


def _output_symbol(y: Any, taken: set, name: str | None) -> Variable:
    """A symbol standing for the output ``y`` (scalar, matrix symbol or explicit matrix)."""
    shape = getattr(y, "shape", None)
    upper = shape is not None and _shape_kind(shape) == "mat"
    if name is None:
        for cand in ("Y", "Z", "U", "V") if upper else ("y", "z", "u", "v"):
            if cand not in taken:
                name = cand
                break
        else:  # pragma: no cover - only with very unusual input names
            name = "out"
    return _named_like(y, name)


def _named_like(y: Any, name: str) -> Variable:
    """A scalar symbol, matrix symbol or explicit matrix of symbols shaped like ``y``."""
    shape = getattr(y, "shape", None)
    if shape is None or shape == (1, 1):
        return sp.Symbol(name)
    if isinstance(y, sp.MatrixBase):
        r, c = shape
        return sp.ImmutableMatrix(r, c, lambda i, j: sp.Symbol(
            f"{name}_{i}" if c == 1 else f"{name}_{j}" if r == 1 else f"{name}_{i}{j}"))
    return sp.MatrixSymbol(name, *shape)


def _names(vs: Sequence[Any]) -> set:
    out = set()
    for v in vs:
        out |= {s.name for s in sp.sympify(v).atoms(sp.Symbol, sp.MatrixSymbol)
                if hasattr(s, "name")}
    return out


def _as_inputs(inputs: Any) -> tuple:
    if isinstance(inputs, (sp.Basic, sp.MatrixBase)):
        inputs = (inputs,)
    out = []
    for x in inputs:
        if isinstance(x, sp.MatrixBase):
            x = sp.ImmutableMatrix(x)
            if not all(isinstance(e, sp.Symbol) for e in x):
                raise TypeError("adlib.symbolic: an explicit matrix input must hold only "
                                f"symbols, got {x}; build it e.g. with "
                                "sp.Matrix(2, 2, sp.symbols('a:4')).")
        elif not isinstance(x, (sp.Symbol, sp.MatrixSymbol)):
            raise TypeError(f"adlib.symbolic: input {x!r} is a {type(x).__name__}; inputs must be "
                            "sympy Symbols, MatrixSymbols or Matrices of Symbols.")
        out.append(x)
    return tuple(out)


def _perturbation(xs: Sequence[Variable], dxs: Sequence[Variable]) -> dict:
    sub = {}
    for x, dx in zip(xs, dxs):
        if isinstance(x, sp.MatrixBase):
            sub.update({e: e + EPS * de for e, de in zip(x, dx)})
        else:
            sub[x] = x + EPS * dx
    return sub


def _apply(f: Any, inputs: Sequence[Variable], sub: Mapping | None = None) -> Any:
    """Evaluate ``f`` (an expression or a callable) at the inputs, optionally perturbed."""
    if callable(f) and not isinstance(f, (sp.Basic, sp.MatrixBase)):
        if sub is None:
            return sp.sympify(f(*inputs))
        return sp.sympify(f(*[x.xreplace(sub) for x in inputs]))
    f = sp.sympify(f)
    if isinstance(f, sp.MatrixBase):
        f = sp.ImmutableMatrix(f)
    return f if sub is None else f.xreplace(sub)


def _zero_like(e: Any) -> Any:
    if isinstance(e, sp.MatrixBase):
        return sp.zeros(*e.shape).as_immutable()
    return sp.ZeroMatrix(*e.shape) if _is_matrix(e) else sp.S.Zero


# ---- first-order expansion in ε ----------------------------------------------------------

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


def _split(expr: Any) -> tuple:
    """Return ``(e0, e1)`` with ``expr = e0 + ε·e1 + O(ε²)``; ``e1`` is None when zero."""
    if isinstance(expr, sp.MatrixBase):
        pairs = [_split(e) for e in expr]
        e0 = sp.ImmutableMatrix(*expr.shape, [p[0] for p in pairs])
        if all(p[1] is None for p in pairs):
            return e0, None
        return e0, sp.ImmutableMatrix(*expr.shape, [p[1] if p[1] is not None else 0 for p in pairs])
    if not expr.has(EPS):
        return expr, None
    if expr == EPS:
        return sp.S.Zero, sp.S.One
    if isinstance(expr, (sp.Add, sp.MatAdd)):
        parts = [_split(a) for a in expr.args]
        return _sum([p[0] for p in parts]), _sum([p[1] for p in parts])
    if isinstance(expr, (sp.Mul, sp.MatMul)):
        return _product([_split(a) for a in expr.args])
    if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp > 0:
        return _product([_split(expr.base)] * int(expr.exp))
    if isinstance(expr, sp.Transpose):
        a0, a1 = _split(expr.arg)
        return a0.T, (a1.T if a1 is not None else None)
    if isinstance(expr, sp.Inverse):
        # Neumann series: (X + εẊ)⁻¹ = X⁻¹ − ε X⁻¹ Ẋ X⁻¹ + O(ε²)
        a0, a1 = _split(expr.arg)
        return a0.I, (-a0.I * a1 * a0.I if a1 is not None else None)
    if isinstance(expr, sp.Determinant):
        # det(X + εẊ) = det(X) (1 + ε tr(X⁻¹ Ẋ)) + O(ε²)
        a0, a1 = _split(expr.arg)
        d0 = sp.Determinant(a0)
        return d0, (d0 * sp.Trace(a0.I * a1) if a1 is not None else None)
    if isinstance(expr, sp.Trace):
        a0, a1 = _split(expr.arg)
        return sp.Trace(a0), (sp.Trace(a1) if a1 is not None else None)
    if isinstance(expr, MatrixElement):
        a0, a1 = _split(expr.parent)
        return a0[expr.i, expr.j], (a1[expr.i, expr.j] if a1 is not None else None)
    if isinstance(expr, sp.Pow) and not expr.exp.has(EPS):
        b0, b1 = _split(expr.base)
        return b0 ** expr.exp, (expr.exp * b0 ** (expr.exp - 1) * b1 if b1 is not None else None)
    if not _is_matrix(expr) and not any(_is_matrix(a) for a in expr.args):
        # any other scalar node g(u, v, ...): g(u0, ...) + ε Σ ∂g/∂uᵢ(u0, ...) uᵢ1
        parts = [_split(a) for a in expr.args]
        dummies = [sp.Dummy() for _ in parts]
        g = expr.func(*dummies)
        at0 = dict(zip(dummies, [p[0] for p in parts]))
        e1 = _sum([g.diff(d).xreplace(at0) * p[1]
                   for d, p in zip(dummies, parts) if p[1] is not None])
        return expr.func(*[p[0] for p in parts]), e1
    raise NotImplementedError(
        f"adlib.symbolic: no first-order expansion for {type(expr).__name__} node {expr}; "
        "rewrite it with sums, products, transposes, inverses, traces and determinants, "
        "or use explicit sp.Matrix inputs.")


def _first_order(perturbed: Any) -> tuple:
    e0, e1 = _split(perturbed)
    return e0, (e1 if e1 is not None else _zero_like(perturbed))


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
            scalars, mats = term.as_coeff_matrices() if isinstance(term, sp.MatMul) else (1, [term])
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


# ---- derivation objects --------------------------------------------------------------------

class _Tex(NamedTuple):
    latex: str
    text: str


class _Step(NamedTuple):
    lhs: _Tex
    rhs: _Tex
    note: Any  # plain text, or a _Tex when it contains math


def _note_tex(note: Any) -> str:
    return note.latex if isinstance(note, _Tex) else rf"\text{{{note}}}"


def _note_text(note: Any) -> str:
    return note.text if isinstance(note, _Tex) else note


def _t(obj: Any) -> _Tex:
    if isinstance(obj, _Tex):
        return obj
    if isinstance(obj, sp.MatrixBase):  # one line of text, not SymPy's multi-line form
        return _Tex(latex(obj), f"Matrix({_text(obj.tolist())})")
    return _Tex(latex(obj), _text(obj))


def _parens(obj: Any) -> _Tex:
    t = _t(obj)
    return _Tex(rf"\left({t.latex}\right)", f"({t.text})")


def _cat(*parts: Any) -> _Tex:
    ts = [_t(p) for p in parts]
    return _Tex(" ".join(t.latex for t in ts), "".join(t.text for t in ts))


def _angle(a: Any, b: Any) -> _Tex:
    """``⟨a, b⟩`` for matrices, ``(a) b`` for scalars."""
    ta, tb = _t(a), _t(b)
    if not _is_matrix(b):
        ta = ta if a.is_Atom else _parens(ta)
        return _cat(ta, _Tex(r"\,", "*"), _parens(tb) if isinstance(b, sp.Add) else tb)
    return _Tex(rf"\left\langle {ta.latex}, {tb.latex} \right\rangle", f"<{ta.text}, {tb.text}>")


def _plus(items: list) -> _Tex:
    ts = [_t(i) for i in items]
    return _Tex(" + ".join(t.latex for t in ts), " + ".join(t.text for t in ts))


def _order_form(e0: Any, e1: Any) -> _Tex:
    """``e0 + ε (e1) + O(ε²)``."""
    return _cat(e0, _Tex(r"+ \varepsilon", " + ε*"), _parens(e1),
                _Tex(r"+ O\left(\varepsilon^{2}\right)", " + O(ε**2)"))


def _leading_minus(e: Any) -> bool:
    if isinstance(e, sp.MatrixBase):
        return False
    if isinstance(e, sp.MatAdd):
        return all(_leading_minus(t) for t in e.args)
    if isinstance(e, sp.MatMul):
        return bool(e.as_coeff_mmul()[0].could_extract_minus_sign())
    return bool(getattr(e, "could_extract_minus_sign", lambda: False)())


def _equation(lhs: Any, rhs: Any) -> tuple:
    """Normalise ``lhs = rhs`` so that the left side does not start with a minus sign."""
    return (-lhs, -rhs) if _leading_minus(lhs) else (lhs, rhs)


@dataclasses.dataclass(repr=False)
class Derivation:
    """A derivation: a title and its steps (left side, right side, explanation).

    Rendered as an ``aligned`` LaTeX block in notebooks (``_repr_latex_``) and as plain
    text by ``repr``. The concrete derivations below add the result as attributes.
    """

    #: One line saying what is derived.
    title: str
    #: The steps, each a left side, a right side and an explanation.
    steps: tuple

    def _repr_latex_(self) -> str:
        rows = [rf"{s.lhs.latex} &= {s.rhs.latex} && {_note_tex(s.note)}" for s in self.steps]
        return r"$$\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"

    def __repr__(self) -> str:
        width = max(len(_note_text(s.note)) for s in self.steps)
        lines = [f"{self.title}:"]
        for s in self.steps:
            eq = f"{s.lhs.text} = {s.rhs.text}" if s.lhs.text else f"  = {s.rhs.text}"
            lines.append(f"  {_note_text(s.note):<{width}} | {eq}")
        return "\n".join(lines)


@dataclasses.dataclass(repr=False)
class Pushforward(Derivation):
    """Result of :func:`pushforward`: ``ẏ`` as a linear function of the input tangents."""

    #: The inputs ``x``.
    inputs: tuple = ()
    #: Their tangents ``ẋ``, in the same order.
    tangents: tuple = ()
    #: The function value ``y = f(x)``.
    output: Any = None
    #: The name ``y`` used in the steps.
    output_symbol: Any = None
    #: The output tangent ``ẏ``, in terms of the inputs and tangents.
    tangent_out: Any = None

    @property
    def result(self) -> Any:
        """``ẏ`` (same as ``tangent_out``)."""
        return self.tangent_out

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Compare ``tangent_out`` with SymPy's Jacobian; see :func:`verify_pushforward`."""
        return verify_pushforward(self.output, self.inputs, self.tangent_out,
                                  sizes=sizes, seed=seed)


@dataclasses.dataclass(repr=False)
class Pullback(Derivation):
    """Result of :func:`pullback`: one cotangent ``x̄`` per input, linear in ``ȳ``."""

    #: The inputs ``x``.
    inputs: tuple = ()
    #: The function value ``y = f(x)``.
    output: Any = None
    #: The output cotangent ``ȳ``.
    cotangent_out: Any = None
    #: The cotangents ``{x: x̄}`` in input order (explicit matrix inputs are keys as
    #: ``sp.ImmutableMatrix``).
    cotangents: dict = dataclasses.field(default_factory=dict)
    #: The :class:`Pushforward` that was transposed.
    pushforward: Any = None

    @property
    def result(self) -> dict:
        """``{x: x̄}`` (same as ``cotangents``)."""
        return self.cotangents

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Compare the cotangents with SymPy's Jacobian; see :func:`verify_pullback`."""
        return verify_pullback(self.output, self.inputs, self.cotangents,
                               cotangent_out=self.cotangent_out, sizes=sizes, seed=seed)


# ---- pushforward and pullback --------------------------------------------------------------

def pushforward(f: Any, inputs: Any, *, output: str | None = None) -> Pushforward:
    """Derive the pushforward (JVP) of ``y = f(x)`` by perturbation.

    Each input ``x`` is replaced by ``x + ε ẋ``; the result is expanded to first order in
    ``ε`` and the coefficient of ``ε`` is ``ẏ``.

    Parameters
    ----------
    f : expression or callable
        A SymPy expression in the inputs, or a function taking the inputs and returning one.
    inputs : Symbol, MatrixSymbol, Matrix of Symbols, or a sequence of them
        The variables to perturb (others stay constant).
    output : str, optional
        Name of the output in the displayed steps (default ``y``, or ``Y`` for a matrix).

    Returns
    -------
    Pushforward
        The steps and ``tangent_out`` (``ẏ``).

    Examples
    --------
    >>> import sympy as sp
    >>> A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    >>> pushforward(A * x, [A, x]).tangent_out
    A*xdot + Adot*x
    >>> X = sp.MatrixSymbol("X", 3, 3)
    >>> pushforward(X.inverse(), X).tangent_out
    -X**(-1)*Xdot*X**(-1)
    >>> x, y = sp.symbols("x y")
    >>> pushforward(y * sp.sin(x), [x, y]).tangent_out
    xdot*y*cos(x) + ydot*sin(x)
    """
    inputs = _as_inputs(inputs)
    tangents = tuple(dot(x) for x in inputs)
    y = _apply(f, inputs)
    perturbed = _apply(f, inputs, _perturbation(inputs, tangents))
    e0, e1 = _first_order(perturbed)
    ys = _output_symbol(y, _names(inputs + (y,)), output)
    yd = dot(ys)
    lhs = _cat(ys, _Tex(r"+ \varepsilon", " + ε*"), yd)
    steps = (
        _Step(_t(ys), _t(y), "the function"),
        _Step(lhs, _t(perturbed), "perturb the inputs"),
        _Step(_Tex("", ""), _order_form(e0, e1), "expand to first order"),
        _Step(_cat(_Tex(r"\varepsilon", "ε*"), yd),
              _cat(_Tex(r"\varepsilon", "ε*"), _parens(e1),
                   _Tex(r"+ O\left(\varepsilon^{2}\right)", " + O(ε**2)")),
              _Tex(rf"\text{{cancel }} {_t(ys).latex} = f(x)", f"cancel {_t(ys).text} = f(x)")),
        _Step(_t(yd), _t(e1), _Tex(r"\text{divide by } \varepsilon \text{, let } \varepsilon \to 0",
                                   "divide by ε, let ε -> 0")),
    )
    title = f"Pushforward of {_t(ys).text} = {_t(y).text}"
    return Pushforward(title, steps, inputs, tangents, y, ys, e1)


def pullback(pf: Pushforward | Any, inputs: Any = None, *, output: str | None = None) -> Pullback:
    """Derive the pullback (VJP) by transposing a pushforward: ``⟨ȳ, ẏ⟩ = Σ ⟨x̄ᵢ, ẋᵢ⟩``.

    Parameters
    ----------
    pf : Pushforward, expression or callable
        A derived pushforward, or a function ``f`` (then ``inputs`` is required and the
        pushforward is derived first).
    inputs : optional
        Inputs of ``f`` when ``pf`` is not a :class:`Pushforward`.
    output : str, optional
        Name of the output (see :func:`pushforward`).

    Returns
    -------
    Pullback
        The steps and ``cotangents`` (``{x: x̄}``), each linear in ``cotangent_out`` (``ȳ``).

    Examples
    --------
    >>> import sympy as sp
    >>> A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    >>> pb = pullback(A * x, [A, x])
    >>> pb.cotangents[A], pb.cotangents[x]
    (ybar*x.T, A.T*ybar)
    >>> X = sp.MatrixSymbol("X", 3, 3)
    >>> pullback(sp.log(sp.Determinant(X)), X).cotangents[X]
    ybar*X.T**(-1)
    """
    if not isinstance(pf, Pushforward):
        if inputs is None:
            raise TypeError("adlib.symbolic.pullback: pass a Pushforward, or a function and "
                            "its inputs.")
        pf = pushforward(pf, inputs, output=output)
    ys, yd = pf.output_symbol, dot(pf.output_symbol)
    yb = bar(ys)
    ip = inner(yb, pf.tangent_out)
    cot = {x: _gradient(ip, xd) for x, xd in zip(pf.inputs, pf.tangents)}
    for x, g in cot.items():
        if any(sp.sympify(g).has(t) for t in _leaves(pf.tangents)):
            raise ValueError(f"adlib.symbolic.pullback: the cotangent of {x} still contains a "
                             "tangent; the pushforward is not linear in the tangents.")
    steps = (
        _Step(_angle(yb, yd), _t(ip), "inner product with the pushforward"),
        _Step(_Tex("", ""), _plus([_angle(g, xd) for g, xd in zip(cot.values(), pf.tangents)]),
              "move everything onto the tangents"),
    ) + tuple(_Step(_t(bar(x)), _t(g), "read off the cotangent") for x, g in cot.items())
    title = f"Pullback of {_t(ys).text} = {_t(pf.output).text}"
    return Pullback(title, steps, pf.inputs, pf.output, yb, cot, pf)


def _leaves(vs: Sequence[Any]) -> list:
    out = []
    for v in vs:
        out.extend(list(v) if isinstance(v, sp.MatrixBase) else [v])
    return out


# ---- implicit functions --------------------------------------------------------------------

def _residual(F: Any) -> Any:
    if isinstance(F, sp.Equality):
        return F.lhs - F.rhs
    F = sp.sympify(F)
    return sp.ImmutableMatrix(F) if isinstance(F, sp.MatrixBase) else F


def _split_by(expr: Any, v: Variable, others: Sequence[Variable]) -> tuple:
    """Split a linear expression into (terms with ``v``, the rest)."""
    if isinstance(expr, sp.MatrixBase) or not _is_matrix(expr):
        zero_v = {e: 0 for e in _leaves([v])}
        zero_o = {e: 0 for e in _leaves(others)}
        return sp.expand(expr.xreplace(zero_o)), sp.expand(expr.xreplace(zero_v))
    terms = sp.MatAdd.make_args(expr.expand())
    with_v = _sum([t for t in terms if t.has(v)])
    rest = _sum([t for t in terms if not t.has(v)])
    zero = sp.ZeroMatrix(*expr.shape)
    return (zero if with_v is None else with_v), (zero if rest is None else rest)


#: Explicit linear systems for a tangent or multiplier are solved in closed form up to this
#: many unknowns (the closed form grows quickly with the size).
_MAX_CLOSED_FORM = 4


def _solve_linear(op: Any, rhs: Any, v: Variable) -> Any:
    """Solve ``op(v) = rhs`` for ``v``; None when no closed form is found."""
    if isinstance(v, sp.MatrixBase):
        # a linear system M v = r: Cramer's rule (adjugate over determinant) is quick and
        # compact for a few unknowns; larger systems stay an equation
        try:
            M, r = sp.linear_eq_to_matrix(list(sp.Matrix(op) - sp.Matrix(rhs)), list(v))
        except ValueError:  # not linear in v
            return None
        if M.rows != M.cols or M.rows > _MAX_CLOSED_FORM:
            return None
        det = sp.factor(M.det(method="berkowitz"))
        if det == 0:
            return None
        num = M.adjugate(method="berkowitz") * r
        return sp.ImmutableMatrix(*v.shape, [sp.expand(e) / det for e in num])
    if not _is_matrix(v):
        sol = sp.solve(sp.Eq(op, rhs), v)
        return sol[0] if len(sol) == 1 else None
    if isinstance(op, sp.MatAdd):
        return None
    c, m = op.as_coeff_mmul()
    factors = list(m.args) if isinstance(m, sp.MatMul) else [m]
    if factors == [v]:
        return rhs / c
    if factors[-1] == v and not any(a.has(v) for a in factors[:-1]):
        return reduce(lambda a, b: a * b, factors[:-1]).I * rhs / c
    if factors[0] == v and not any(a.has(v) for a in factors[1:]):
        return rhs * reduce(lambda a, b: a * b, factors[1:]).I / c
    return None


def _multiplier(F: Any, name: str | None) -> Variable:
    upper = _is_matrix(F) and _shape_kind(F.shape) == "mat"
    return _named_like(F, name or ("W" if upper else "w"))


@dataclasses.dataclass(repr=False)
class ImplicitPushforward(Derivation):
    """Result of :func:`implicit_pushforward` for ``F(x, y) = 0``."""

    #: The residual ``F(x, y)``.
    residual: Any = None
    #: The independent variables ``x``.
    inputs: tuple = ()
    #: Their tangents ``ẋ``.
    tangents: tuple = ()
    #: The implicitly defined ``y``.
    output: Any = None
    #: The first-order terms with ``ẏ``, i.e. ``∂ᵧF ẏ``.
    operator: Any = None
    #: The other first-order terms, i.e. ``∂ₓF ẋ``.
    source: Any = None
    #: The solution ``ẏ`` when the linear equation has a closed form, else None.
    tangent_out: Any = None

    @property
    def equation(self) -> sp.Eq:
        """The linear equation ``∂ᵧF ẏ = −∂ₓF ẋ`` that defines ``ẏ``."""
        lhs, rhs = _equation(self.operator, -self.source)
        return sp.Eq(lhs, rhs, evaluate=False)

    @property
    def result(self) -> sp.Eq:
        """The linear equation for ``ẏ`` (same as ``equation``)."""
        return self.equation

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Check ``operator + source = ∂ᵧF ẏ + ∂ₓF ẋ`` (and ``tangent_out``, if any) against
        SymPy's Jacobians of ``F`` on explicit matrices at random rational points."""
        return _verify_implicit(self, sizes, seed)


@dataclasses.dataclass(repr=False)
class ImplicitPullback(Derivation):
    """Result of :func:`implicit_pullback`: the adjoint equation and the cotangents."""

    #: The residual ``F(x, y)``.
    residual: Any = None
    #: The independent variables ``x``.
    inputs: tuple = ()
    #: The implicitly defined ``y``.
    output: Any = None
    #: The multiplier ``w``, shaped like ``F``.
    multiplier: Any = None
    #: The output cotangent ``ȳ``.
    cotangent_out: Any = None
    #: The left side of the adjoint equation, ``∂ᵧFᵀ w``.
    adjoint_operator: Any = None
    #: The cotangents ``{x: ∂ₓFᵀ w}``, in terms of the multiplier.
    cotangents: dict = dataclasses.field(default_factory=dict)
    #: The multiplier ``w`` in terms of ``ȳ`` when the adjoint equation has a closed form,
    #: else None.
    multiplier_solution: Any = None

    @property
    def adjoint_equation(self) -> sp.Eq:
        """The adjoint equation ``∂ᵧFᵀ w = −ȳ`` (sign-normalised)."""
        lhs, rhs = _equation(self.adjoint_operator, -self.cotangent_out)
        return sp.Eq(lhs, rhs, evaluate=False)

    @property
    def result(self) -> dict:
        """``{x: x̄}`` in terms of the multiplier (same as ``cotangents``)."""
        return self.cotangents

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Check the adjoint operator, the cotangents (and ``multiplier_solution``) against
        the transposed SymPy Jacobians of ``F`` on explicit matrices."""
        return _verify_implicit(self, sizes, seed)


def implicit_pushforward(residual: Any, inputs: Any, output: Variable) -> ImplicitPushforward:
    """Linearize ``F(x, y) = 0`` (``y`` implicitly a function of ``x``): the equation for ``ẏ``.

    Perturbing both ``x`` and ``y`` and keeping first-order terms gives
    ``∂ᵧF ẏ + ∂ₓF ẋ = 0``. For scalars it is solved for ``ẏ``; for explicit matrices it is
    solved as a linear system (Cramer's rule) when ``ẏ`` has at most four entries; for
    matrix symbols it is solved when ``ẏ`` appears once, multiplied from one side
    (``A ẏ`` or ``ẏ A``); otherwise (e.g. a Lyapunov equation) it stays an equation.

    Parameters
    ----------
    residual : expression or sympy.Eq
        ``F(x, y)`` (meaning ``F = 0``) or an equation ``lhs = rhs``.
    inputs : Variable or sequence of them
        The independent variables ``x``.
    output : Variable
        The dependent variable ``y`` (stack several unknowns into one explicit matrix).

    Returns
    -------
    ImplicitPushforward

    Examples
    --------
    >>> import sympy as sp
    >>> A, P, Q = (sp.MatrixSymbol(s, 3, 3) for s in "APQ")
    >>> ipf = implicit_pushforward(A * P + P * A.T + Q, [A, Q], P)
    >>> ipf.equation
    Eq(A*Pdot + Pdot*A.T, -Adot*P - P*Adot.T - Qdot)
    >>> ipf.tangent_out is None
    True
    >>> b, x = sp.MatrixSymbol("b", 3, 1), sp.MatrixSymbol("x", 3, 1)
    >>> implicit_pushforward(sp.Eq(A * x, b), [A, b], x).tangent_out
    A**(-1)*(-Adot*x + bdot)
    """
    F = _residual(residual)
    inputs = _as_inputs(inputs)
    (output,) = _as_inputs(output)
    tangents = tuple(dot(x) for x in inputs)
    yd = dot(output)
    perturbed = F.xreplace(_perturbation(inputs + (output,), tangents + (yd,)))
    F0, F1 = _first_order(perturbed)
    op, src = _split_by(F1, yd, tangents)
    lhs, rhs = _equation(op, -src)
    sol = _solve_linear(lhs, rhs, yd)
    zero = _Tex("0", "0")
    steps = (
        _Step(_t(F), zero, _Tex(rf"\text{{defines }} {_t(output).latex} \text{{ implicitly}}",
                                f"defines {_t(output).text} implicitly")),
        _Step(_t(perturbed), zero, "perturb inputs and output"),
        _Step(_order_form(F0, F1), zero, "expand to first order"),
        _Step(_cat(op, _Tex("+", " + "), _parens(src)), zero,
              _Tex(r"\text{cancel } F = 0 \text{, keep first order}",
                   "cancel F = 0, keep first order")),
        _Step(_t(lhs), _t(rhs), "linear equation for the tangent"),
    )
    if sol is not None:
        steps += (_Step(_t(yd), _t(sol), "solve"),)
    title = f"Implicit pushforward of {_t(F).text} = 0 for {_t(output).text}"
    return ImplicitPushforward(title, steps, F, inputs, tangents, output, op, src, sol)


def implicit_pullback(residual: ImplicitPushforward | Any, inputs: Any = None,
                      output: Variable | None = None, *, multiplier: str | None = None
                      ) -> ImplicitPullback:
    """Adjoint of an implicit function ``F(x, y) = 0``: solve for ``w``, then contract.

    From ``∂ᵧF ẏ + ∂ₓF ẋ = 0``, take ``⟨w, ·⟩`` and move the operators onto the tangents:
    ``⟨∂ᵧFᵀ w, ẏ⟩ + ⟨∂ₓFᵀ w, ẋ⟩ = 0``. Choosing ``w`` with ``∂ᵧFᵀ w = −ȳ`` (the adjoint
    equation) gives ``⟨ȳ, ẏ⟩ = ⟨∂ₓFᵀ w, ẋ⟩``, so ``x̄ = ∂ₓFᵀ w``: one extra solve, whatever
    the number of inputs.

    Parameters
    ----------
    residual : ImplicitPushforward, expression or sympy.Eq
        A derived implicit pushforward, or ``F`` (then ``inputs`` and ``output`` are required).
    inputs, output : optional
        As in :func:`implicit_pushforward`.
    multiplier : str, optional
        Name of the multiplier (default ``w``, or ``W`` for a matrix).

    Returns
    -------
    ImplicitPullback

    Examples
    --------
    >>> import sympy as sp
    >>> A, P, Q = (sp.MatrixSymbol(s, 3, 3) for s in "APQ")
    >>> ipb = implicit_pullback(A * P + P * A.T + Q, [A, Q], P)
    >>> ipb.adjoint_equation
    Eq(W*A + A.T*W, -Pbar)
    >>> ipb.cotangents[A], ipb.cotangents[Q]
    (W*P.T + W.T*P, W)
    """
    if not isinstance(residual, ImplicitPushforward):
        if inputs is None or output is None:
            raise TypeError("adlib.symbolic.implicit_pullback: pass an ImplicitPushforward, "
                            "or the residual with its inputs and output.")
        residual = implicit_pushforward(residual, inputs, output)
    ipf = residual
    y, yd = ipf.output, dot(ipf.output)
    yb = bar(y)
    w = _multiplier(ipf.residual, multiplier)
    adj = _gradient(inner(w, ipf.operator), yd)
    cot = {x: _gradient(inner(w, ipf.source), xd) for x, xd in zip(ipf.inputs, ipf.tangents)}
    lhs, rhs = _equation(adj, -yb)
    wsol = _solve_linear(lhs, rhs, w)
    zero = _Tex("0", "0")
    pairs = [_angle(adj, yd)] + [_angle(g, xd) for g, xd in zip(cot.values(), ipf.tangents)]
    steps = (
        _Step(_cat(ipf.operator, _Tex("+", " + "), _parens(ipf.source)), zero,
              "linearized residual"),
        _Step(_plus([_angle(w, ipf.operator), _angle(w, ipf.source)]), zero,
              "inner product with a multiplier"),
        _Step(_plus(pairs), zero, "move the operators onto the tangents"),
        _Step(_t(lhs), _t(rhs), "choose the multiplier: adjoint equation"),
        _Step(_angle(yb, yd), _plus(pairs[1:]), "then"),
    ) + tuple(_Step(_t(bar(x)), _t(g), "read off the cotangent") for x, g in cot.items())
    if wsol is not None:
        steps += (_Step(_t(w), _t(wsol), "solve the adjoint equation"),)
    title = f"Implicit pullback of {_t(ipf.residual).text} = 0 for {_t(y).text}"
    return ImplicitPullback(title, steps, ipf.residual, ipf.inputs, y, w, yb, adj, cot, wsol)


# ---- verification against SymPy's Jacobian ---------------------------------------------------

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
            raise ValueError(f"adlib.symbolic: sizes {s} gives no value for the dimension(s) "
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
            raise RuntimeError("adlib.symbolic: could not find a regular random point to check at.")
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
        cot = [cotangents[x] for x in inputs]
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


def _verify_implicit(d: ImplicitPushforward | ImplicitPullback, sizes: Sequence, seed: int) -> bool:
    inputs, y = d.inputs, d.output
    ins = inputs + (y,)

    def rule(pt: _Point, J: sp.Matrix, merge: Callable) -> bool | None:
        nxs = [len(_flat(pt.substitute(x))) for x in inputs]
        Jx, Jy = J[:, :sum(nxs)], J[:, sum(nxs):]
        if isinstance(d, ImplicitPushforward):
            xdot = sp.Matrix([v for x in inputs for v in _flat(pt.substitute(dot(x)))])
            ydot = sp.Matrix(_flat(pt.substitute(dot(y))))
            ok = _same(_flat(pt.substitute(d.operator + d.source)), list(Jy * ydot + Jx * xdot))
            if ok and d.tangent_out is not None:
                sol = pt.substitute(d.tangent_out)
                if _bad(sol):
                    return None
                ok = _same(list(Jy * sp.Matrix(_flat(sol)) + Jx * xdot), [0] * Jy.rows)
            return ok
        w = sp.Matrix(_flat(pt.substitute(d.multiplier)))
        ok = _same(_flat(pt.substitute(d.adjoint_operator)), list(Jy.T * w))
        # merged: a symbol repeated in an explicit input counts once in <xbar, xdot>
        claimed = [v for x in inputs for v in _flat(pt.substitute(d.cotangents[x]))]
        ok = ok and len(claimed) == Jx.cols and _same(merge(claimed), merge(list(Jx.T * w)))
        if ok and d.multiplier_solution is not None:
            sol = pt.substitute(d.multiplier_solution)
            if _bad(sol):
                return None
            ybar = sp.Matrix(_flat(pt.substitute(d.cotangent_out)))
            ok = _same(list(Jy.T * sp.Matrix(_flat(sol))), list(-ybar))
        return ok

    leaves = [d.residual] + list(ins)
    return _jacobian_check(d.residual, ins, rule, sizes, seed, leaves)


# ---- code generation -----------------------------------------------------------------------

def _parenthesize(code: str) -> str:
    """Wrap code in parentheses unless it is a name, an attribute or a call."""
    depth = 0
    for ch in code:
        depth += ch in "([" and 1 or (ch in ")]" and -1 or 0)
        if depth == 0 and ch in " +-*/@":
            return f"({code})"
    return code


def _identifier(name: str, used: set) -> str:
    ident = re.sub(r"\W", "_", name.replace("\\", "")) or "v"
    if ident[0].isdigit() or keyword.iskeyword(ident) or ident in {"anp", "numpy"}:
        ident = ident + "_"
    while ident in used:
        ident = ident + "_"
    used.add(ident)
    return ident


def _anp():
    import adlib.numpy as anp  # imported lazily: the generated code calls adlib.numpy
    return anp


class _CodePrinter(NumPyPrinter):
    """Print SymPy expressions as ``adlib.numpy`` code; ``n×1`` and ``1×n`` matrices are
    1-D arrays, ``1×1`` matrices are scalars, ``X⁻¹ B`` becomes ``solve(X, B)``."""

    def __init__(self, names: Mapping):
        super().__init__({"fully_qualified_modules": True, "strict": True})
        self._names = dict(names)

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("numpy."):
            obj = _anp()
            try:
                for part in fqn[len("numpy."):].split("."):
                    obj = getattr(obj, part)
                return "anp." + fqn[len("numpy."):]
            except AttributeError:
                return fqn
        return fqn

    def _print_Symbol(self, expr):
        if expr not in self._names:
            raise ValueError(f"adlib.symbolic.to_function: {expr} is not an argument; "
                             "add it to `args`.")
        return self._names[expr]

    _print_MatrixSymbol = _print_Symbol

    def _wrap(self, expr) -> str:
        return _parenthesize(self._print(expr))

    def _print_MatAdd(self, expr):
        return " + ".join(self._print(t) for t in expr.args).replace("+ -", "- ")

    def _print_Transpose(self, expr):
        kind = _shape_kind(expr.arg.shape)
        return self._print(expr.arg) if kind != "mat" else f"{self._wrap(expr.arg)}.T"

    def _print_Inverse(self, expr):
        return f"{self._module_format('numpy.linalg.inv')}({self._print(expr.arg)})"

    def _print_Trace(self, expr):
        if _shape_kind(expr.arg.shape) == "scalar":
            return self._print(expr.arg)
        return f"{self._module_format('numpy.trace')}({self._print(expr.arg)})"

    def _print_Determinant(self, expr):
        return f"{self._module_format('numpy.linalg.det')}({self._print(expr.arg)})"

    def _print_log(self, expr):
        arg = expr.args[0]
        if isinstance(arg, sp.Determinant):
            return f"{self._module_format('numpy.linalg.slogdet')}({self._print(arg.arg)})[1]"
        return f"{self._module_format('numpy.log')}({self._print(arg)})"

    def _product(self, factors: list) -> str:
        """Print a matrix product right to left, turning ``X⁻¹ B`` into a solve."""
        head = factors[0]
        if len(factors) == 1:
            return self._print(head)
        rest = factors[1:]
        rest_code = self._product(rest)
        rest_kind = _shape_kind((rest[0].shape[0], rest[-1].shape[1]))
        inv = None
        if isinstance(head, sp.Inverse):
            inv = head.arg
        elif isinstance(head, sp.Transpose) and isinstance(head.arg, sp.Inverse):
            inv = head.arg.arg.T
        if inv is not None and _shape_kind(inv.shape) == "mat":
            return f"{self._module_format('numpy.linalg.solve')}({self._print(inv)}, {rest_code})"
        head_kind, head_code = _shape_kind(head.shape), self._wrap(head)
        if head_kind == "col" and rest_kind == "row":
            return f"{self._module_format('numpy.outer')}({head_code}, {rest_code})"
        op = "*" if "scalar" in (head_kind, rest_kind) else "@"
        return f"{head_code} {op} {_parenthesize(rest_code)}"

    def _print_MatMul(self, expr):
        coeff, mats = expr.as_coeff_mmul()
        factors = list(mats.args) if isinstance(mats, sp.MatMul) else [mats]
        scalars = [f for f in factors if not _is_matrix(f)]
        factors = [f for f in factors if _is_matrix(f)]
        code = self._product(factors)
        scalar = sp.Mul(coeff, *scalars)
        if scalar == 1:
            return code
        if scalar == -1:
            return f"-{_parenthesize(code)}"
        return f"{_parenthesize(self._print(scalar))} * {_parenthesize(code)}"


def to_function(expr: Any, args: Sequence[Variable], *, name: str = "f") -> Callable:
    """Turn a SymPy expression into a Python function that calls ``adlib.numpy``.

    The generated code is differentiable again by adlib. Matrix symbols of shape ``n×1``
    (and ``1×n``) take 1-D arrays, ``1×1`` results are scalars, products print as ``@``,
    ``xyᵀ`` of vectors as ``anp.outer``, ``X⁻¹B`` as ``anp.linalg.solve(X, B)``.

    Parameters
    ----------
    expr : expression
        A scalar expression or a matrix-symbol expression (explicit ``sp.Matrix``
        expressions are not supported: use matrix symbols).
    args : sequence of Symbol or MatrixSymbol
        The arguments, in order.
    name : str
        Name of the generated function.

    Returns
    -------
    callable
        The function; its source code is in the attribute ``source``.

    Examples
    --------
    >>> import sympy as sp
    >>> A, y = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("y", 3, 1)
    >>> print(to_function(A.T.inverse() * y, [A, y], name="g").source)
    def g(A, y):
        return anp.linalg.solve(A.T, y)
    """
    if isinstance(expr, sp.MatrixBase) or any(isinstance(a, sp.MatrixBase) for a in args):
        raise NotImplementedError("adlib.symbolic.to_function: explicit sp.Matrix expressions are "
                                  "not supported; derive the rule with MatrixSymbol inputs.")
    used: set = set()
    names = {a: _identifier(a.name, used) for a in args}
    body = _CodePrinter(names).doprint(sp.sympify(expr))
    fname = _identifier(name, set(used))
    source = f"def {fname}({', '.join(names.values())}):\n    return {body}"
    namespace = {"anp": _anp(), "numpy": np}
    exec(compile(source, f"<adlib.symbolic {fname}>", "exec"), namespace)
    fn = namespace[fname]
    fn.source = source
    return fn


def to_custom_jvp(pf: Pushforward, *, name: str = "f") -> Callable:
    """An ``adlib.custom_jvp`` function for ``y = f(x)`` whose JVP rule is the derived ``ẏ``.

    Both the primal and the rule are generated by :func:`to_function`, so the result can
    be differentiated again.

    Examples
    --------
    >>> import sympy as sp, numpy as np
    >>> x, y = sp.symbols("x y")
    >>> f = to_custom_jvp(pushforward(y * sp.sin(x), [x, y]), name="ysinx")
    >>> print(f.rule_source)
    def ysinx_jvp(x, y, xdot, ydot):
        return xdot*y*anp.cos(x) + ydot*anp.sin(x)
    """
    import adlib as ad

    primal = to_function(pf.output, pf.inputs, name=name)
    tangent = to_function(pf.tangent_out, pf.inputs + pf.tangents, name=f"{name}_jvp")
    fn = ad.custom_jvp(primal)

    def rule(primals, tangents):
        return primal(*primals), tangent(*primals, *tangents)

    rule.__name__ = f"{name}_jvp"
    fn.defjvp(rule)
    fn.source, fn.rule_source = primal.source, tangent.source
    return fn


def to_custom_vjp(pb: Pullback, *, name: str = "f") -> Callable:
    """An ``adlib.custom_vjp`` function for ``y = f(x)`` whose VJP returns the derived ``x̄``.

    The forward pass saves the inputs as residuals; the backward pass evaluates one
    generated function per cotangent.

    Examples
    --------
    >>> import sympy as sp
    >>> A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    >>> f = to_custom_vjp(pullback(A * x, [A, x]), name="matvec")
    >>> for src in f.rule_sources:
    ...     print(src)
    def matvec_bwd_0(A, x, ybar):
        return anp.outer(ybar, x)
    def matvec_bwd_1(A, x, ybar):
        return A.T @ ybar
    """
    import adlib as ad

    primal = to_function(pb.output, pb.inputs, name=name)
    backs = [to_function(g, pb.inputs + (pb.cotangent_out,), name=f"{name}_bwd_{i}")
             for i, g in enumerate(pb.cotangents.values())]
    fn = ad.custom_vjp(primal)

    def fwd(*args):
        return primal(*args), args

    def bwd(residuals, g):
        return tuple(b(*residuals, g) for b in backs)

    fwd.__name__, bwd.__name__ = f"{name}_fwd", f"{name}_bwd"
    fn.defvjp(fwd, bwd)
    fn.source, fn.rule_sources = primal.source, [b.source for b in backs]
    return fn


def check_numerically(derivation: Pushforward | Pullback, primals: Sequence, *,
                      seed: int = 0, name: str = "f") -> Any:
    """Generate the adlib rule for a derivation and test it with :mod:`adlib.testing`.

    A :class:`Pushforward` becomes a ``custom_jvp`` checked with
    ``adlib.testing.check_jvp`` (central finite differences); a :class:`Pullback` becomes a
    ``custom_vjp`` checked with ``adlib.testing.check_vjp`` (dot-product test with general
    random seeds, the left side by finite differences).

    Parameters
    ----------
    derivation : Pushforward or Pullback
    primals : sequence of float64 arrays or floats
        Where to check (vectors as 1-D arrays).
    seed : int
        Seed of the random directions.
    name : str
        Name of the generated function (shown in the result and in error messages).

    Returns
    -------
    adlib.testing.CheckResult
        Its ``repr`` reads ``check_jvp(f): passed`` (or ``check_vjp``); raises
        ``AssertionError`` with details when the rule is wrong.

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> check_numerically(pullback(y * sp.sin(x), [x, y]), (0.5, 2.0), name="ysinx")
    check_vjp(ysinx): passed
    """
    import adlib.testing as adt

    primals = tuple(primals)
    if isinstance(derivation, Pushforward):
        return adt.check_jvp(to_custom_jvp(derivation, name=name), primals, seed=seed)
    if isinstance(derivation, Pullback):
        return adt.check_vjp(to_custom_vjp(derivation, name=name), primals, seed=seed)
    raise TypeError(f"adlib.symbolic.check_numerically: expected a Pushforward or Pullback, "
                    f"got {type(derivation).__name__}.")
