"""Elementwise functions and their rules.

One line per primitive: ``defjvp`` then ``defvjp``, one rule per argument.
JVP rules read ``rule(t, ans, *args)``; VJP rules read ``rule(g, ans, *args)``.
Binary VJP rules pass through :func:`unbroadcast_to`, the single place where
broadcasting is undone.
"""
from __future__ import annotations

import numpy as np

from adlib.engine import Primitive, _primal, defjvp, defvjp, nondifferentiable
from adlib.numpy._util import unbroadcast_to as ub

P = Primitive

# ---- binary arithmetic ------------------------------------------------------
add = P(np.add, "add")
subtract = P(np.subtract, "subtract")
multiply = P(np.multiply, "multiply")
divide = P(np.true_divide, "divide")
_power = P(np.power, "power")
maximum = P(np.maximum, "maximum")
minimum = P(np.minimum, "minimum")

# ---- unary --------------------------------------------------------------------
negative = P(np.negative, "negative")
exp = P(np.exp, "exp")
log = P(np.log, "log")
log1p = P(np.log1p, "log1p")
expm1 = P(np.expm1, "expm1")
sqrt = P(np.sqrt, "sqrt")
square = P(np.square, "square")
reciprocal = P(lambda x: 1.0 / x, "reciprocal")
sin = P(np.sin, "sin")
cos = P(np.cos, "cos")
tan = P(np.tan, "tan")
arcsin = P(np.arcsin, "arcsin")
arccos = P(np.arccos, "arccos")
arctan = P(np.arctan, "arctan")
sinh = P(np.sinh, "sinh")
cosh = P(np.cosh, "cosh")
tanh = P(np.tanh, "tanh")
abs = P(np.abs, "abs")  # noqa: A001  (mirrors numpy's name)
absolute = abs
clip = P(np.clip, "clip")
_where = P(np.where, "where")


def power(x, y):
    """``x ** y``; ``x ** 2`` takes the cheaper ``square`` path."""
    if type(y) in (int, float):
        if y == 2:
            return square(x)
        if y == 1:
            return x
    return _power(x, y)


def where(condition, x, y):
    """Elementwise choice; differentiable in ``x`` and ``y``, not in ``condition``."""
    return _where(_primal(condition), x, y)


def _tie(x, ans, other):
    """Weight of ``x`` in max/min: 1 where it won, 1/2 on ties, 0 elsewhere."""
    return (x == ans) / (1.0 + (x == other))


def _log_safe(x):
    return np.log(np.where(x > 0, x, 1.0))


# ---- rule table ---------------------------------------------------------------
def add_jvp_x(t, ans, x, y): return t
def add_jvp_y(t, ans, x, y): return t
def add_vjp_x(g, ans, x, y): return ub(g, x)
def add_vjp_y(g, ans, x, y): return ub(g, y)
def subtract_jvp_y(t, ans, x, y): return -t
def subtract_vjp_y(g, ans, x, y): return ub(-g, y)
def multiply_jvp_x(t, ans, x, y): return t * y
def multiply_jvp_y(t, ans, x, y): return x * t
def multiply_vjp_x(g, ans, x, y): return ub(g * y, x)
def multiply_vjp_y(g, ans, x, y): return ub(x * g, y)
def divide_jvp_x(t, ans, x, y): return t / y
def divide_jvp_y(t, ans, x, y): return -t * ans / y
def divide_vjp_x(g, ans, x, y): return ub(g / y, x)
def divide_vjp_y(g, ans, x, y): return ub(-g * ans / y, y)
def power_jvp_x(t, ans, x, y): return t * y * _power(x, y - 1)
def power_jvp_y(t, ans, x, y): return t * ans * log(where(x > 0, x, 1.0))
def power_vjp_x(g, ans, x, y): return ub(g * y * _power(x, y - 1), x)
def power_vjp_y(g, ans, x, y): return ub(g * ans * log(where(x > 0, x, 1.0)), y)
def maximum_jvp_x(t, ans, x, y): return t * _tie(x, ans, y)
def maximum_jvp_y(t, ans, x, y): return t * _tie(y, ans, x)
def maximum_vjp_x(g, ans, x, y): return ub(g * _tie(x, ans, y), x)
def maximum_vjp_y(g, ans, x, y): return ub(g * _tie(y, ans, x), y)

