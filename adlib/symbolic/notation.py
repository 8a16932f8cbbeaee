"""Names and notation: tangents and cotangents, the book's LaTeX, the inputs.

The tangent of ``x`` is ``xdot`` (LaTeX ``\\dot{x}``), its cotangent ``xbar`` (LaTeX
``\\bar{x}``); the perturbation parameter is :data:`EPS` (``\\varepsilon``, ``ε`` in
text). LaTeX follows the book's notation page: ``A^{\\mathsf T}``, ``A^{-\\mathsf T}``,
``\\det``, ``\\tfrac12`` for a rational coefficient, the identity ``I``, and a sum
written with its positive terms first and its constant terms last (``XY - I``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

import sympy as sp
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from adlib.errors import DTypeError

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
    raise DTypeError(f"adlib.symbolic: cannot name a tangent for {x!r} "
                     f"({type(x).__name__}); use a sympy Symbol, MatrixSymbol or a Matrix "
                     "of Symbols.")


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


def _book_order(terms: Sequence[Any]) -> list:
    """Terms of a sum in the book's order: the unperturbed terms before those with ε
    (``A + εȦ``), constant terms (the identity) after the others, positive terms before
    negative ones (``X Y - I``); otherwise SymPy's order is kept."""
    def eps_term(t: Any) -> bool:  # ε times something
        return t == EPS or (isinstance(t, (sp.Mul, sp.MatMul)) and EPS in t.args)

    return sorted(terms, key=lambda t: (eps_term(t), not t.free_symbols, _negative(t)))


def _signed_sum(terms: Sequence[Any], show: Any, minus: str = "- ") -> str:
    out = ""
    for i, term in enumerate(terms):
        if _negative(term):
            out += f" - {show(-term)}" if i else f"{minus}{show(-term)}"
        else:
            out += f" + {show(term)}" if i else show(term)
    return out


def _negative(term: Any) -> bool:
    """Whether a term of a sum prints with a leading minus sign."""
    if isinstance(term, sp.MatMul):
        return bool(term.as_coeff_mmul()[0].could_extract_minus_sign())
    return bool(getattr(term, "could_extract_minus_sign", lambda: False)())


class _NotationPrinter(LatexPrinter):
    """LaTeX in the book's notation (see the module docstring)."""

    def _wrapped(self, arg: Any) -> str:
        base = self._print(arg)
        if isinstance(arg, (sp.Symbol, sp.MatrixSymbol)):
            return base
        return rf"\left({base}\right)"

    def _print_Transpose(self, expr):
        return rf"{self._wrapped(expr.arg)}^{{\mathsf T}}"

    def _print_Inverse(self, expr):
        arg, power = expr.arg, "-1"
        if isinstance(arg, sp.Transpose):
            arg, power = arg.arg, r"-\mathsf T"
        return f"{self._wrapped(arg)}^{{{power}}}"

    def _print_Determinant(self, expr):
        return rf"\det\left({self._print(expr.arg)}\right)"

    def _print_Identity(self, expr):
        return "I"

    def _print_MatAdd(self, expr):
        return _signed_sum(_book_order(expr.args), self._print)

    def _print_Add(self, expr, order=None):
        terms = list(self._as_ordered_terms(expr, order=order))
        if not any(t.has(EPS) for t in terms):  # SymPy's order, unless perturbed
            return super()._print_Add(expr, order=order)

        def show(term):
            tex = self._print(term)
            return rf"\left({tex}\right)" if self._needs_add_brackets(term) else tex

        return _signed_sum(_book_order(terms), show)

    def _print_MatMul(self, expr):
        coeff, rest = expr.as_coeff_mmul()
        if coeff.is_Rational and not coeff.is_Integer:
            sign = "- " if coeff < 0 else ""
            p, q = abs(coeff.p), coeff.q
            frac = rf"\tfrac{{{p}}}{{{q}}}" if p < 10 and q < 10 else rf"\frac{{{p}}}{{{q}}}"
            return f"{sign}{frac} {self._print(rest)}"
        return super()._print_MatMul(expr)


class _TextPrinter(StrPrinter):
    """SymPy's plain-text form, with ε for the perturbation parameter."""

    def _print_Symbol(self, expr):
        return "ε" if expr == EPS else super()._print_Symbol(expr)

    def _print_MatAdd(self, expr):
        return _signed_sum(_book_order(expr.args), lambda t: self.parenthesize(t, 40), "-")


def _text(expr: Any) -> str:
    return _TextPrinter().doprint(expr)


def latex(expr: Any) -> str:
    """LaTeX of a SymPy expression in the book's notation (``A^{-\\mathsf T}``, ``\\det``).

    Examples
    --------
    >>> import sympy as sp
    >>> A = sp.MatrixSymbol("A", 3, 3)
    >>> latex(A.T.inverse())
    'A^{-\\\\mathsf T}'
    >>> latex(sp.Rational(1, 2) * A.T)
    '\\\\tfrac{1}{2} A^{\\\\mathsf T}'
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
                raise DTypeError("adlib.symbolic: an explicit matrix input must hold only "
                                f"symbols, got {x}; build it e.g. with "
                                "sp.Matrix(2, 2, sp.symbols('a:4')).")
        elif not isinstance(x, (sp.Symbol, sp.MatrixSymbol)):
            raise DTypeError(f"adlib.symbolic: input {x!r} is a {type(x).__name__}; inputs "
                             "must be sympy Symbols, MatrixSymbols or Matrices of Symbols.")
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



def _leaves(vs: Sequence[Any]) -> list:
    out = []
    for v in vs:
        out.extend(list(v) if isinstance(v, sp.MatrixBase) else [v])
    return out

