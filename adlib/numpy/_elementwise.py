"""Elementwise functions and their rules.

One line per primitive: ``defjvp`` then ``defvjp``, one rule per argument.
JVP rules read ``rule(t, ans, *args)``; VJP rules read ``rule(g, ans, *args)``.
Binary VJP rules pass through :func:`unbroadcast_to`, the single place where
broadcasting is undone.

**Where a function is not smooth** adlib uses these conventions:
``abs``, ``sign``-like kinks and ``clip``'s ends get the one-sided value 0 or 1
given by the rule; ``maximum``/``minimum``/``fmax``/``fmin`` share the tangent
equally on ties; ``x ** y`` has :math:`\\partial_x = y x^{y-1}` (0 where
``y == 0``, so ``x ** 0.0`` is flat everywhere, and infinite at ``x = 0`` for
``0 < y < 1``, as the function's slope is) and :math:`\\partial_y = x^y\\log x`
with the value 0 at ``x = 0`` and NaN at ``x < 0`` (where ``x ** y`` is not
real for nearby ``y``); these are JAX's choices.

Complex inputs are out of scope: ``real``, ``imag``, ``conj`` and ``angle``
accept real arrays (identity, zero, identity, constant) and raise
:class:`~adlib.errors.DTypeError` on complex ones.
"""
from __future__ import annotations

import types

import numpy as np

from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, nondifferentiable
from adlib.errors import DTypeError
from adlib.numpy._util import broadcast_like, unbroadcast_to

Prim = Primitive

# ---- binary arithmetic ------------------------------------------------------
add = Prim(np.add, "add")
subtract = Prim(np.subtract, "subtract")
multiply = Prim(np.multiply, "multiply")
divide = Prim(np.true_divide, "divide")
_power = Prim(np.power, "power")
maximum = Prim(np.maximum, "maximum")
minimum = Prim(np.minimum, "minimum")

# ---- unary --------------------------------------------------------------------
negative = Prim(np.negative, "negative")
exp = Prim(np.exp, "exp")
log = Prim(np.log, "log")
log1p = Prim(np.log1p, "log1p")
expm1 = Prim(np.expm1, "expm1")
sqrt = Prim(np.sqrt, "sqrt")
square = Prim(np.square, "square")
reciprocal = Prim(lambda x: 1.0 / x, "reciprocal")
sin = Prim(np.sin, "sin")
cos = Prim(np.cos, "cos")
tan = Prim(np.tan, "tan")
arcsin = Prim(np.arcsin, "arcsin")
arccos = Prim(np.arccos, "arccos")
arctan = Prim(np.arctan, "arctan")
sinh = Prim(np.sinh, "sinh")
cosh = Prim(np.cosh, "cosh")
tanh = Prim(np.tanh, "tanh")
abs = Prim(np.abs, "abs")  # noqa: A001  (mirrors numpy's name)
absolute = abs
_clip = Prim(np.clip, "clip")
log2 = Prim(np.log2, "log2")
log10 = Prim(np.log10, "log10")
exp2 = Prim(np.exp2, "exp2")
arcsinh = Prim(np.arcsinh, "arcsinh")
arccosh = Prim(np.arccosh, "arccosh")
arctanh = Prim(np.arctanh, "arctanh")
sinc = Prim(np.sinc, "sinc")
logaddexp = Prim(np.logaddexp, "logaddexp")
logaddexp2 = Prim(np.logaddexp2, "logaddexp2")
fmax = Prim(np.fmax, "fmax")
fmin = Prim(np.fmin, "fmin")
remainder = Prim(np.remainder, "remainder")
_where = Prim(np.where, "where")


def power(x, y):
    """``x ** y``; ``x ** 2`` takes the cheaper ``square`` path, ``x ** 0`` is constant."""
    if type(y) in (int, float):
        if y == 2:
            return square(x)
        if y == 1:
            return x
        if y == 0:
            return x * 0.0 + 1.0     # flat: every derivative is 0, also at x = 0
    return _power(x, y)


def where(condition, x, y):
    """Elementwise choice; differentiable in ``x`` and ``y``, not in ``condition``."""
    return _where(_primal(condition), x, y)


def _tie(x, ans, other):
    """Weight of ``x`` in max/min: 1 where it won, 1/2 on ties, 0 elsewhere."""
    return (x == ans) / (1.0 + (x == other))


