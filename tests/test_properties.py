"""Property-based tests of every function of ``adlib.numpy`` (and ``linalg``) with hypothesis.

For random shapes (0-d, size-1 and broadcast dimensions), random axes and
``keepdims``, and random points of each function's domain, every function must

* pass ``check_grads`` in both modes, to second order where it is smooth
  (finite differences and the dot-product test, never its own formula);
* give the same Jacobian in forward and reverse mode (``jacfwd == jacrev``);
* accept its arguments packed in a pytree (a dict holding a list).

Hypothesis draws the shapes, axes and a seed; the values are general random
draws from that seed (no special values), shifted into the function's domain.
The functions are enumerated from the namespaces, so one added later is tested
by the generic elementwise case if it is one, and otherwise fails
``test_every_function_is_covered_or_excluded`` until it gets a case here or a
reason in ``EXCLUDED``. The profile (``tests/conftest.py``) bounds the run:
``ci`` by default, ``deep`` with ``make test-deep``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import adlib as ad
import adlib.numpy as anp
from adlib import tree
from adlib.testing import check_grads, check_vjp

# ------------------------------------------------------------- value domains ----
# A domain turns uniform draws u in [0, 1) into points where the function is smooth.
DOMAINS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "real": lambda u, r: 4.0 * u - 2.0,
    "pos": lambda u, r: 0.3 + 2.5 * u,
    "unit": lambda u, r: 1.6 * u - 0.8,
    "gt1": lambda u, r: 1.3 + 2.0 * u,
    "away0": lambda u, r: (0.3 + 1.5 * u) * r.choice([-1.0, 1.0], size=np.shape(u)),
    # k + a fraction away from 0 and 1/2 (floor, ceil, rint, round are constant there)
    "offint": lambda u, r: r.integers(-3, 3, size=np.shape(u)) + 0.1 + 0.3 * u,
}

# Elementwise functions of one argument: domain, and whether order 2 is checked.
UNARY = {
    "abs": ("away0", 2), "absolute": ("away0", 2), "fabs": ("away0", 2),
    "arccos": ("unit", 2), "arccosh": ("gt1", 2), "arcsin": ("unit", 2),
    "arcsinh": ("real", 2), "arctan": ("real", 2), "arctanh": ("unit", 2),
    "cos": ("real", 2), "cosh": ("real", 2), "exp": ("real", 2), "exp2": ("real", 2),
    "expm1": ("real", 2), "log": ("pos", 2), "log10": ("pos", 2), "log1p": ("pos", 2),
    "log2": ("pos", 2), "negative": ("real", 2), "reciprocal": ("away0", 2),
    "sin": ("real", 2), "sinh": ("real", 2), "sqrt": ("pos", 2), "square": ("real", 2),
    "tan": ("unit", 2), "tanh": ("real", 2), "sign": ("away0", 2), "ceil": ("offint", 2),
    "floor": ("offint", 2), "rint": ("offint", 2), "round": ("offint", 2),
    "sinc": ("away0", 2), "deg2rad": ("real", 2), "rad2deg": ("real", 2),
    "degrees": ("real", 2), "radians": ("real", 2), "real": ("real", 2),
    "conj": ("real", 2), "conjugate": ("real", 2), "nan_to_num": ("real", 2),
    "angle": ("away0", 2), "ravel": ("real", 2), "atleast_1d": ("real", 2),
    "atleast_2d": ("real", 2), "atleast_3d": ("real", 2), "real_if_close": ("real", 2),
}

# Elementwise functions of two broadcasting arguments: the domain of each.
BINARY = {
    "add": ("real", "real"), "subtract": ("real", "real"), "multiply": ("real", "real"),
    "divide": ("real", "away0"), "true_divide": ("real", "away0"),
    "power": ("pos", "real"), "maximum": ("real", "real"), "minimum": ("real", "real"),
    "fmax": ("real", "real"), "fmin": ("real", "real"), "logaddexp": ("real", "real"),
    "logaddexp2": ("real", "real"), "mod": ("real", "away0"),
    "remainder": ("real", "away0"),
}

# Reductions taking axis (None, an int or a tuple) and keepdims.
REDUCTIONS = {"sum": 2, "mean": 2, "prod": 2, "max": 1, "min": 1, "amax": 1, "amin": 1,
              "std": 2, "var": 2}

#: Every other function, and why it has no property test here.
EXCLUDED = {
    # no derivative: boolean or integer results, or plain data
    **{n: "boolean result, nothing to differentiate" for n in (
        "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "isfinite", "isinf", "isnan", "allclose", "_equal", "_not_equal", "_less",
        "_less_equal", "_greater", "_greater_equal")},
    **{n: "integer result or shape query, nothing to differentiate" for n in (
        "argmax", "argmin", "argsort", "shape", "ndim", "size", "shape_of",
        "linalg.shape_of")},
    **{n: "builds data (no argument is differentiated)" for n in (
        "zeros_like", "ones_like", "array", "asarray")},
    "_primal": "internal helper", "_contains_box": "internal helper",
    "_getitem": "indexing: covered by tests/test_numpy_rules.py and test_pytrees.py",
}
# Functions with structured arguments (index lists, several arrays, matrices) are
# tested by hand-written cases below; the rest of them are listed here with the
# test file that covers them with fixed general draws.
HAND_WRITTEN = {
    "cumsum", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "flip",
    "reshape", "broadcast_to", "tril", "triu", "trace", "diagonal", "diag", "concatenate",
    "stack", "hstack", "vstack", "dot", "matmul", "inner", "outer", "tensordot", "vdot",
    "einsum", "kron", "where", "clip", "sort", "diff", "fliplr", "flipud", "roll",
    "linalg.solve", "linalg.inv", "linalg.det", "linalg.slogdet", "linalg.cholesky",
    "linalg.eigh", "linalg.eigvalsh", "linalg.norm", "linalg.pinv", "linalg.svd",
}
HAND_WRITTEN |= {
    "append", "array_split", "column_stack", "cross", "dsplit", "gradient", "hsplit",
    "pad", "partition", "repeat", "rollaxis", "rot90", "row_stack", "select", "split",
    "tile", "vsplit", "linalg.eig", "linalg.eigvals",
}
EXCLUDED["linspace"] = "a constructor: its differentiable arguments are scalar endpoints"
EXCLUDED["linalg.symmetric_part"] = "helper of cholesky/eigh (covered through them)"
EXCLUDED["linalg.unbroadcast"] = "helper of the rules, not a differentiable function"


def _public_functions() -> list[str]:
    """The differentiable-looking public callables of adlib.numpy and adlib.numpy.linalg."""
    names = []
    for prefix, ns in (("", anp), ("linalg.", anp.linalg)):
        for name in dir(ns):
            obj = getattr(ns, name)
            if name.startswith("__") or not callable(obj) or isinstance(obj, type):
                continue
            module = getattr(obj, "__module__", "") or ""
            if not module.startswith("adlib"):     # NumPy's own constructors and constants
                continue
            if prefix and (name.endswith(("_jvp", "_vjp", "_jvp_A", "_jvp_b", "_vjp_A",
                                          "_vjp_b")) or name in ("defjvp", "defvjp")):
                continue                             # rule functions, not user functions
            if prefix and name.startswith("_"):
                continue                             # primitives behind public wrappers
            names.append(prefix + name)
    return sorted(names)


def _resolve(name: str):
    return getattr(anp.linalg, name[7:]) if name.startswith("linalg.") else getattr(anp, name)


def _generic_unary_works(name: str) -> bool:
    """Whether a function not listed anywhere acts elementwise on an array in (0.2, 0.8)."""
    x = np.linspace(0.2, 0.8, 6).reshape(2, 3)
    try:
        y = np.asarray(_resolve(name)(x))
    except Exception:
        return False
    return y.shape == x.shape and y.dtype == np.float64


GENERIC = [n for n in _public_functions()
           if n not in UNARY and n not in BINARY and n not in REDUCTIONS
           and n not in EXCLUDED and n not in HAND_WRITTEN and _generic_unary_works(n)]


def test_every_function_is_covered_or_excluded():
    missing = [n for n in _public_functions()
               if n not in UNARY and n not in BINARY and n not in REDUCTIONS
               and n not in EXCLUDED and n not in HAND_WRITTEN and n not in GENERIC]
    assert not missing, (f"adlib.numpy functions with no property test: {missing}; add a "
                         f"case to tests/test_properties.py or a reason to EXCLUDED")


# ------------------------------------------------------------------ drawing ----
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


def values(domain: str, shape, seed: int, as_float: bool = False):
    r = np.random.default_rng(seed)
    x = DOMAINS[domain](r.random(shape), r)
    return float(x) if (as_float and np.ndim(x) == 0) else np.asarray(x, dtype=float)


def properties(f, args: tuple, order: int, seed: int) -> None:
    """check_grads in both modes, jacfwd == jacrev, and the same through a pytree."""
    check_grads(f, args, order=order, modes=("fwd", "rev"), seed=seed % 1000)
    for i in range(len(args)):
        jf, tdf = tree.flatten(ad.jacfwd(f, argnums=i)(*args))
        jr, tdr = tree.flatten(ad.jacrev(f, argnums=i)(*args))
        assert tdf == tdr, f"jacfwd and jacrev give structures {tdf} and {tdr}"
        for a, b in zip(jf, jr):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12,
                                       err_msg=f"jacfwd != jacrev for argument {i}")

    def packed(tree):
        return f(*tree["args"])
    packed.__name__ = f"packed_{getattr(f, '__name__', 'f')}"
    check_grads(packed, ({"args": list(args)},), order=1, seed=seed % 997)


# ----------------------------------------------------------------- elementwise ----
# Known failures in rules owned by the NumPy helper: name -> reason (strict xfail).
KNOWN_FAILURES: dict[str, str] = {}


def _mark(name):
    if name in KNOWN_FAILURES:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True,
                                                          reason=KNOWN_FAILURES[name]))
    return name


@pytest.mark.parametrize("name", [_mark(n) for n in sorted(UNARY) + GENERIC])
@given(shape=shapes, seed=seeds, as_float=st.booleans())
def test_unary(name, shape, seed, as_float):
    domain, order = UNARY.get(name, ("pos", 1))
    f = _resolve(name)
    properties(f, (values(domain, shape, seed, as_float),), order, seed)


@pytest.mark.parametrize("name", [_mark(n) for n in sorted(BINARY)])
@given(shapes2=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                 max_side=3), seed=seeds)
def test_binary_broadcasting(name, shapes2, seed):
    da, db = BINARY[name]
    sa, sb = shapes2.input_shapes
    a, b = values(da, sa, seed), values(db, sb, seed + 1)
    properties(_resolve(name), (a, b), 2, seed)


@st.composite
def shape_and_axis(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1) if nd else st.none(),
                          st.lists(st.integers(0, nd - 1), unique=True, max_size=nd)
                          .map(tuple) if nd else st.none()))
    return shape, axis


@pytest.mark.parametrize("name", [_mark(n) for n in sorted(REDUCTIONS)])
@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reductions(name, sa, keepdims, seed):
    shape, axis = sa
    g = _resolve(name)

    def f(x):
        return g(x, axis=axis, keepdims=keepdims)
    f.__name__ = name
    properties(f, (values("pos" if name == "prod" else "real", shape, seed),),
               REDUCTIONS[name], seed)


# ------------------------------------------------------------- hand-written ----
@given(sa=shape_and_axis(min_dims=1), seed=seeds)
def test_axis_functions(sa, seed):
    shape, axis = sa
    nd = len(shape)
    x = values("real", shape, seed)
    ax = axis if isinstance(axis, int) else None
    props = [
        lambda x: anp.cumsum(x, axis=ax),
        lambda x: anp.flip(x, axis=axis),
        lambda x: anp.sort(x, axis=-1),
        lambda x: anp.transpose(x, tuple(np.random.default_rng(seed).permutation(nd))),
        lambda x: anp.swapaxes(x, 0, nd - 1),
        lambda x: anp.moveaxis(x, 0, -1),
        lambda x: anp.expand_dims(x, 0),
        lambda x: anp.squeeze(anp.expand_dims(x, -1)),
        lambda x: anp.reshape(x, (-1,)),
        lambda x: anp.broadcast_to(x, (2,) + shape),
        lambda x: anp.diff(x, axis=-1),
        lambda x: anp.roll(x, 1, axis=ax),
        lambda x: anp.clip(x, -0.5, 0.7),
        lambda x: anp.where(np.random.default_rng(seed).random(shape) < 0.5, x, 2.0 * x),
        lambda x: anp.concatenate([x, 2.0 * x], axis=ax or 0),
        lambda x: anp.stack([x, anp.sin(x)], axis=0),
        lambda x: anp.hstack([x, x * x]),
        lambda x: anp.vstack([x, x * x]),
    ]
    for k, f in enumerate(props):
        f.__name__ = f"axis_case_{k}"
        properties(f, (x,), 1, seed)


@given(n=st.integers(1, 4), m=st.integers(1, 4), seed=seeds)
def test_matrix_functions(n, m, seed):
    X = values("real", (n, m), seed)
    Y = values("real", (m, n), seed + 1)
    v = values("real", (m,), seed + 2)
    cases = [
        (lambda X: anp.tril(X), (X,)), (lambda X: anp.triu(X, 1), (X,)),
        (lambda X: anp.diagonal(X), (X,)), (lambda X: anp.trace(X), (X,)),
        (lambda X: anp.diag(anp.diag(X)), (X,)), (lambda X: anp.fliplr(X), (X,)),
        (lambda X: anp.flipud(X), (X,)),
        (anp.dot, (X, v)), (anp.matmul, (X, Y)), (anp.inner, (X, X)), (anp.outer, (v, v)),
        (lambda a, b: anp.tensordot(a, b, axes=1), (X, Y)), (anp.vdot, (X, X)),
        (lambda a, b: anp.einsum("ij,jk->ik", a, b), (X, Y)), (anp.kron, (X, Y)),
    ]
    for k, (f, args) in enumerate(cases):
        f.__name__ = getattr(f, "__name__", "f").replace("<lambda>", f"matrix_case_{k}")
        properties(f, args, 2, seed)


@given(shape=hnp.array_shapes(min_dims=3, max_dims=3, min_side=2, max_side=3), seed=seeds)
def test_structured_argument_functions(shape, seed):
    """Functions whose extra arguments are index lists, counts, widths or conditions."""
    x = values("real", shape, seed)
    r = np.random.default_rng(seed)
    cond = r.random(shape) < 0.5
    v3 = values("real", (4, 3), seed + 1)
    cases = [
        lambda x: anp.append(x, 2.0 * x, axis=0),
        lambda x: anp.append(x, anp.sin(x)),
        lambda x: anp.array_split(x, 2, axis=1),
        lambda x: anp.split(x, [1], axis=2),
        lambda x: anp.hsplit(x, [1]),
        lambda x: anp.vsplit(x, [1]),
        lambda x: anp.dsplit(x, [1]),
        lambda x: anp.column_stack([x[0], x[1]]),
        lambda x: anp.row_stack([x[0], x[1]]),
        lambda x: anp.gradient(x, axis=1),
        lambda x: anp.pad(x, ((1, 0), (0, 2), (1, 1))),
        lambda x: anp.partition(x, 1, axis=-1),
        lambda x: anp.repeat(x, 2, axis=1),
        lambda x: anp.rollaxis(x, 2),
        lambda x: anp.rot90(x, 1, axes=(1, 2)),
        lambda x: anp.select([cond, ~cond], [x, x * x]),
        lambda x: anp.tile(x, (1, 2, 1)),
    ]
    for k, f in enumerate(cases):
        f.__name__ = f"structured_case_{k}"
        properties(f, (x,), 1, seed)
    properties(anp.cross, (v3, values("real", (4, 3), seed + 2)), 2, seed)


def _real_spectrum(n, seed):
    """P diag(d) P⁻¹ with well-separated real eigenvalues d and a well-conditioned P."""
    r = np.random.default_rng(seed)
    d = np.arange(1, n + 1) + 0.4 * r.random(n)
    P = r.standard_normal((n, n)) + n * np.eye(n)
    return P @ np.diag(d) @ np.linalg.inv(P)


@given(n=st.integers(1, 4), seed=seeds)
def test_eig_with_real_spectrum(n, seed):
    A = _real_spectrum(n, seed)
    la = anp.linalg

    def eigvals_sorted(A):
        return anp.sort(la.eigvals(A))

    def eig_projector(A):
        """sum_i w_i v_i v_i^T / (v_i^T v_i): independent of each eigenvector's scale."""
        w, V = la.eig(A)
        return anp.sum(w * V * V / anp.sum(V * V, axis=0), axis=1)

    for f in (eigvals_sorted, eig_projector):
        properties(f, (A,), 1, seed)


