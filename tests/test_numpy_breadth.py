"""The NumPy a reader reaches for (issue 17), and rules that agree with their primal.

Every function is checked by ``check_grads`` (finite differences and the
dot-product test, general random seeds and directions; ``order=2`` where the
function is smooth), and its primal value is compared with NumPy's.
Structured inputs (Cholesky, eigh) are checked in general, non-symmetric
directions.  Special points (zeros of ``prod``, ``x ** 0``) are compared with
answers computed independently of adlib's rules.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import adlib as ad
import adlib.numpy as anp
from adlib.errors import DTypeError, ShapeError, UnsupportedError
from adlib.testing import check_grads, check_jvp, check_vjp

from _core_util import fd_jacobian, seed_of


def rng_for(name):
    return np.random.default_rng(seed_of(name))


def N(*shape):
    return lambda rng: rng.normal(size=shape)


def POS(*shape, lo=0.5, hi=2.0):
    return lambda rng: rng.uniform(lo, hi, size=shape)


def IN(lo, hi, *shape):
    return lambda rng: rng.uniform(lo, hi, size=shape)


def SPREAD(n):
    """n well-separated values in random order (no ties: sort is smooth there)."""
    return lambda rng: rng.permutation(np.arange(n) * 0.7 + rng.uniform(0, 0.3, n))


def SPD(n, *batch):
    def draw(rng):
        M = rng.normal(size=batch + (n, n))
        return M @ np.swapaxes(M, -1, -2) + n * np.eye(n)
    return draw


def WELL(n, *batch):
    return lambda rng: rng.normal(size=batch + (n, n)) + n * np.eye(n)


def run(case_id, f, specs, order=2):
    seed = seed_of(case_id)
    rng = np.random.default_rng(seed)
    args = tuple(s(rng) for s in specs)
    check_grads(f, args, order=order, seed=seed)
    return args


# ---------------------------------------------------------------- elementwise ----
ELEMENTWISE = [
    ("log2", anp.log2, np.log2, [POS(3, 2)]),
    ("log10", anp.log10, np.log10, [POS(3)]),
    ("exp2", anp.exp2, np.exp2, [N(2, 3)]),
    ("arcsinh", anp.arcsinh, np.arcsinh, [N(4)]),
    ("arccosh", anp.arccosh, np.arccosh, [IN(1.2, 3.0, 4)]),
    ("arctanh", anp.arctanh, np.arctanh, [IN(-0.8, 0.8, 4)]),
    ("deg2rad", anp.deg2rad, np.deg2rad, [N(3)]),
    ("radians", anp.radians, np.radians, [N(3)]),
    ("rad2deg", anp.rad2deg, np.rad2deg, [N(3)]),
    ("degrees", anp.degrees, np.degrees, [N(3)]),
    ("fabs", anp.fabs, np.fabs, [lambda r: r.choice([-1, 1], 5) * r.uniform(0.3, 2, 5)]),
    ("sinc", anp.sinc, np.sinc, [N(6)]),
    ("sinc near 0", anp.sinc, np.sinc, [IN(-5e-3, 5e-3, 4)]),
    ("logaddexp", anp.logaddexp, np.logaddexp, [N(3, 2), N(2)]),
    ("logaddexp2", anp.logaddexp2, np.logaddexp2, [N(3), N(3)]),
    ("fmax", anp.fmax, np.fmax, [N(4), N(4)]),
    ("fmin", anp.fmin, np.fmin, [N(3, 1), N(4)]),
    ("remainder", anp.remainder, np.remainder, [N(5), IN(0.3, 2.0, 5)]),
    ("mod negative divisor", anp.mod, np.mod, [N(5), IN(-2.0, -0.3, 5)]),
    ("nan_to_num", anp.nan_to_num, np.nan_to_num, [N(4)]),
    ("real", anp.real, np.real, [N(3)]),
    ("conj", anp.conj, np.conj, [N(3)]),
    ("conjugate", anp.conjugate, np.conjugate, [N(3)]),
    ("real_if_close", anp.real_if_close, np.real_if_close, [N(3)]),
    ("clip traced bounds", anp.clip, np.clip, [N(6), IN(-1.5, -0.2, 6), IN(0.2, 1.5, 6)]),
    ("clip keywords", lambda x: anp.clip(x, a_min=-0.5, a_max=0.4),
     lambda x: np.clip(x, -0.5, 0.4), [N(6)]),
]


@pytest.mark.parametrize("name,f,ref,specs", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise(name, f, ref, specs):
    args = run(name, f, specs)
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12, atol=1e-12)


def test_sinc_second_derivative_at_zero_is_minus_pi_squared_over_three():
    d2 = ad.grad(ad.grad(lambda x: anp.sinc(x)))(0.0)
    fd = (np.sinc(1e-3) - 2 * np.sinc(0.0) + np.sinc(-1e-3)) / 1e-6
    assert abs(d2 - fd) < 1e-5


def test_imag_and_angle_of_real_input_are_constant():
    x = np.array([-1.5, 0.5, 2.0])
    assert np.all(ad.grad(lambda x: anp.sum(anp.imag(x)) + anp.sum(x))(x) == 1.0)
    np.testing.assert_array_equal(anp.angle(x), np.angle(x))


@pytest.mark.parametrize("fun", [anp.real, anp.imag, anp.conj, anp.angle])
def test_complex_input_gets_a_dtype_error(fun):
    with pytest.raises(DTypeError, match="complex.*real arrays only"):
        fun(np.array([1.0 + 2.0j]))


def test_clip_derivative_goes_to_the_active_bound():
    x, lo, hi = np.array([-2.0, 0.0, 2.0]), np.full(3, -1.0), np.full(3, 1.0)
    gx, glo, ghi = ad.grad(lambda *a: anp.sum(anp.clip(*a)), argnums=(0, 1, 2))(x, lo, hi)
    np.testing.assert_array_equal(gx, [0, 1, 0])
    np.testing.assert_array_equal(glo, [1, 0, 0])
    np.testing.assert_array_equal(ghi, [0, 0, 1])


# ---------------------------------------------------------------- power conventions ----
def test_power_with_exponent_zero_is_flat_at_every_order():
    f = lambda x: anp.power(x, 0.0)   # noqa: E731
    assert ad.grad(f)(0.0) == 0.0
    assert ad.grad(ad.grad(f))(0.0) == 0.0
    assert ad.grad(f)(2.0) == 0.0


def test_power_slopes_where_not_smooth():
    # d/dx x**y at x = 0 is y x^(y-1): 0 for y = 2.5, infinite for y = 0.5
    assert ad.grad(lambda x: anp.power(x, 2.5))(0.0) == 0.0
    with np.errstate(divide="ignore"):
        assert np.isinf(ad.grad(lambda x: anp.power(x, 0.5))(0.0))
    # d/dy x**y at x = 0 is taken as 0 (flat for y > 0); NaN for x < 0
    assert ad.grad(lambda y: anp.power(0.0, y))(2.0) == 0.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(ad.grad(lambda y: anp.power(-2.0, y))(2.0))


# ---------------------------------------------------------------- reductions ----
REDUCTIONS = [
    ("var", lambda x: anp.var(x), np.var, [N(3, 4)]),
    ("var axis ddof", lambda x: anp.var(x, axis=1, ddof=1),
     lambda x: np.var(x, axis=1, ddof=1), [N(3, 4)]),
    ("std keepdims", lambda x: anp.std(x, axis=0, keepdims=True),
     lambda x: np.std(x, axis=0, keepdims=True), [N(3, 4)]),
    ("std one entry", lambda x: anp.std(x, axis=0), lambda x: np.std(x, axis=0), [N(1, 3)]),
    ("mean of a list", lambda a, b: anp.mean([a, b, a * b]),
     lambda a, b: np.mean([a, b, a * b]), [N(), N()]),
    ("norm of a list", lambda a, b: anp.linalg.norm([a, b, a * b]),
     lambda a, b: np.linalg.norm([a, b, a * b]), [N(), N()]),
    ("var of a list", lambda a, b: anp.var([a, b, a - b]),
     lambda a, b: np.var([a, b, a - b]), [N(), N()]),
    ("cumsum", lambda x: anp.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), [N(3, 4)]),
    ("cumsum flat", anp.cumsum, np.cumsum, [N(2, 3)]),
    ("sort", anp.sort, np.sort, [SPREAD(7)]),
    ("sort axis 0", lambda x: anp.sort(x, axis=0), lambda x: np.sort(x, axis=0),
     [lambda r: SPREAD(12)(r).reshape(4, 3)]),
    ("partition", lambda x: anp.partition(x, 3), lambda x: np.partition(x, 3), [SPREAD(8)]),
    ("diff", lambda x: anp.diff(x, n=2, axis=0), lambda x: np.diff(x, n=2, axis=0),
     [N(5, 3)]),
    ("gradient", anp.gradient, np.gradient, [N(6)]),
    ("gradient axis spacing", lambda x: anp.gradient(x, 0.5, axis=1),
     lambda x: np.gradient(x, 0.5, axis=1), [N(3, 5)]),
]


@pytest.mark.parametrize("name,f,ref,specs", REDUCTIONS, ids=[c[0] for c in REDUCTIONS])
def test_reductions_and_scans(name, f, ref, specs):
    args = run(name, f, specs)
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12, atol=1e-12)


def _products_of_the_others(x, axis):
    """Brute force, independent of adlib: np.prod with entry i deleted."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    for i in range(x.shape[-1]):
        out[..., i] = np.prod(np.delete(x, i, axis=-1), axis=-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("zeros", [[1], [0, 2], [0, 1, 3]])
def test_prod_gradient_at_zeros_is_the_product_of_the_others(zeros):
    x = rng_for(f"prod{zeros}").uniform(0.5, 2.0, 4)
    x[zeros] = 0.0
    np.testing.assert_allclose(ad.grad(anp.prod)(x), _products_of_the_others(x, 0))
    # d^k prod / dx_i dx_j ... = product of the entries other than i, j, ... (distinct)
    H = ad.hessian(anp.prod)(x)
    T = ad.jacfwd(ad.hessian(anp.prod))(x)
    for i, j, k in np.ndindex(4, 4, 4):
        expect2 = 0.0 if i == j else np.prod(np.delete(x, [i, j]))
        expect3 = 0.0 if len({i, j, k}) < 3 else np.prod(np.delete(x, [i, j, k]))
        assert H[i, j] == pytest.approx(expect2, abs=1e-12)
        assert T[i, j, k] == pytest.approx(expect3, abs=1e-12)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_prod_with_zeros_along_axes(axis, keepdims):
    x = rng_for(f"prod axis {axis}").uniform(0.5, 2.0, (3, 4))
    x[0, 1] = x[2, 1] = x[2, 3] = 0.0
    check_grads(lambda x: anp.prod(x, axis=axis, keepdims=keepdims), (x,), order=2,
                seed=seed_of(f"prod {axis}"))
    if isinstance(axis, int):
        g = ad.grad(lambda x: anp.sum(anp.prod(x, axis=axis)))(x)
        np.testing.assert_allclose(g, _products_of_the_others(x, axis))


# ---------------------------------------------------------------- shapes ----
SHAPES = [
    ("repeat", lambda x: anp.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), [N(2, 3)]),
    ("repeat flat", lambda x: anp.repeat(x, [1, 0, 2, 1]), lambda x: np.repeat(x, [1, 0, 2, 1]),
     [N(4)]),
    ("tile", lambda x: anp.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), [N(2, 3)]),
    ("roll", lambda x: anp.roll(x, 2, axis=1), lambda x: np.roll(x, 2, axis=1), [N(2, 5)]),
    ("roll flat", lambda x: anp.roll(x, -3), lambda x: np.roll(x, -3), [N(2, 5)]),
    ("rot90", lambda x: anp.rot90(x, 3), lambda x: np.rot90(x, 3), [N(3, 4)]),
    ("flipud", anp.flipud, np.flipud, [N(3, 2)]),
    ("fliplr", anp.fliplr, np.fliplr, [N(3, 2)]),
    ("rollaxis", lambda x: anp.rollaxis(x, 2, 0), lambda x: np.rollaxis(x, 2, 0),
     [N(2, 3, 4)]),
    ("moveaxis tuples", lambda x: anp.moveaxis(x, (0, 1), (2, 0)),
     lambda x: np.moveaxis(x, (0, 1), (2, 0)), [N(2, 3, 4)]),
    ("swapaxes keywords", lambda x: anp.swapaxes(x, axis1=0, axis2=2),
     lambda x: np.swapaxes(x, 0, 2), [N(2, 3, 4)]),
    ("append", anp.append, np.append, [N(2, 2), N(3)]),
    ("append axis", lambda a, b: anp.append(a, b, axis=0),
     lambda a, b: np.append(a, b, axis=0), [N(2, 3), N(1, 3)]),
    ("pad constant", lambda x: anp.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
     lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=0.5), [N(2, 3)]),
    ("pad reflect", lambda x: anp.pad(x, 2, mode="reflect"),
     lambda x: np.pad(x, 2, mode="reflect"), [N(4)]),
    ("kron", anp.kron, np.kron, [N(2, 3), N(3, 2)]),
    ("kron 1-D 2-D", anp.kron, np.kron, [N(2), N(3, 2)]),
    ("cross", anp.cross, np.cross, [N(4, 3), N(4, 3)]),
    ("cross axes", lambda a, b: anp.cross(a, b, axisa=0, axisb=0, axisc=0),
     lambda a, b: np.cross(a, b, axisa=0, axisb=0, axisc=0), [N(3, 2), N(3, 2)]),
    ("column_stack", lambda a, b: anp.column_stack([a, b]),
     lambda a, b: np.column_stack([a, b]), [N(3), N(3, 2)]),
    ("row_stack", lambda a, b: anp.row_stack([a, b]), lambda a, b: np.vstack([a, b]),
     [N(3), N(2, 3)]),
    ("hstack 0-d", lambda a, b: anp.hstack([a, b]), lambda a, b: np.hstack([a, b]),
     [N(), N()]),
    ("atleast_1d", anp.atleast_1d, np.atleast_1d, [N()]),
    ("atleast_3d", anp.atleast_3d, np.atleast_3d, [N(2, 3)]),
    ("r_", lambda a, b: anp.r_[a, b, a], lambda a, b: np.r_[a, b, a], [N(2), N(3)]),
    ("c_", lambda a, b: anp.c_[a, b], lambda a, b: np.c_[a, b], [N(3), N(3, 2)]),
    ("diagonal offset axes", lambda x: anp.diagonal(x, 1, 2, 0),
     lambda x: np.diagonal(x, 1, 2, 0), [N(3, 2, 4)]),
    ("trace offset", lambda x: anp.trace(x, offset=-1), lambda x: np.trace(x, offset=-1),
     [N(4, 3)]),
    ("trace stacked", lambda x: anp.trace(x, 0, 1, 2), lambda x: np.trace(x, 0, 1, 2),
     [N(2, 3, 3)]),
    ("linspace traced ends", lambda a, b: anp.linspace(a, b, 5),
     lambda a, b: np.linspace(a, b, 5), [N(), N()]),
]