# ---- rule table ---------------------------------------------------------------
def add_jvp_x(t, ans, x, y): return broadcast_like(t, ans)
def add_jvp_y(t, ans, x, y): return broadcast_like(t, ans)
def add_vjp_x(g, ans, x, y): return unbroadcast_to(g, x)
def add_vjp_y(g, ans, x, y): return unbroadcast_to(g, y)
def subtract_jvp_y(t, ans, x, y): return broadcast_like(-t, ans)
def subtract_vjp_y(g, ans, x, y): return unbroadcast_to(-g, y)
def multiply_jvp_x(t, ans, x, y): return t * y
def multiply_jvp_y(t, ans, x, y): return x * t
def multiply_vjp_x(g, ans, x, y): return unbroadcast_to(g * y, x)
def multiply_vjp_y(g, ans, x, y): return unbroadcast_to(x * g, y)
def divide_jvp_x(t, ans, x, y): return t / y
def divide_jvp_y(t, ans, x, y): return -t * ans / y
def divide_vjp_x(g, ans, x, y): return unbroadcast_to(g / y, x)
def divide_vjp_y(g, ans, x, y): return unbroadcast_to(-g * ans / y, y)
def power_jvp_x(t, ans, x, y): return t * _power_slope(x, y)
def power_jvp_y(t, ans, x, y): return t * ans * _log_or_zero_at_zero(x)
def power_vjp_x(g, ans, x, y): return unbroadcast_to(g * _power_slope(x, y), x)
def power_vjp_y(g, ans, x, y): return unbroadcast_to(g * ans * _log_or_zero_at_zero(x), y)
def extremum_jvp_x(t, ans, x, y): return t * _tie(x, ans, y)
def extremum_jvp_y(t, ans, x, y): return t * _tie(y, ans, x)
def extremum_vjp_x(g, ans, x, y): return unbroadcast_to(g * _tie(x, ans, y), x)
def extremum_vjp_y(g, ans, x, y): return unbroadcast_to(g * _tie(y, ans, x), y)
def logaddexp_jvp_x(t, ans, x, y): return t * exp(x - ans)
def logaddexp_jvp_y(t, ans, x, y): return t * exp(y - ans)
def logaddexp_vjp_x(g, ans, x, y): return unbroadcast_to(g * exp(x - ans), x)
def logaddexp_vjp_y(g, ans, x, y): return unbroadcast_to(g * exp(y - ans), y)
def logaddexp2_jvp_x(t, ans, x, y): return t * exp2(x - ans)
def logaddexp2_jvp_y(t, ans, x, y): return t * exp2(y - ans)
def logaddexp2_vjp_x(g, ans, x, y): return unbroadcast_to(g * exp2(x - ans), x)
def logaddexp2_vjp_y(g, ans, x, y): return unbroadcast_to(g * exp2(y - ans), y)
def remainder_jvp_y(t, ans, x, y): return -t * floor(divide(x, y))
def remainder_vjp_y(g, ans, x, y): return unbroadcast_to(-g * floor(divide(x, y)), y)


def _power_slope(x, y):
    """y x^(y-1), with the value 0 where y == 0 (JAX's choice)."""
    slope = y * _power(x, y - 1)
    if np.any(_primal(y) == 0):
        slope = where(_primal(y) == 0, 0.0, slope)
    return slope


def _log_or_zero_at_zero(x):
    """log x, with the value 0 at x == 0 (where x ** y is flat in y for y > 0)."""
    return log(where(_primal(x) == 0, 1.0, x))

# reads: what each VJP rule reads from the forward pass (argument positions, ANS)
_READS_XY, _READS_XY_ANS = (0, 1), (0, 1, ANS)
defjvp(add, add_jvp_x, add_jvp_y)
defvjp(add, add_vjp_x, add_vjp_y, reads=[(), ()])
defjvp(subtract, add_jvp_x, subtract_jvp_y)
defvjp(subtract, add_vjp_x, subtract_vjp_y, reads=[(), ()])
defjvp(multiply, multiply_jvp_x, multiply_jvp_y)
defvjp(multiply, multiply_vjp_x, multiply_vjp_y, reads=[(1,), (0,)])
defjvp(divide, divide_jvp_x, divide_jvp_y)
defvjp(divide, divide_vjp_x, divide_vjp_y, reads=[(1,), (1, ANS)])
defjvp(_power, power_jvp_x, power_jvp_y)
defvjp(_power, power_vjp_x, power_vjp_y, reads=[_READS_XY, (0, ANS)])
for _prim in (maximum, minimum, fmax, fmin):
    defjvp(_prim, extremum_jvp_x, extremum_jvp_y)
    defvjp(_prim, extremum_vjp_x, extremum_vjp_y, reads=[_READS_XY_ANS, _READS_XY_ANS])