def _well(n, seed):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, n)) + n * np.eye(n)


def _spd(n, seed):
    r = np.random.default_rng(seed)
    G = r.standard_normal((n, n))
    return G @ G.T + n * np.eye(n)


@given(n=st.integers(1, 4), k=st.integers(1, 3), seed=seeds)
def test_linalg(n, k, seed):
    la = anp.linalg
    A, S = _well(n, seed), _spd(n, seed + 1)
    B = values("real", (n, k), seed + 2)
    cases = [
        (la.solve, (A, B), 2), (la.inv, (A,), 2), (la.det, (A,), 2),
        (lambda A: la.slogdet(A)[1], (A,), 2), (la.pinv, (A,), 1),
        (la.cholesky, (S,), 2), (la.eigvalsh, (S,), 1),
        (lambda S: la.eigh(S)[0], (S,), 1), (lambda S: la.eigh(S)[1] ** 2, (S,), 1),
        (lambda B: la.norm(B), (B,), 2), (lambda B: la.norm(B, axis=0), (B,), 1),
        (lambda A: la.svd(A, compute_uv=False), (A,), 1),
    ]
    for i, (f, args, order) in enumerate(cases):
        if getattr(f, "__name__", "") == "<lambda>":
            f.__name__ = f"linalg_case_{i}"
        properties(f, args, order, seed)