defjvp(add, add_jvp_x, add_jvp_y);               defvjp(add, add_vjp_x, add_vjp_y)
defjvp(subtract, add_jvp_x, subtract_jvp_y);     defvjp(subtract, add_vjp_x, subtract_vjp_y)
defjvp(multiply, multiply_jvp_x, multiply_jvp_y); defvjp(multiply, multiply_vjp_x, multiply_vjp_y)
defjvp(divide, divide_jvp_x, divide_jvp_y);      defvjp(divide, divide_vjp_x, divide_vjp_y)
defjvp(_power, power_jvp_x, power_jvp_y);        defvjp(_power, power_vjp_x, power_vjp_y)
defjvp(maximum, maximum_jvp_x, maximum_jvp_y);   defvjp(maximum, maximum_vjp_x, maximum_vjp_y)
defjvp(minimum, maximum_jvp_x, maximum_jvp_y);   defvjp(minimum, maximum_vjp_x, maximum_vjp_y)


def negative_jvp(t, ans, x): return -t
def exp_jvp(t, ans, x): return t * ans
def log_jvp(t, ans, x): return t / x
def log1p_jvp(t, ans, x): return t / (1.0 + x)
def expm1_jvp(t, ans, x): return t * (ans + 1.0)
def sqrt_jvp(t, ans, x): return t * 0.5 / ans
def square_jvp(t, ans, x): return t * 2.0 * x
def reciprocal_jvp(t, ans, x): return -t * ans * ans
def sin_jvp(t, ans, x): return t * cos(x)
def cos_jvp(t, ans, x): return -t * sin(x)
def tan_jvp(t, ans, x): return t * (1.0 + ans * ans)
def arcsin_jvp(t, ans, x): return t / sqrt(1.0 - x * x)
def arccos_jvp(t, ans, x): return -t / sqrt(1.0 - x * x)
def arctan_jvp(t, ans, x): return t / (1.0 + x * x)
def sinh_jvp(t, ans, x): return t * cosh(x)
def cosh_jvp(t, ans, x): return t * sinh(x)
def tanh_jvp(t, ans, x): return t * (1.0 - ans * ans)
def abs_jvp(t, ans, x): return t * np.sign(_primal(x))
def clip_jvp(t, ans, x, lo, hi): return t * _inside(x, lo, hi)


def _inside(x, lo, hi):
    x = _primal(x)
    lo = -np.inf if lo is None else _primal(lo)
    hi = np.inf if hi is None else _primal(hi)
    return np.asarray((x >= lo) & (x <= hi), dtype=float)


# An elementwise function's JVP and VJP coincide (the Jacobian is diagonal),
# so each unary rule is registered for both modes.
for _prim, _rule in [
        (negative, negative_jvp), (exp, exp_jvp), (log, log_jvp), (log1p, log1p_jvp),
        (expm1, expm1_jvp), (sqrt, sqrt_jvp), (square, square_jvp),
        (reciprocal, reciprocal_jvp), (sin, sin_jvp), (cos, cos_jvp), (tan, tan_jvp),
        (arcsin, arcsin_jvp), (arccos, arccos_jvp), (arctan, arctan_jvp),
        (sinh, sinh_jvp), (cosh, cosh_jvp), (tanh, tanh_jvp), (abs, abs_jvp),
        (clip, clip_jvp)]:
    defjvp(_prim, _rule)
    defvjp(_prim, _rule)


def where_jvp_x(t, ans, c, x, y): return _where(c, t, 0.0)
def where_jvp_y(t, ans, c, x, y): return _where(c, 0.0, t)
def where_vjp_x(g, ans, c, x, y): return ub(_where(c, g, 0.0), x)
def where_vjp_y(g, ans, c, x, y): return ub(_where(c, 0.0, g), y)


defjvp(_where, None, where_jvp_x, where_jvp_y); defvjp(_where, None, where_vjp_x, where_vjp_y)

# ---- not differentiable: outputs carry no derivative ------------------------------
sign = nondifferentiable(np.sign, "sign")
floor = nondifferentiable(np.floor, "floor")
ceil = nondifferentiable(np.ceil, "ceil")
round = nondifferentiable(np.round, "round")  # noqa: A001
rint = nondifferentiable(np.rint, "rint")
isfinite = nondifferentiable(np.isfinite, "isfinite")
isnan = nondifferentiable(np.isnan, "isnan")
isinf = nondifferentiable(np.isinf, "isinf")
_less = nondifferentiable(np.less, "less")
_less_equal = nondifferentiable(np.less_equal, "less_equal")
_greater = nondifferentiable(np.greater, "greater")
_greater_equal = nondifferentiable(np.greater_equal, "greater_equal")
_equal = nondifferentiable(np.equal, "equal")
_not_equal = nondifferentiable(np.not_equal, "not_equal")
less, less_equal, greater, greater_equal = _less, _less_equal, _greater, _greater_equal
equal, not_equal = _equal, _not_equal