defjvp(logaddexp, logaddexp_jvp_x, logaddexp_jvp_y)
defvjp(logaddexp, logaddexp_vjp_x, logaddexp_vjp_y, reads=[(0, ANS), (1, ANS)])
defjvp(logaddexp2, logaddexp2_jvp_x, logaddexp2_jvp_y)
defvjp(logaddexp2, logaddexp2_vjp_x, logaddexp2_vjp_y, reads=[(0, ANS), (1, ANS)])
defjvp(remainder, add_jvp_x, remainder_jvp_y)
defvjp(remainder, add_vjp_x, remainder_vjp_y, reads=[(), _READS_XY])


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
def log2_jvp(t, ans, x): return t / (x * np.log(2.0))
def log10_jvp(t, ans, x): return t / (x * np.log(10.0))
def exp2_jvp(t, ans, x): return t * ans * np.log(2.0)
def arcsinh_jvp(t, ans, x): return t / sqrt(x * x + 1.0)
def arccosh_jvp(t, ans, x): return t / sqrt(x * x - 1.0)
def arctanh_jvp(t, ans, x): return t / (1.0 - x * x)
def sinc_jvp(t, ans, x): return t * _sinc_slope(x, ans)


def _sinc_slope(x, ans):
    """d/dx sin(pi x)/(pi x): (cos(pi x) - sinc x)/x, and its Taylor series near 0."""
    near0 = np.abs(_primal(x)) < 1e-2
    if not np.any(near0):
        return (cos(np.pi * x) - ans) / x
    x2, pi2 = x * x, np.pi ** 2
    series = x * (-pi2 / 3.0 + x2 * (pi2 ** 2 / 30.0 - x2 * pi2 ** 3 / 840.0))
    x_away = where(near0, 1.0, x)
    return where(near0, series, (cos(np.pi * x_away) - sinc(x_away)) / x_away)


# The Jacobian of an elementwise function is diagonal, so it is its own
# transpose: each unary JVP rule also serves as the VJP rule (``*_vjp``).
# Third column: what the rule reads from the forward pass, the input x (0) or
# the answer (ANS).
_X, _ANS = (0,), (ANS,)
_UNARY_RULES = [
    (negative, negative_jvp, ()), (exp, exp_jvp, _ANS), (log, log_jvp, _X),
    (log1p, log1p_jvp, _X), (expm1, expm1_jvp, _ANS), (sqrt, sqrt_jvp, _ANS),
    (square, square_jvp, _X), (reciprocal, reciprocal_jvp, _ANS), (sin, sin_jvp, _X),
    (cos, cos_jvp, _X), (tan, tan_jvp, _ANS), (arcsin, arcsin_jvp, _X),
    (arccos, arccos_jvp, _X), (arctan, arctan_jvp, _X), (sinh, sinh_jvp, _X),
    (cosh, cosh_jvp, _X), (tanh, tanh_jvp, _ANS), (abs, abs_jvp, _X), (log2, log2_jvp, _X),
    (log10, log10_jvp, _X), (exp2, exp2_jvp, _ANS), (arcsinh, arcsinh_jvp, _X),
    (arccosh, arccosh_jvp, _X), (arctanh, arctanh_jvp, _X), (sinc, sinc_jvp, (0, ANS))]


def _as_vjp(jvp_rule):
    """The same function under the name ``*_vjp`` (a copy, not a wrapper: no extra call).

    Tracebacks in reverse mode then name the VJP rule.
    """
    name = jvp_rule.__name__[:-3] + "vjp"
    code = jvp_rule.__code__.replace(co_name=name, co_qualname=name)
    vjp_rule = types.FunctionType(code, jvp_rule.__globals__, name, jvp_rule.__defaults__,
                                  jvp_rule.__closure__)
    vjp_rule.__qualname__ = name
    return vjp_rule


for _prim, _rule, _reads in _UNARY_RULES:
    defjvp(_prim, _rule)
    defvjp(_prim, _as_vjp(_rule), reads=[_reads])