@given(n=st.integers(2, 4), seed=seeds)
def test_symmetric_input_rules_on_the_symmetric_domain(n, seed):
    """cholesky and eigh checked with tangents drawn among symmetric matrices."""
    from adlib.testing.domains import symmetric
    S = _spd(n, seed)
    for f in (anp.linalg.cholesky, anp.linalg.eigvalsh):
        check_grads(f, (S,), order=1, domain=symmetric, seed=seed % 1000)
        check_vjp(f, (S,), domain=symmetric, seed=seed % 1000 + 1)


# ------------------------------------------------- the properties can fail ----
def test_a_rule_right_only_for_vectors_is_found_by_the_random_shapes():
    """flip along the last axis, with a pullback that flips every axis: right for 0-d and
    1-D inputs, wrong from 2-D on. The random shapes must find it."""
    flip_last = ad.Primitive(lambda x: np.flip(x, axis=-1) if np.ndim(x) else x, "flip_last")
    ad.defjvp(flip_last, lambda t, ans, x: flip_last(t))
    ad.defvjp(flip_last, lambda g, ans, x: np.flip(g) if np.ndim(g) else g)   # wrong

    @given(shape=shapes, seed=seeds)
    def run(shape, seed):
        properties(flip_last, (values("real", shape, seed),), 1, seed)

    with pytest.raises(AssertionError, match=r"flip_last"):
        run()


def test_a_broadcast_cotangent_left_unsummed_is_found():
    """x * y whose pullback for y forgets to sum over the broadcast axes."""
    mul = ad.Primitive(np.multiply, "mul_unsummed")
    ad.defjvp(mul, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
    ad.defvjp(mul, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)   # no unbroadcast

    @given(shapes2=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                     max_side=3), seed=seeds)
    def run(shapes2, seed):
        sa, sb = shapes2.input_shapes
        properties(mul, (values("real", sa, seed), values("real", sb, seed + 1)), 1, seed)

    with pytest.raises((AssertionError, ad.AdlibError), match=r"mul_unsummed"):
        run()
