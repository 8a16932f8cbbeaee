"""Every primitive of adlib.numpy through ``adlib.testing.check_grads``.

``check_grads`` compares the pushforward with central finite differences and
runs the dot-product test <ybar, J xdot> = <J^T ybar, xdot> with general random
vectors (the left side by finite differences), so no rule is tested against
its own formula.  ``order=2`` checks the derivative of the JVP and of the
pullback too, wherever the function is twice differentiable.

Inputs are general random draws (a seed per case, derived from its id), kept
away from kinks (abs, clip, max) and well conditioned (solves, inverses).
The primal values of the functions adlib implements itself (einsum-based
products, norms, joins) are compared with NumPy separately.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib.testing import check_grads

from _core_util import fd_jacobian, seed_of


# ---------------------------------------------------------------- inputs ----
# An argument spec is a shape (standard normal draws; () gives a Python float)
# or a callable rng -> value for inputs with a restricted domain.
def N(*shape):
    return lambda rng: float(rng.normal()) if not shape else rng.normal(size=shape)


def POS(*shape, lo=0.5, hi=2.0):
    return lambda rng: float(rng.uniform(lo, hi)) if not shape else rng.uniform(lo, hi, size=shape)


def AWAY0(*shape, lo=0.3):
    """Random signs, magnitudes in [lo, lo + 1.5]: away from a kink at 0."""
    def draw(rng):
        mag = rng.uniform(lo, lo + 1.5, size=shape)
        x = mag * rng.choice([-1.0, 1.0], size=shape)
        return float(x) if not shape else x
    return draw


def SMALL(*shape, r=0.8):
    return lambda rng: float(rng.uniform(-r, r)) if not shape else rng.uniform(-r, r, size=shape)


def WELL(n, *batch):
    """A random square matrix with a dominant diagonal (well conditioned)."""
    return lambda rng: rng.normal(size=batch + (n, n)) + n * np.eye(n)


def draw(specs, rng):
    return tuple(s(rng) for s in specs)


def run(case_id, f, specs, order=2, modes=("fwd", "rev")):
    seed = seed_of(case_id)
    args = draw(specs, np.random.default_rng(seed))
    check_grads(f, args, order=order, modes=modes, seed=seed)


SHAPES_1 = [(), (3,), (2, 3)]

# ---------------------------------------------------------- elementwise ----
UNARY = [
    ("exp", anp.exp, N), ("log", anp.log, POS), ("log1p", anp.log1p, POS),
    ("expm1", anp.expm1, N), ("sqrt", anp.sqrt, POS), ("sin", anp.sin, N),
    ("cos", anp.cos, N), ("tan", anp.tan, SMALL), ("tanh", anp.tanh, N),
    ("arctan", anp.arctan, N), ("arcsin", anp.arcsin, SMALL), ("arccos", anp.arccos, SMALL),
    ("sinh", anp.sinh, N), ("cosh", anp.cosh, N), ("square", anp.square, N),
    ("reciprocal", anp.reciprocal, AWAY0), ("negative", anp.negative, N),
    ("abs", anp.abs, AWAY0), ("absolute", anp.absolute, AWAY0),
]


@pytest.mark.parametrize("shape", SHAPES_1, ids=str)
@pytest.mark.parametrize("name,fun,spec", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fun, spec, shape):
    run(f"{name}{shape}", fun, [spec(*shape)])


BROADCAST_PAIRS = [((), ()), ((3,), (3,)), ((3,), (2, 3)), ((2, 3), (3,)),
                   ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())]

BINARY = [
    ("add", anp.add, N, N), ("subtract", anp.subtract, N, N),
    ("multiply", anp.multiply, N, N), ("divide", anp.divide, N, AWAY0),
    ("power", anp.power, POS, N),          # array exponent: positive base
    ("maximum", anp.maximum, N, N), ("minimum", anp.minimum, N, N),   # ties have probability 0
]


@pytest.mark.parametrize("sx,sy", BROADCAST_PAIRS, ids=lambda s: str(s))
@pytest.mark.parametrize("name,fun,spec_x,spec_y", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcasting(name, fun, spec_x, spec_y, sx, sy):
    run(f"{name}{sx}{sy}", fun, [spec_x(*sx), spec_y(*sy)])


OPERATORS = [
    ("x+y", lambda x, y: x + y, [N(2, 3), N(3)]),
    ("x-y", lambda x, y: x - y, [N(2, 1), N(3)]),
    ("x*y", lambda x, y: x * y, [N(3), N(2, 3)]),
    ("x/y", lambda x, y: x / y, [N(2, 3), AWAY0(3)]),
    ("x**y", lambda x, y: x ** y, [POS(2, 3), N(2, 1)]),
    ("-x", lambda x: -x, [N(3)]),
    ("x**2", lambda x: x ** 2, [N(2, 3)]),
    ("x**3", lambda x: x ** 3, [N(2, 3)]),
    ("x**-1.5", lambda x: x ** -1.5, [POS(3)]),
    ("x**1", lambda x: x ** 1, [N(3)]),
    ("2**x", lambda x: 2.0 ** x, [N(3)]),
    ("c-x", lambda x: 2.0 - x, [N(3)]),
    ("c/x", lambda x: 2.0 / x, [AWAY0(3)]),
    ("arr*x", lambda x: np.arange(1.0, 4.0) * x, [N(2, 3)]),
    ("arr-x", lambda x: np.arange(1.0, 4.0) - x, [N(2, 3)]),
    ("abs(x)", lambda x: abs(x), [AWAY0(3)]),
    ("x@A", lambda x, A: x @ A, [N(3), N(3, 4)]),
    ("arr@x", lambda x: np.arange(6.0).reshape(2, 3) @ x, [N(3)]),
    ("x.T", lambda x: x.T, [N(2, 3)]),
    ("x[1:]", lambda x: x[1:], [N(4)]),
    ("x.sum(axis)", lambda x: x.sum(axis=0), [N(2, 3)]),
    ("x.mean()", lambda x: x.mean(), [N(2, 3)]),
    ("x.reshape", lambda x: x.reshape(3, 2), [N(2, 3)]),
    ("x.reshape tuple", lambda x: x.reshape((6,)), [N(2, 3)]),
    ("x.transpose", lambda x: x.transpose(1, 0, 2), [N(2, 3, 4)]),
    ("x.dot", lambda x, y: x.dot(y), [N(2, 3), N(3)]),
    ("x.ravel", lambda x: x.ravel(), [N(2, 3)]),
    ("x.prod", lambda x: x.prod(axis=1), [AWAY0(2, 3)]),
    ("x.max", lambda x: x.max(axis=1), [N(2, 3)]),
    ("x.min", lambda x: x.min(), [N(2, 3)]),
    ("x.trace", lambda x: x.trace(), [N(3, 3)]),
    ("x.squeeze", lambda x: x.squeeze(), [N(1, 3)]),
    ("mixed chain", lambda x, y: anp.sum(anp.tanh(x @ y) ** 2) / (1.0 + anp.exp(-x[0, 0])),
     [N(2, 3), N(3, 2)]),
]


@pytest.mark.parametrize("name,f,specs", OPERATORS, ids=[o[0] for o in OPERATORS])
def test_array_operators(name, f, specs):
    run(name, f, specs)


WHERE_CLIP = [
    ("where same", lambda x, y: anp.where(np.array([True, False, True]), x, y), [N(3), N(3)]),
    ("where bcast", lambda x, y: anp.where(np.array([[True], [False]]), x, y), [N(3), N(2, 3)]),
    ("where scalar x", lambda x, y: anp.where(np.array([[True, False, True]]), x, y), [N(), N(2, 3)]),
    ("where (2,1)(1,3)", lambda x, y: anp.where(np.eye(2, 3, dtype=bool), x, y), [N(2, 1), N(1, 3)]),
    ("where traced cond", lambda x: anp.where(x > 0, x ** 2, anp.sin(x)), [AWAY0(2, 3)]),
    ("clip", lambda x: anp.clip(x, -0.5, 0.7), [N(4, 3)]),
    ("clip lo only", lambda x: anp.clip(x, -0.2, None), [N(6)]),
    ("clip hi only", lambda x: anp.clip(x, None, 0.3), [N(6)]),
    ("clip 0-d array", lambda x: anp.clip(x, -1.0, 1.0), [lambda rng: np.array(rng.uniform(-0.8, 0.8))]),
    ("clip scalar", lambda x: anp.clip(x, -1.0, 1.0), [SMALL()]),
]


@pytest.mark.parametrize("name,f,specs", [w if hasattr(w, "marks") else pytest.param(*w, id=w[0])
                                         for w in WHERE_CLIP])
def test_where_clip(name, f, specs):
    run(name, f, specs)


# ------------------------------------------------------------ reductions ----
REDUCTION_KW = [
    {}, {"axis": 0}, {"axis": 1}, {"axis": -1}, {"axis": (0, 2)},
    {"axis": None, "keepdims": True}, {"axis": 1, "keepdims": True}, {"axis": (0, -1), "keepdims": True},
]
REDUCTIONS = [("sum", anp.sum, N), ("mean", anp.mean, N), ("prod", anp.prod, AWAY0),
              ("max", anp.max, N), ("min", anp.min, N)]


@pytest.mark.parametrize("kw", REDUCTION_KW, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "all")
@pytest.mark.parametrize("name,fun,spec", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_3d(name, fun, spec, kw):
    run(f"{name}{kw}", lambda x: fun(x, **kw), [spec(2, 3, 4)])


@pytest.mark.parametrize("shape", [(), (5,), (3, 1)], ids=str)
@pytest.mark.parametrize("name,fun,spec", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_small(name, fun, spec, shape):
    run(f"{name}{shape}", fun, [spec(*shape)])


def test_reduction_values_match_numpy():
    rng = np.random.default_rng(seed_of("reduction values"))
    x = rng.normal(size=(2, 3, 4))
    for name, fun, _ in REDUCTIONS:
        for kw in REDUCTION_KW:
            np.testing.assert_allclose(fun(x, **kw), getattr(np, name)(x, **kw), rtol=1e-12,
                                       err_msg=f"{name} {kw}")


# ------------------------------------------------------------------ shape ----
SHAPE_CASES = [
    ("reshape", lambda x: anp.reshape(x, (3, 2)), [N(2, 3)]),
    ("reshape -1", lambda x: anp.reshape(x, (-1, 2)), [N(2, 3, 2)]),
    ("ravel", anp.ravel, [N(2, 3)]),
    ("transpose", anp.transpose, [N(2, 3)]),
    ("transpose 3d default", anp.transpose, [N(2, 3, 4)]),
    ("transpose axes", lambda x: anp.transpose(x, (1, 2, 0)), [N(2, 3, 4)]),
    ("transpose axes list", lambda x: anp.transpose(x, [2, 0, 1]), [N(2, 3, 4)]),
    ("transpose neg axes", lambda x: anp.transpose(x, (-1, 0, 1)), [N(2, 3, 4)]),
    ("swapaxes", lambda x: anp.swapaxes(x, 0, 2), [N(2, 3, 4)]),
    ("swapaxes neg", lambda x: anp.swapaxes(x, -1, -2), [N(2, 3, 4)]),
    ("moveaxis", lambda x: anp.moveaxis(x, 0, -1), [N(2, 3, 4)]),
    ("expand_dims", lambda x: anp.expand_dims(x, 1), [N(2, 3)]),
    ("expand_dims neg", lambda x: anp.expand_dims(x, -1), [N(3)]),
    ("squeeze", anp.squeeze, [N(1, 3, 1)]),
    ("squeeze axis", lambda x: anp.squeeze(x, 0), [N(1, 3, 1)]),
    ("broadcast_to", lambda x: anp.broadcast_to(x, (3, 2, 4)), [N(2, 1)]),
    ("broadcast_to scalar", lambda x: anp.broadcast_to(x, (2, 3)), [N()]),
    ("flip", lambda x: anp.flip(x, 0), [N(2, 3)]),
    ("flip all", anp.flip, [N(2, 3)]),
    ("triu", anp.triu, [N(3, 3)]),
    ("triu k=1 rect", lambda x: anp.triu(x, 1), [N(3, 4)]),
    ("tril", anp.tril, [N(3, 3)]),
    ("tril k=-1 rect", lambda x: anp.tril(x, -1), [N(4, 3)]),
    ("diag matrix->vector", anp.diag, [N(3, 3)]),
    ("diag rect k=1", lambda x: anp.diag(x, 1), [N(3, 4)]),
    ("diag rect k=-1", lambda x: anp.diag(x, -1), [N(3, 4)]),
    ("diag vector->matrix", anp.diag, [N(3)]),
    ("diag vector->matrix k=1", lambda x: anp.diag(x, 1), [N(3)]),
    ("diag vector->matrix k=-2", lambda x: anp.diag(x, -2), [N(3)]),
    ("diagonal", anp.diagonal, [N(3, 4)]),
    ("trace", anp.trace, [N(3, 3)]),
    ("trace rect", anp.trace, [N(3, 4)]),
    ("atleast_2d", anp.atleast_2d, [N(3)]),
    # joining
    ("concatenate axis 0", lambda x, y: anp.concatenate([x, y]), [N(2, 3), N(1, 3)]),
    ("concatenate axis 1", lambda x, y: anp.concatenate([x, y], axis=1), [N(2, 3), N(2, 2)]),
    ("concatenate axis -1", lambda x, y, z: anp.concatenate((x, y, z), axis=-1), [N(2, 3), N(2, 1), N(2, 2)]),
    ("concatenate 3d axis 1", lambda x, y: anp.concatenate([x, y], axis=1), [N(2, 3, 4), N(2, 1, 4)]),
    ("concatenate 1d", lambda x, y: anp.concatenate([x, y]), [N(3), N(2)]),
    ("concatenate with constant", lambda x: anp.concatenate([x, np.ones((2, 3)), x]), [N(1, 3)]),
    ("stack axis 0", lambda x, y: anp.stack([x, y]), [N(2, 3), N(2, 3)]),
    ("stack axis 1", lambda x, y: anp.stack([x, y], axis=1), [N(2, 3), N(2, 3)]),
    ("stack axis -1", lambda x, y, z: anp.stack([x, y, z], axis=-1), [N(2, 3), N(2, 3), N(2, 3)]),
    ("stack scalars", lambda x, y: anp.stack([x, y]), [N(), N()]),
    ("stack with constant", lambda x: anp.stack([x, np.zeros(3), 2.0 * x]), [N(3)]),
    ("hstack 1d", lambda x, y: anp.hstack([x, y]), [N(3), N(2)]),
    ("hstack 2d", lambda x, y: anp.hstack([x, y]), [N(2, 3), N(2, 1)]),
    ("vstack", lambda x, y: anp.vstack([x, y]), [N(3), N(2, 3)]),
    ("array of boxes (list)", lambda x: anp.stack([x[0] * x[1], x[2]]), [N(3)]),
]


@pytest.mark.parametrize("name,f,specs", SHAPE_CASES, ids=[s[0] for s in SHAPE_CASES])
def test_shape_ops(name, f, specs):
    run(name, f, specs)


INDEXING = [
    ("int", lambda x: x[1], N(4, 3)),
    ("negative int", lambda x: x[-1], N(4)),
    ("int pair", lambda x: x[1, 2], N(3, 4)),
    ("slice", lambda x: x[1:3], N(5)),
    ("slice step", lambda x: x[::2], N(5)),
    ("negative step", lambda x: x[::-1], N(5)),
    ("negative step 2d", lambda x: x[::-2, 1:], N(5, 4)),
    ("reverse slice bounds", lambda x: x[3:0:-1], N(5)),
    ("ellipsis", lambda x: x[..., 1], N(2, 3, 4)),
    ("ellipsis middle", lambda x: x[0, ..., ::-1], N(2, 3, 4)),
    ("newaxis", lambda x: x[None, :, 0], N(3, 4)),
    ("int array", lambda x: x[np.array([2, 0])], N(4)),
    ("int list", lambda x: x[[3, 1]], N(4, 2)),
    ("repeated fancy", lambda x: x[np.array([0, 2, 0, 0, 4])], N(5)),
    ("repeated fancy 2d", lambda x: x[[0, 1, 1, 0], [2, 0, 0, 2]], N(3, 4)),
    ("repeated rows", lambda x: x[np.array([1, 1, 0])], N(3, 2)),
    ("fancy + slice", lambda x: x[np.array([2, 2, 0]), 1:], N(3, 4)),
    ("boolean mask", lambda x: x[np.array([True, False, True, True])], N(4)),
    ("boolean mask 2d", lambda x: x[np.array([[True, False, True], [False, False, True]])], N(2, 3)),
    ("boolean from values", lambda x: x[x > 0], N(3, 4)),
    ("boolean rows", lambda x: x[np.array([False, True, True])], N(3, 2)),
]


@pytest.mark.parametrize("name,f,spec", INDEXING, ids=[i[0] for i in INDEXING])
def test_indexing(name, f, spec):
    run(name, f, [spec])


@pytest.mark.parametrize("idx", [np.array([0, 2, 0, 0, 4]), [1, 1, 1], np.array([[3, 3], [0, 3]])],
                         ids=["1d", "list", "2d index array"])
def test_repeated_fancy_indices_accumulate(idx):
    """d/dx sum(w * x[idx]) puts the sum of the weights of every occurrence on x[i]."""
    rng = np.random.default_rng(seed_of(f"accumulate{np.asarray(idx).tolist()}"))
    x = rng.normal(size=5)
    w = rng.normal(size=np.shape(idx))
    expected = np.zeros(5)
    for i, wi in zip(np.ravel(idx), np.ravel(w)):   # by hand, one occurrence at a time
        expected[i] += wi
    f = lambda x: anp.sum(w * x[idx])               # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(ad.vjp(lambda x: x[idx], x)[1](w)[0], expected, rtol=1e-12)


# --------------------------------------------------------------- products ----
PRODUCTS = [
    ("dot 1d.1d", anp.dot, [N(3), N(3)]),
    ("dot 2d.1d", anp.dot, [N(2, 3), N(3)]),
    ("dot 1d.2d", anp.dot, [N(3), N(3, 2)]),
    ("dot 2d.2d", anp.dot, [N(2, 3), N(3, 4)]),
    ("dot scalar.matrix", anp.dot, [N(), N(2, 3)]),
    ("matmul 2d@2d", anp.matmul, [N(2, 3), N(3, 4)]),
    ("matmul square", anp.matmul, [N(3, 3), N(3, 3)]),   # a transposed rule keeps the shapes
    ("matmul square batched", anp.matmul, [N(2, 3, 3), N(2, 3, 3)]),
    ("A@A", lambda A: A @ A, [N(3, 3)]),
    ("matmul 1d@1d", anp.matmul, [N(3), N(3)]),
    ("matmul 2d@1d", anp.matmul, [N(2, 3), N(3)]),
    ("matmul 1d@2d", anp.matmul, [N(3), N(3, 2)]),
    ("matmul batched", anp.matmul, [N(2, 3, 4), N(2, 4, 2)]),
    ("matmul batch broadcast", anp.matmul, [N(1, 3, 4), N(2, 4, 2)]),
    ("matmul 2d@batched", anp.matmul, [N(3, 4), N(2, 4, 2)]),
    ("matmul batched@2d", anp.matmul, [N(2, 3, 4), N(4, 2)]),
    ("matmul 1d@batched", anp.matmul, [N(4), N(2, 4, 3)]),
    ("matmul batched@1d", anp.matmul, [N(2, 3, 4), N(4)]),
    ("outer", anp.outer, [N(3), N(4)]),
    ("outer flattens", anp.outer, [N(2, 2), N(3)]),
    ("inner 1d", anp.inner, [N(3), N(3)]),
    ("inner 2d", anp.inner, [N(2, 3), N(4, 3)]),
    ("inner scalar", anp.inner, [N(), N(3)]),
    ("vdot", anp.vdot, [N(2, 3), N(3, 2)]),
    ("tensordot axes=1", lambda a, b: anp.tensordot(a, b, axes=1), [N(2, 3), N(3, 4)]),
    ("tensordot axes=2", lambda a, b: anp.tensordot(a, b, axes=2), [N(2, 3, 4), N(3, 4, 2)]),
    ("tensordot axes=0", lambda a, b: anp.tensordot(a, b, axes=0), [N(2), N(3)]),
    ("tensordot pairs", lambda a, b: anp.tensordot(a, b, axes=([1, 2], [1, 0])), [N(2, 3, 4), N(4, 3, 2)]),
    ("tensordot negative axes", lambda a, b: anp.tensordot(a, b, axes=([-1], [0])), [N(2, 3), N(3, 4)]),
    ("einsum ij,jk->ik", lambda a, b: anp.einsum("ij,jk->ik", a, b), [N(2, 3), N(3, 4)]),
    ("einsum i,i->", lambda a, b: anp.einsum("i,i->", a, b), [N(4), N(4)]),
    ("einsum ij->j", lambda a: anp.einsum("ij->j", a), [N(2, 3)]),
    ("einsum ij->", lambda a: anp.einsum("ij->", a), [N(2, 3)]),
    ("einsum ij->ji", lambda a: anp.einsum("ij->ji", a), [N(2, 3)]),
    ("einsum bij,bjk->bik", lambda a, b: anp.einsum("bij,bjk->bik", a, b), [N(2, 3, 4), N(2, 4, 2)]),
    ("einsum ...ij,...jk->...ik", lambda a, b: anp.einsum("...ij,...jk->...ik", a, b),
     [N(2, 3, 4), N(2, 4, 2)]),
    ("einsum ellipsis different ndim", lambda a, b: anp.einsum("...ij,...jk->...ik", a, b),
     [N(3, 4), N(2, 4, 2)]),
    ("einsum ellipsis broadcast", lambda a, b: anp.einsum("...ij,...jk->...ik", a, b),
     [N(1, 3, 4), N(2, 4, 2)]),
    ("einsum implicit ij,jk", lambda a, b: anp.einsum("ij,jk", a, b), [N(2, 3), N(3, 4)]),
    ("einsum implicit i,j", lambda a, b: anp.einsum("i,j", a, b), [N(2), N(3)]),
    ("einsum implicit ba", lambda a: anp.einsum("ba", a), [N(2, 3)]),
    ("einsum i,j->ij", lambda a, b: anp.einsum("i,j->ij", a, b), [N(2), N(3)]),
    ("einsum three operands", lambda a, b, c: anp.einsum("ij,jk,kl->il", a, b, c),
     [N(2, 3), N(3, 4), N(4, 2)]),
    ("einsum summed in one operand", lambda a, b: anp.einsum("ij,k->i", a, b), [N(2, 3), N(4)]),
    ("einsum spaces", lambda a, b: anp.einsum("ij, j -> i", a, b), [N(2, 3), N(3)]),
    ("einsum broadcast named axis", lambda a, b: anp.einsum("ij,ij->i", a, b), [N(1, 3), N(2, 3)]),
    ("einsum elementwise", lambda a, b: anp.einsum("i,i->i", a, b), [N(3), N(3)]),
    ("tensordot negative pairs", lambda a, b: anp.tensordot(a, b, axes=([-2, -1], [-1, 0])),
     [N(2, 3, 4), N(4, 2, 3)]),
]


@pytest.mark.parametrize("name,f,specs", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products(name, f, specs):
    run(name, f, specs)


VALUES = [   # (id, adlib function, NumPy function, arg specs): primal values must agree
    ("dot", anp.dot, np.dot, [N(2, 3), N(3)]),
    ("matmul batched@1d", anp.matmul, np.matmul, [N(2, 3, 4), N(4)]),
    ("outer", anp.outer, np.outer, [N(2, 2), N(3)]),
    ("inner 2d", anp.inner, np.inner, [N(2, 3), N(4, 3)]),
    ("vdot", anp.vdot, np.vdot, [N(2, 3), N(3, 2)]),
    ("tensordot 0", lambda a, b: anp.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0), [N(2), N(3)]),
    ("tensordot 2", anp.tensordot, np.tensordot, [N(2, 3, 4), N(3, 4, 2)]),
    ("tensordot pairs", lambda a, b: anp.tensordot(a, b, ([1, 2], [1, 0])),
     lambda a, b: np.tensordot(a, b, ([1, 2], [1, 0])), [N(2, 3, 4), N(4, 3, 2)]),
    ("tensordot negative axes", lambda a, b: anp.tensordot(a, b, ([-1], [0])),
     lambda a, b: np.tensordot(a, b, ([-1], [0])), [N(2, 3), N(3, 4)]),
    ("tensordot negative pairs", lambda a, b: anp.tensordot(a, b, ([-2, -1], [-1, 0])),
     lambda a, b: np.tensordot(a, b, ([-2, -1], [-1, 0])), [N(2, 3, 4), N(4, 2, 3)]),
    ("einsum implicit", lambda a, b: anp.einsum("ij,jk", a, b), lambda a, b: np.einsum("ij,jk", a, b),
     [N(2, 3), N(3, 4)]),
    ("einsum implicit ba", lambda a: anp.einsum("ba", a), lambda a: np.einsum("ba", a), [N(2, 3)]),
    ("einsum ellipsis broadcast", lambda a, b: anp.einsum("...ij,...jk->...ik", a, b),
     lambda a, b: np.einsum("...ij,...jk->...ik", a, b), [N(1, 3, 4), N(2, 4, 2)]),
    ("einsum ellipsis different ndim", lambda a, b: anp.einsum("...ij,...jk", a, b),
     lambda a, b: np.einsum("...ij,...jk", a, b), [N(3, 4), N(2, 4, 2)]),
    ("moveaxis", lambda x: anp.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [N(2, 3, 4)]),
    ("hstack", lambda x, y: anp.hstack([x, y]), lambda x, y: np.hstack([x, y]), [N(2, 3), N(2, 1)]),
    ("vstack", lambda x, y: anp.vstack([x, y]), lambda x, y: np.vstack([x, y]), [N(3), N(2, 3)]),
    ("diag k=-1", lambda x: anp.diag(x, -1), lambda x: np.diag(x, -1), [N(3, 4)]),
    ("trace rect", anp.trace, np.trace, [N(3, 4)]),
    ("mean", lambda x: anp.mean(x, axis=(0, 2)), lambda x: np.mean(x, axis=(0, 2)), [N(2, 3, 4)]),
    ("norm", anp.linalg.norm, np.linalg.norm, [N(3, 4)]),
    ("norm 2 matrix", lambda x: anp.linalg.norm(x, 2), lambda x: np.linalg.norm(x, 2), [N(3, 4)]),
    ("norm 1", lambda x: anp.linalg.norm(x, 1), lambda x: np.linalg.norm(x, 1), [N(5)]),
    ("norm inf", lambda x: anp.linalg.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), [N(5)]),
    ("norm axis", lambda x: anp.linalg.norm(x, axis=0), lambda x: np.linalg.norm(x, axis=0), [N(3, 4)]),
    ("solve", anp.linalg.solve, np.linalg.solve, [WELL(3), N(3, 2)]),
    ("slogdet", lambda A: anp.linalg.slogdet(A)[1], lambda A: np.linalg.slogdet(A)[1], [N(4, 4)]),
]


@pytest.mark.parametrize("name,f,ref,specs", VALUES, ids=[v[0] for v in VALUES])
def test_primal_values_match_numpy(name, f, ref, specs):
    args = draw(specs, np.random.default_rng(seed_of("value " + name)))
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- linalg ----
def GENERAL_PD(n):
    """A general (non-symmetric) matrix whose symmetric part is positive definite.

    ``cholesky`` and ``eigh`` are functions of the symmetric part of their input,
    so they are checked at such points, in general directions.
    """
    def draw_(rng):
        M = rng.normal(size=(n, n))
        return M @ M.T + n * np.eye(n) + rng.normal(size=(n, n))
    return draw_


def _eigh_signfixed(x):
    """Eigenpairs (of the symmetric part), with each eigenvector's sign fixed.

    The sign of an eigenvector is arbitrary; fixing it (first component
    positive, a locally constant choice) makes V a function finite
    differences can follow.
    """
    d, V = anp.linalg.eigh(x)
    return d, V * anp.sign(V[0])


def _distinct_eigs(n):
    """A random matrix whose symmetric part has well separated eigenvalues."""
    def draw_(rng):
        Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        d = np.arange(1.0, n + 1.0) * 1.5 + rng.uniform(0, 0.3, size=n)
        S = Q @ np.diag(d) @ Q.T            # the symmetric part (x + x.T) / 2
        K = rng.normal(size=(n, n))
        return S + (K - K.T) / 2            # plus a general antisymmetric part
    return draw_


LINALG = [
    ("inv", anp.linalg.inv, [WELL(3)]),
    ("inv batched", anp.linalg.inv, [WELL(3, 2)]),
    ("solve vector rhs", anp.linalg.solve, [WELL(4), N(4)]),
    ("solve matrix rhs", anp.linalg.solve, [WELL(3), N(3, 2)]),
    ("solve A only", lambda A: anp.linalg.solve(A, np.arange(1.0, 4.0)), [WELL(3)]),
    ("solve b only", lambda b: anp.linalg.solve(np.diag([2.0, 3.0, 4.0]) + 0.5, b), [N(3)]),
    ("det", anp.linalg.det, [N(3, 3)]),
    ("det batched", anp.linalg.det, [WELL(3, 2)]),
    ("slogdet", lambda A: anp.linalg.slogdet(A)[1], [N(4, 4)]),
    ("slogdet negative det", lambda A: anp.linalg.slogdet(-A)[1], [WELL(3)]),
    ("cholesky", anp.linalg.cholesky, [GENERAL_PD(4)]),
    ("eigh", _eigh_signfixed, [_distinct_eigs(4)]),
    ("eigh eigenvalues", lambda x: anp.linalg.eigh(x)[0], [_distinct_eigs(3)]),
    ("norm vector", anp.linalg.norm, [N(5)]),
    ("norm vector ord=2", lambda x: anp.linalg.norm(x, 2), [N(5)]),
    ("norm frobenius", anp.linalg.norm, [N(3, 4)]),
    ("norm fro", lambda x: anp.linalg.norm(x, "fro"), [N(3, 4)]),
    ("norm spectral", lambda x: anp.linalg.norm(x, 2), [N(3, 4)]),
    ("norm spectral wide", lambda x: anp.linalg.norm(x, 2), [N(2, 5)]),
    ("norm spectral tall", lambda x: anp.linalg.norm(x, 2), [N(5, 2)]),
    ("norm spectral square", lambda x: anp.linalg.norm(x, 2), [N(3, 3)]),
    ("norm ord=1", lambda x: anp.linalg.norm(x, 1), [AWAY0(5)]),
    ("norm ord=inf", lambda x: anp.linalg.norm(x, np.inf), [N(5)]),
    ("norm axis", lambda x: anp.linalg.norm(x, axis=1), [N(3, 4)]),
    ("norm axis keepdims", lambda x: anp.linalg.norm(x, axis=0, keepdims=True), [N(3, 4)]),
    ("composite: logdet of gram", lambda X: anp.linalg.slogdet(X.T @ X + np.eye(3))[1], [N(5, 3)]),
    ("composite: quadratic form solve", lambda A, b: b @ anp.linalg.solve(A @ A.T + np.eye(3), b),
     [N(3, 3), N(3)]),
]


@pytest.mark.parametrize("name,f,specs", LINALG, ids=[c[0] for c in LINALG])
def test_linalg(name, f, specs):
    run(name, f, specs)


def test_eigh_test_matrices_have_well_separated_eigenvalues():
    """The eigh cases above rely on distinct eigenvalues (the rule divides by gaps)."""
    x = _distinct_eigs(4)(np.random.default_rng(seed_of("eigh")))
    d = np.linalg.eigvalsh((x + x.T) / 2)
    assert np.all(np.diff(d) > 1.0)


def test_cholesky_jacobian_matches_finite_differences():
    """At a general (non-symmetric) point, the whole Jacobian over all n^2 entries is
    compared with finite differences of NumPy's Cholesky factor of the symmetric
    part, entry by entry, in both modes."""
    x = GENERAL_PD(3)(np.random.default_rng(seed_of("chol jac")))
    J_fd = fd_jacobian(lambda x: np.linalg.cholesky((x + x.T) / 2), x)
    np.testing.assert_allclose(ad.jacfwd(anp.linalg.cholesky)(x), J_fd, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(anp.linalg.cholesky)(x), J_fd, atol=1e-7)


# ------------------------------------------------------ not differentiable ----
NONDIFF = [("floor", anp.floor), ("ceil", anp.ceil), ("round", anp.round), ("rint", anp.rint),
           ("sign", anp.sign)]


@pytest.mark.parametrize("name,fun", NONDIFF, ids=[n[0] for n in NONDIFF])
def test_nondifferentiable_functions_are_locally_constant(name, fun):
    """d/dx [c(x) * x] = c(x) where c is locally constant (away from its jumps, which
    are at integers and half-integers)."""
    rng = np.random.default_rng(seed_of("nondiff " + name))
    x = rng.uniform(-3, 3, size=5)
    x = np.where(np.abs(2 * x - np.round(2 * x)) < 0.2, x + 0.25, x)   # away from the jumps
    c = getattr(np, name)(x)
    f = lambda x: anp.sum(fun(x) * x)                                # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(x), c, rtol=1e-14)
    np.testing.assert_allclose(ad.jvp(f, (x,), (np.ones(5),))[1], np.sum(c), rtol=1e-14)
    check_grads(lambda x: fun(x) * anp.sin(x), (x,), order=2, seed=seed_of(name))


def test_comparisons_and_arg_functions_return_plain_arrays():
    def f(x):
        assert type(x > 0) is np.ndarray and (x > 0).dtype == bool
        assert type(anp.less(x, 0.5)) is np.ndarray
        assert type(anp.isfinite(x)) is np.ndarray
        i, j = anp.argmax(x), anp.argmin(x)
        assert isinstance(i, (int, np.integer)) and isinstance(j, (int, np.integer))
        assert anp.shape(x) == (4,) and anp.ndim(x) == 1 and anp.size(x) == 4
        assert type(anp.zeros_like(x)) is np.ndarray and type(anp.ones_like(x)) is np.ndarray
        order = anp.argsort(x)
        return x[i] - x[j] + anp.sum(x[order][:2])
    x = np.array([0.3, -1.2, 2.5, 0.9])
    # by hand: d/dx [x_max - x_min + (two smallest)] = e_2 - e_1 + e_1 + e_0
    np.testing.assert_allclose(ad.grad(f)(x), [1.0, 0.0, 1.0, 0.0])
    assert np.isclose(ad.jvp(f, (x,), (np.arange(4.0),))[1], 2.0 - 1.0 + 1.0 + 0.0)


@pytest.mark.parametrize("alias,name", [(anp.amax, "max"), (anp.amin, "min"),
                                        (anp.true_divide, "divide"), (anp.absolute, "abs")])
def test_aliases(alias, name):
    assert alias is getattr(anp, name)