# ---- clip: differentiable in the array and in traced bounds ---------------------------
def _between(x, lo, hi):
    x = _primal(x)
    lo = -np.inf if lo is None else _primal(lo)
    hi = np.inf if hi is None else _primal(hi)
    return np.asarray((x >= lo) & (x <= hi), dtype=float)


def _below(x, lo): return np.asarray(_primal(x) < _primal(lo), dtype=float)
def _above(x, hi): return np.asarray(_primal(x) > _primal(hi), dtype=float)
def clip_jvp_x(t, ans, x, lo, hi): return broadcast_like(t * _between(x, lo, hi), ans)
def clip_jvp_lo(t, ans, x, lo, hi): return broadcast_like(t * _below(x, lo), ans)
def clip_jvp_hi(t, ans, x, lo, hi): return broadcast_like(t * _above(x, hi), ans)
def clip_vjp_x(g, ans, x, lo, hi): return unbroadcast_to(g * _between(x, lo, hi), x)
def clip_vjp_lo(g, ans, x, lo, hi): return unbroadcast_to(g * _below(x, lo), lo)
def clip_vjp_hi(g, ans, x, lo, hi): return unbroadcast_to(g * _above(x, hi), hi)


defjvp(_clip, clip_jvp_x, clip_jvp_lo, clip_jvp_hi)
defvjp(_clip, clip_vjp_x, clip_vjp_lo, clip_vjp_hi, reads=[(0, 1, 2), (0, 1), (0, 2)])


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002
    """Limit ``a`` to ``[a_min, a_max]``; the bounds may be traced too.

    Where ``a`` lies strictly outside, the derivative goes to the bound; at a
    bound (a tie) it goes to ``a``.
    """
    if out is not None:
        from adlib.errors import UnsupportedError
        raise UnsupportedError("anp.clip: out= writes in place, which adlib cannot "
                               "differentiate; use the returned array")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    return _clip(a, lo, hi)


def where_jvp_x(t, ans, c, x, y): return broadcast_like(_where(c, t, 0.0), ans)
def where_jvp_y(t, ans, c, x, y): return broadcast_like(_where(c, 0.0, t), ans)
def where_vjp_x(g, ans, c, x, y): return unbroadcast_to(_where(c, g, 0.0), x)
def where_vjp_y(g, ans, c, x, y): return unbroadcast_to(_where(c, 0.0, g), y)


defjvp(_where, None, where_jvp_x, where_jvp_y)
defvjp(_where, None, where_vjp_x, where_vjp_y, reads=[None, (0,), (0,)])

# ---- by composition --------------------------------------------------------------
def deg2rad(x):
    """Degrees to radians."""
    return x * (np.pi / 180.0)


def rad2deg(x):
    """Radians to degrees."""
    return x * (180.0 / np.pi)


radians, degrees, fabs, mod = deg2rad, rad2deg, abs, remainder


def nan_to_num(x, copy: bool = True, nan: float = 0.0, posinf=None, neginf=None):
    """Replace NaN and infinities by numbers; derivative 1 where ``x`` is finite, else 0."""
    value = _primal(x)
    fixed = np.nan_to_num(value, nan=nan, posinf=posinf, neginf=neginf)
    return where(np.isfinite(value), x, fixed)


def _require_real(name, x):
    if np.iscomplexobj(_primal(x)):
        raise DTypeError(f"anp.{name}: the input is complex (shape {np.shape(_primal(x))}); "
                         "adlib differentiates real arrays only. Carry real and imaginary "
                         "parts as two real arrays.")


def real(x):
    """Real part: the identity on the real arrays adlib differentiates."""
    _require_real("real", x)
    return x


def imag(x):
    """Imaginary part: zero (a constant) on real arrays."""
    _require_real("imag", x)
    return np.zeros(np.shape(_primal(x)))


def conj(x):
    """Complex conjugate: the identity on real arrays."""
    _require_real("conj", x)
    return x


def angle(x, deg: bool = False):
    """Argument: 0 for x >= 0, pi for x < 0 (a constant) on real arrays."""
    _require_real("angle", x)
    return np.angle(_primal(x), deg=deg)


def real_if_close(x, tol: float = 100):
    """The identity on real arrays."""
    _require_real("real_if_close", x)
    return x


conjugate = conj


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