@pytest.mark.parametrize("name,f,ref,specs", SHAPES, ids=[c[0] for c in SHAPES])
def test_shapes(name, f, ref, specs):
    args = run(name, f, specs)
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12, atol=1e-12)


SPLITS = [("split", anp.split, np.split, (N(6, 2), 3)),
          ("array_split", anp.array_split, np.array_split, (N(7), 3)),
          ("hsplit", anp.hsplit, np.hsplit, (N(2, 4), [1])),
          ("vsplit", anp.vsplit, np.vsplit, (N(4, 2), 2)),
          ("dsplit", anp.dsplit, np.dsplit, (N(1, 2, 4), 2))]


@pytest.mark.parametrize("name,f,ref,spec", SPLITS, ids=[c[0] for c in SPLITS])
def test_splits(name, f, ref, spec):
    x = spec[0](rng_for(name))
    parts = f(x, spec[1])
    for a, b in zip(parts, ref(x, spec[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    weights = [rng_for(name + str(i)).normal(size=np.shape(p)) for i, p in enumerate(parts)]
    g = lambda x: sum(anp.sum(w * p) for w, p in zip(weights, f(x, spec[1])))   # noqa: E731
    check_grads(g, (x,), order=2, seed=seed_of(name))


def test_select():
    rng = rng_for("select")
    conds = [rng.normal(size=(3, 4)) > 0 for _ in range(2)]
    ref = lambda a, b: np.select(conds, [a, b], default=0.5)   # noqa: E731
    f = lambda a, b: anp.select(conds, [a, b], default=0.5)    # noqa: E731
    args = run("select", f, [N(3, 4), N(3, 4)])
    np.testing.assert_array_equal(f(*args), ref(*args))


# ---------------------------------------------------------------- products ----
PRODUCTS = [
    ("dot 3-D 3-D", anp.dot, np.dot, [N(2, 2, 3), N(2, 3, 4)]),
    ("dot 3-D 1-D", anp.dot, np.dot, [N(2, 2, 3), N(3)]),
    ("dot 1-D 3-D", anp.dot, np.dot, [N(3), N(2, 3, 4)]),
    ("einsum diagonal", lambda a: anp.einsum("jj->j", a), lambda a: np.einsum("jj->j", a),
     [N(4, 4)]),
    ("einsum trace implicit", lambda a: anp.einsum("ii", a), lambda a: np.einsum("ii", a),
     [N(3, 3)]),
    ("einsum repeated with others", lambda a, b: anp.einsum("ijk,lji,lli->lki", a, b, b),
     lambda a, b: np.einsum("ijk,lji,lli->lki", a, b, b), [N(3, 4, 4), N(4, 4, 3)]),
    ("einsum sublists", lambda a, b: anp.einsum(a, [0, 1], b, [1, 2], [0, 2]),
     lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), [N(2, 3), N(3, 4)]),
]


@pytest.mark.parametrize("name,f,ref,specs", PRODUCTS, ids=[c[0] for c in PRODUCTS])
def test_products(name, f, ref, specs):
    args = run(name, f, specs)
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- linear algebra ----
def _general(n, *batch):
    return N(*batch, n, n)


LINALG = [
    ("cholesky general direction", anp.linalg.cholesky, [SPD(4)]),
    ("cholesky stack", anp.linalg.cholesky, [SPD(3, 2)]),
    ("eigh", anp.linalg.eigh, [SPD(4)]),
    ("eigh upper stack", lambda a: anp.linalg.eigh(a, "U"), [SPD(3, 2)]),
    ("eigvalsh", anp.linalg.eigvalsh, [SPD(4)]),
    ("svd wide", lambda a: anp.linalg.svd(a, full_matrices=False), [N(3, 5)]),
    ("svd square", anp.linalg.svd, [N(4, 4)]),
    ("svd tall stack", lambda a: anp.linalg.svd(a, full_matrices=False), [N(2, 5, 3)]),
    ("svd values", lambda a: anp.linalg.svd(a, compute_uv=False), [N(4, 3)]),
    ("eig real spectrum", anp.linalg.eig,
     [lambda r: (lambda V: V @ np.diag([1.0, 2.2, 3.1, 4.5]) @ np.linalg.inv(V))(
         r.normal(size=(4, 4)) + 2 * np.eye(4))]),
    ("eig stack", anp.linalg.eig,
     [lambda r: (lambda V: V @ np.diag([1.0, 2.0, 3.5]) @ np.linalg.inv(V))(
         r.normal(size=(2, 3, 3)) + 2 * np.eye(3))]),
    ("pinv tall", anp.linalg.pinv, [N(5, 3)]),
    ("pinv wide stack", anp.linalg.pinv, [N(2, 3, 5)]),
    ("inv stack", anp.linalg.inv, [WELL(3, 2)]),
    ("det", anp.linalg.det, [N(4, 4)]),
    ("det stack", anp.linalg.det, [N(2, 3, 3)]),
    ("slogdet", lambda a: anp.linalg.slogdet(a)[1], [N(4, 4)]),
    ("solve stack vector", anp.linalg.solve, [WELL(3, 2), N(3)]),
    ("solve stack matrix", anp.linalg.solve, [WELL(3, 2), N(2, 3, 2)]),
    ("solve broadcast b", anp.linalg.solve, [WELL(3), N(2, 3, 2)]),
    ("norm ord 3", lambda x: anp.linalg.norm(x, ord=3), [N(5)]),
    ("norm ord -inf", lambda x: anp.linalg.norm(x, ord=-np.inf), [N(5)]),
    ("norm axis keepdims", lambda x: anp.linalg.norm(x, axis=1, keepdims=True), [N(3, 4)]),
    ("norm nuc", lambda x: anp.linalg.norm(x, "nuc"), [N(4, 3)]),
    ("norm nuc axes", lambda x: anp.linalg.norm(x, "nuc", axis=(2, 0)), [N(3, 2, 4)]),
    ("norm -2", lambda x: anp.linalg.norm(x, -2), [N(4, 3)]),
    ("norm 1 matrix", lambda x: anp.linalg.norm(x, 1), [N(4, 3)]),
    ("norm inf axes", lambda x: anp.linalg.norm(x, np.inf, axis=(0, 1)), [N(4, 3, 2)]),
]


@pytest.mark.parametrize("name,f,specs", LINALG, ids=[c[0] for c in LINALG])
def test_linalg(name, f, specs):
    run(name, f, specs)


NUMPY_VALUES = [
    ("cholesky", anp.linalg.cholesky, np.linalg.cholesky, SPD(4)),
    ("eigvalsh", anp.linalg.eigvalsh, np.linalg.eigvalsh, SPD(4)),
    ("svd values", lambda a: anp.linalg.svd(a, compute_uv=False),
     lambda a: np.linalg.svd(a, compute_uv=False), N(4, 3)),
    ("pinv", anp.linalg.pinv, np.linalg.pinv, N(2, 3, 5)),
    ("det", anp.linalg.det, np.linalg.det, N(2, 4, 4)),
    ("slogdet", lambda a: anp.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1],
     N(3, 3)),
    ("norm nuc", lambda x: anp.linalg.norm(x, "nuc"), lambda x: np.linalg.norm(x, "nuc"),
     N(4, 3)),
    ("norm 3", lambda x: anp.linalg.norm(x, 3), lambda x: np.linalg.norm(x, 3), N(5)),
]


@pytest.mark.parametrize("name,f,ref,spec", NUMPY_VALUES, ids=[c[0] for c in NUMPY_VALUES])
def test_linalg_values_match_numpy(name, f, ref, spec):
    x = spec(rng_for(name))
    np.testing.assert_allclose(f(x), ref(x), rtol=1e-10, atol=1e-12)


def test_cholesky_and_eigh_are_functions_of_the_symmetric_part():
    rng = rng_for("sym part")
    A = SPD(4)(rng) + 0.3 * rng.normal(size=(4, 4))     # not symmetric
    S = 0.5 * (A + A.T)
    np.testing.assert_allclose(anp.linalg.cholesky(A), np.linalg.cholesky(S))
    np.testing.assert_allclose(anp.linalg.eigh(A)[0], np.linalg.eigh(S)[0])
    # the example, in general (non-symmetric) directions
    A0 = np.array([[4.0, 1.0], [1.0, 3.0]])
    for seed in range(5):
        check_jvp(anp.linalg.cholesky, (A0,), seed=seed)
        check_vjp(anp.linalg.cholesky, (A0,), seed=seed)
        check_jvp(anp.linalg.eigh, (A0,), seed=seed)
        check_vjp(anp.linalg.eigh, (A0,), seed=seed)
    # and the Jacobian over all n^2 entries matches finite differences of the primal
    J = ad.jacfwd(anp.linalg.cholesky)(A)
    np.testing.assert_allclose(J, fd_jacobian(anp.linalg.cholesky, A), atol=1e-6)


def test_det_and_slogdet_use_one_lu_and_no_inverse(monkeypatch):
    calls = {"lu": 0}
    real_lu = scipy.linalg.lu_factor

    def counting_lu(*a, **k):
        calls["lu"] += 1
        return real_lu(*a, **k)

    def no_inverse(*a, **k):
        raise AssertionError("an explicit inverse was formed")

    monkeypatch.setattr(scipy.linalg, "lu_factor", counting_lu)
    monkeypatch.setattr(np.linalg, "inv", no_inverse)
    A, V = (rng_for("lu" + k).normal(size=(4, 4)) for k in "AV")
    for f in (anp.linalg.det, lambda a: anp.linalg.slogdet(a)[1]):
        def hvp(a):      # second order: one forward over one reverse pass
            return ad.jvp(ad.grad(f), (a,), (V,))[1]

        def third(a):    # third order: reverse over forward over reverse
            return ad.grad(lambda b: anp.sum(hvp(b) * V))(a)
        for derivative in (ad.grad(f), hvp, third):
            calls["lu"] = 0
            derivative(A)
            assert calls["lu"] == 1    # one factorization per evaluation of f


def test_pinv_rule_matches_finite_differences_on_a_rank_preserving_path():
    # rank-deficient A = B C (rank 2); the path A(t) = (B + t dB)(C + t dC) keeps rank 2
    rng = rng_for("pinv rank")
    B, C, dB, dC = (rng.normal(size=s) for s in [(5, 2), (2, 4), (5, 2), (2, 4)])
    A, dA = B @ C, dB @ C + B @ dC
    _, tangent = ad.jvp(anp.linalg.pinv, (A,), (dA,))
    path = lambda t: np.linalg.pinv((B + t * dB) @ (C + t * dC))   # noqa: E731
    fd = (path(1e-6) - path(-1e-6)) / 2e-6
    np.testing.assert_allclose(tangent, fd, atol=1e-6)


# ---------------------------------------------------------------- errors ----
def test_linalg_complex_input_gets_a_dtype_error():
    with pytest.raises(DTypeError, match=r"anp\.linalg\.cholesky.*complex.*\(2, 2\)"):
        anp.linalg.cholesky(np.eye(2) + 0j)


def test_svd_full_matrices_of_a_traced_rectangle_is_refused():
    with pytest.raises(UnsupportedError, match=r"full_matrices=False.*\(3, 2\)|\(3, 2\).*"
                                               r"full_matrices=False"):
        ad.grad(lambda a: anp.sum(anp.linalg.svd(a)[0]))(np.ones((3, 2)) + np.eye(3, 2))


def test_eig_with_complex_eigenvalues_is_refused():
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    with pytest.raises(UnsupportedError, match="complex eigenvalues.*eigh"):
        anp.linalg.eig(rotation)


def test_shape_errors_name_function_and_shapes():
    with pytest.raises(ShapeError, match=r"anp\.linalg\.solve.*\(4,\).*\(3, 3\)"):
        anp.linalg.solve(np.eye(3), np.ones(4))
    with pytest.raises(ShapeError, match=r"anp\.linalg\.det.*square.*\(2, 3\)"):
        anp.linalg.det(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"anp\.moveaxis.*same number"):
        anp.moveaxis(np.ones((2, 3)), (0, 1), 0)
    with pytest.raises(ShapeError, match=r"anp\.trace.*\(3,\)"):
        anp.trace(np.ones(3))
    with pytest.raises(UnsupportedError, match=r"anp\.pad.*mode='median'"):
        anp.pad(np.ones(3), 1, mode="median")
    with pytest.raises(UnsupportedError, match=r"anp\.sum.*out="):
        anp.sum(np.ones(3), out=np.zeros(()))


# ---------------------------------------------------------------- the API page ----
def test_api_page_lists_every_supported_numpy_function():
    from pathlib import Path
    from adlib.numpy import _catalog
    page = (Path(__file__).parent.parent / "book" / "api.md").read_text(encoding="utf-8")
    assert _catalog.block_in(page) == _catalog.markdown(), (
        "book/api.md is stale: run  .venv/bin/python -m adlib.numpy._catalog book/api.md")
    listed = {n for names in _catalog.groups().values() for n in names}
    public = {n for n in dir(anp) if not n.startswith("_")
              and not isinstance(getattr(anp, n), type(np)) and n != "annotations"}
    assert public <= listed


def test_every_differentiable_function_is_exercised_by_a_test():
    from pathlib import Path
    from adlib.numpy import _catalog
    text = "\n".join(p.read_text(encoding="utf-8")
                     for p in Path(__file__).parent.glob("test_*.py"))
    skip = {"Not differentiable", "Helpers", "Data from NumPy"}
    missing = []
    for family, names in _catalog.groups().items():
        prefix = "anp.linalg." if "linalg" in family else "anp."
        missing += [f"{prefix}{n}" for n in names
                    if family not in skip and n != "LUFactor" and f"{prefix}{n}" not in text]
    assert not missing, f"no test calls {missing}"


def test_a_cholesky_whose_primal_reads_one_triangle_is_rejected():
    """The old disagreement, planted: NumPy's primal (lower triangle only) with rules
    for the symmetric part. Checks in general directions must reject it."""
    from adlib.numpy import _decompositions as dec
    planted = ad.Primitive(np.linalg.cholesky, "cholesky_lower_triangle_primal")
    ad.defjvp(planted, dec.cholesky_jvp)
    ad.defvjp(planted, dec.cholesky_vjp)
    A0 = np.array([[4.0, 1.0], [1.0, 3.0]])
    with pytest.raises(AssertionError, match="finite differences"):
        check_jvp(planted, (A0,))
    with pytest.raises(AssertionError, match="dot-product test failed"):
        check_vjp(planted, (A0,))


@pytest.mark.parametrize("transform", ["grad", "jvp", "vjp"])
def test_complex_inputs_to_a_transformation_get_a_dtype_error(transform):
    z = np.array([1.0 + 1.0j, 0.5 - 2.0j])
    f = lambda z: anp.sum(anp.sin(z))   # noqa: E731
    call = {"grad": lambda: ad.grad(f)(z),
            "jvp": lambda: ad.jvp(anp.sin, (z,), (np.ones(2),)),
            "vjp": lambda: ad.vjp(anp.sin, z)}[transform]
    with pytest.raises(DTypeError, match=rf"{transform}: argument 0 is complex.*real "
                                         r"inputs only.*real and imaginary parts"):
        call()
