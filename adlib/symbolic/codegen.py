"""Turn derived rules into ``adlib.numpy`` code, and check them numerically.

:func:`to_function` prints a SymPy expression as a Python function that calls
``adlib.numpy`` (so it is differentiable again); :func:`to_custom_jvp` and
:func:`to_custom_vjp` wrap a derived rule as an adlib custom rule, and
:func:`check_numerically` tests it with :mod:`adlib.testing` (central finite differences
and the dot-product test). Both matrix-symbol results and results derived on
explicit-entry matrices (``sp.Matrix`` of symbols: vector norms, softmax) are accepted.
"""
from __future__ import annotations

import keyword
import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from adlib.errors import DTypeError, RuleError
from adlib.symbolic.derive import Pullback, Pushforward
from adlib.symbolic.notation import Variable, _is_matrix, _shape_kind


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
            raise RuleError(f"adlib.symbolic.to_function: {expr} is not an argument; "
                            "add it (or the matrix holding it) to `args`.")
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
        A scalar expression, a matrix-symbol expression, or an explicit ``sp.Matrix``
        (then the function returns an array of that shape; ``n×1`` and ``1×n`` give 1-D
        arrays).
    args : sequence of Symbol, MatrixSymbol or Matrix of Symbols
        The arguments, in order. An explicit matrix of symbols is one array argument,
        named after its entries (``x0, x1, x2`` → ``x``), whose entries the code indexes.
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
    >>> x = sp.Matrix(sp.symbols("x0:3"))
    >>> print(to_function(sp.sqrt((x.T * x)[0, 0]), [x], name="norm").source)
    def norm(x):
        return anp.sqrt(x[0]**2 + x[1]**2 + x[2]**2)
    """
    used: set = set()
    names: dict = {}
    for i, a in enumerate(args):
        if isinstance(a, sp.MatrixBase):
            array = _identifier(_stem(a, f"arg{i}"), used)
            r, c = a.shape
            for k, e in enumerate(a):
                index = f"{k}" if 1 in (r, c) else f"{k // c}, {k % c}"
                names.setdefault(e, f"{array}[{index}]")
            names[sp.ImmutableMatrix(a)] = array
        elif isinstance(a, (sp.Symbol, sp.MatrixSymbol)):
            names[a] = _identifier(a.name, used)
        else:
            raise DTypeError(f"adlib.symbolic.to_function: argument {i} is {a!r} "
                             f"({type(a).__name__}); pass Symbols, MatrixSymbols or "
                             "Matrices of Symbols.")
    printer = _CodePrinter(names)
    expr = sp.sympify(expr)
    body = (_explicit_code(printer, expr) if isinstance(expr, sp.MatrixBase)
            else printer.doprint(expr))
    params = [names[sp.ImmutableMatrix(a)] if isinstance(a, sp.MatrixBase) else names[a]
              for a in args]
    fname = _identifier(name, set(used))
    source = f"def {fname}({', '.join(params)}):\n    return {body}"
    namespace = {"anp": _anp(), "numpy": np}
    exec(compile(source, f"<adlib.symbolic {fname}>", "exec"), namespace)
    fn = namespace[fname]
    fn.source = source
    return fn


def _stem(m: sp.MatrixBase, default: str) -> str:
    """The common name of the entries of a matrix of symbols: ``x0, x1`` → ``x``."""
    stems = {re.sub(r"_?\d+$", "", getattr(e, "name", "")) for e in m}
    stem = stems.pop() if len(stems) == 1 else ""
    return stem or default


def _explicit_code(printer: "_CodePrinter", m: sp.MatrixBase) -> str:
    """An explicit matrix as ``anp.stack`` of its entries (1-D for ``n×1``, ``1×n``)."""
    stack = printer._module_format("numpy.stack")
    r, c = m.shape
    if 1 in (r, c):
        return f"{stack}([{', '.join(printer.doprint(e) for e in m)}])"
    rows = [f"{stack}([{', '.join(printer.doprint(e) for e in m.row(i))}])"
            for i in range(r)]
    return f"{stack}([{', '.join(rows)}])"


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
    raise DTypeError(f"adlib.symbolic.check_numerically: expected a Pushforward or Pullback, "
                    f"got {type(derivation).__name__}.")

