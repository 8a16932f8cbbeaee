"""Tests of adlib.linearmap: linear maps, inner products, adjoints and the dot-product test."""

import numpy as np
import pytest

import adlib as ad

from adlib.linearmap import (
    DotProductResult,
    LinearMap,
    QuadratureInner,
    TupleInner,
    WeightedInner,
    dot_product_test,
    euclidean,
    linearize,
)

RNG_SEED = 20240611


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)


def spd(rng, n):
    """A general (non-diagonal) symmetric positive definite matrix."""
    G = rng.standard_normal((n, n))
    return G @ G.T + n * np.eye(n)


def axb_map(A, B, name="AXB"):
    return LinearMap(
        lambda X: A @ X @ B,
        lambda W: A.T @ W @ B.T,
        example_in=np.zeros((A.shape[1], B.shape[0])),
        name=name,
    )


def forward_difference(n, h):
    """(D x)_i = (x_{i+1} - x_i) / h, R^n -> R^(n-1); adjoint: minus the backward difference."""

    def action(x):
        return (x[1:] - x[:-1]) / h

    def adjoint_action(w):
        padded = np.concatenate([[0.0], w, [0.0]])  # w_{-1} = w_{n-1} = 0
        return -(padded[1:] - padded[:-1]) / h

    return LinearMap(action, adjoint_action, example_in=np.zeros(n), name="forward difference")


# ---------------------------------------------------------------- construction and application


def test_from_matrix_applies_and_round_trips(rng):
    M = rng.standard_normal((3, 5))
    x = rng.standard_normal(5)
    lm = LinearMap.from_matrix(M, name="M")
    np.testing.assert_allclose(lm(x), M @ x)
    np.testing.assert_allclose(lm @ x, M @ x)
    np.testing.assert_allclose(lm.to_matrix(), M)
    np.testing.assert_allclose(lm.adjoint().to_matrix(), M.T)
    assert lm.shape == (3, 5)


def test_example_out_is_inferred_from_the_action(rng):
    A, B = rng.standard_normal((2, 4)), rng.standard_normal((3, 5))
    lm = axb_map(A, B)
    assert repr(lm) == "LinearMap('AXB': shape (4, 3) -> shape (2, 5), adjoint given)"
    assert lm.shape == (10, 12)


def test_to_matrix_of_axb_is_a_kronecker_product(rng):
    # Row-major vectorization: vec(A X B) = (A kron B^T) vec(X).
    A, B = rng.standard_normal((2, 4)), rng.standard_normal((3, 5))
    np.testing.assert_allclose(axb_map(A, B).to_matrix(), np.kron(A, B.T), atol=1e-14)


def test_maps_on_tuples_apply_and_flatten(rng):
    A = rng.standard_normal((3, 4))
    lm = LinearMap(
        lambda xy: (xy[0] + A @ xy[1], 3.0 * xy[0]),
        lambda w: (w[0] + 3.0 * w[1], A.T @ w[0]),
        example_in=(np.zeros(3), np.zeros(4)),
        name="pair",
    )
    expected = np.block([[np.eye(3), A], [3.0 * np.eye(3), np.zeros((3, 4))]])
    np.testing.assert_allclose(lm.to_matrix(), expected)
    np.testing.assert_allclose(lm.adjoint().to_matrix(), expected.T)
    assert repr(lm) == (
        "LinearMap('pair': tuple (shape (3,), shape (4,)) -> "
        "tuple (shape (3,), shape (3,)), adjoint given)"
    )


def test_default_names():
    def double(x):
        return 2.0 * x

    assert LinearMap(double, example_in=np.zeros(2)).name == "double"
    assert LinearMap(lambda x: x, example_in=np.zeros(2)).name == "anonymous"


# ---------------------------------------------------------------- algebra


def test_composition_sum_difference_scaling_negation(rng):
    P, Q, R = (rng.standard_normal(s) for s in [(3, 4), (4, 2), (3, 4)])
    p, q, r = (LinearMap.from_matrix(M, n) for M, n in [(P, "P"), (Q, "Q"), (R, "R")])
    cases = {
        "P @ Q": (p @ q, P @ Q),
        "compose": (p.compose(q), P @ Q),
        "P + R": (p + r, P + R),
        "P - R": (p - r, P - R),
        "2.5 * P": (2.5 * p, 2.5 * P),
        "P * -0.5": (p * -0.5, -0.5 * P),
        "np.float64(3) * P": (np.float64(3.0) * p, 3.0 * P),
        "-P": (-p, -P),
        "(P - R) @ Q": ((p - r) @ q, (P - R) @ Q),
    }
    for label, (lm, matrix) in cases.items():
        np.testing.assert_allclose(lm.to_matrix(), matrix, err_msg=label, atol=1e-14)
        np.testing.assert_allclose(lm.adjoint().to_matrix(), matrix.T, err_msg=label, atol=1e-14)
    assert (p @ q).name == "P @ Q"
    assert ((p - r) @ q).name == "(P - R) @ Q"
    assert (2.5 * p).name == "2.5 * P"


def test_adjoint_of_adjoint_is_the_map(rng):
    A, B = rng.standard_normal((2, 4)), rng.standard_normal((3, 5))
    lm = axb_map(A, B)
    X = rng.standard_normal((4, 3))
    np.testing.assert_allclose(lm.adjoint().adjoint()(X), lm(X))
    assert lm.adjoint().name == "adjoint(AXB)"
    assert lm.adjoint().adjoint().name == "AXB"


def test_maps_without_adjoint_propagate_and_raise_when_asked(rng):
    M = rng.standard_normal((3, 3))
    no_adjoint = LinearMap(lambda x: M @ x, example_in=np.zeros(3), name="opaque")
    with_adjoint = LinearMap.from_matrix(M, name="M")
    assert not (no_adjoint @ with_adjoint).has_adjoint
    assert not (no_adjoint + with_adjoint).has_adjoint
    np.testing.assert_allclose((no_adjoint @ with_adjoint).to_matrix(), M @ M)
    with pytest.raises(ad.UsageError, match=r"LinearMap 'opaque' has no adjoint action\. Build it"):
        no_adjoint.adjoint()
    with pytest.raises(ad.UsageError, match=r"LinearMap '2 \* opaque' has no adjoint action"):
        dot_product_test(2 * no_adjoint)


# ---------------------------------------------------------------- error messages


def test_input_shape_mismatch_names_map_and_shapes(rng):
    lm = axb_map(rng.standard_normal((2, 4)), rng.standard_normal((3, 5)))
    with pytest.raises(
        ValueError, match=r"LinearMap 'AXB': input has shape \(3, 4\), expected shape \(4, 3\)\."
    ):
        lm(np.zeros((3, 4)))
    with pytest.raises(
        ValueError,
        match=r"LinearMap 'adjoint\(AXB\)': input has shape \(5, 2\), expected shape \(2, 5\)\.",
    ):
        lm.adjoint()(np.zeros((5, 2)))


def test_tuple_structure_mismatch_is_reported():
    lm = LinearMap(
        lambda xy: xy[0] + xy[1], example_in=(np.zeros(2), np.zeros(2)), name="add parts"
    )
    with pytest.raises(
        ValueError,
        match=r"LinearMap 'add parts': input has shape \(2,\), "
        r"expected tuple \(shape \(2,\), shape \(2,\)\)\.",
    ):
        lm(np.zeros(2))


def test_action_returning_wrong_shape_is_reported():
    lm = LinearMap(lambda x: x, example_in=np.zeros(3), example_out=np.zeros(2), name="liar")
    with pytest.raises(
        ValueError,
        match=r"LinearMap 'liar': output of the action has shape \(3,\), expected shape \(2,\)\. "
        r"Check the action",
    ):
        lm(np.ones(3))


def test_composition_and_sum_mismatches_name_both_maps(rng):
    a = LinearMap.from_matrix(rng.standard_normal((3, 4)), name="A")
    b = LinearMap.from_matrix(rng.standard_normal((2, 5)), name="B")
    with pytest.raises(
        ValueError,
        match=r"Cannot compose LinearMap 'A' after LinearMap 'B': 'B' outputs shape \(2,\) "
        r"but 'A' takes shape \(4,\)\.",
    ):
        a @ b
    with pytest.raises(
        ValueError, match=r"Cannot add LinearMap 'A' \(shape \(4,\) -> shape \(3,\)\)"
    ):
        a + b
    with pytest.raises(ad.ShapeError, match=r"Cannot subtract LinearMap 'A'"):
        a - b
    with pytest.raises(ad.UsageError, match=r"use '@' to compose linear maps"):
        a * b
    with pytest.raises(ad.UsageError, match=r"expected a LinearMap, got ndarray"):
        a.compose(np.eye(4))
    with pytest.raises(ad.ShapeError, match=r"expected a 2-D matrix, got an array of shape \(3,\)"):
        LinearMap.from_matrix(np.ones(3))
    with pytest.raises(ad.UsageError, match=r"action must be callable, got ndarray"):
        LinearMap(np.eye(3), example_in=np.zeros(3))


# ---------------------------------------------------------------- inner products


def test_euclidean_is_frobenius_and_sums_over_tuples(rng):
    U, V = rng.standard_normal((2, 3, 4))
    assert euclidean(U, V) == pytest.approx(np.trace(U @ V.T), rel=1e-13)
    u, v = rng.standard_normal((2, 5))
    assert euclidean((U, u), (V, v)) == pytest.approx(np.trace(U @ V.T) + u @ v, rel=1e-13)
    with pytest.raises(ad.ShapeError, match=r"euclidean inner product: u has shape \(3, 4\) but v"):
        euclidean(U, v)


def test_weighted_inner_products(rng):
    M = spd(rng, 4)
    ip = WeightedInner(M)
    u, v = rng.standard_normal((2, 4))
    assert ip(u, v) == pytest.approx(u @ M @ v, rel=1e-13)
    U, V = rng.standard_normal((2, 4, 3))
    assert ip(U, V) == pytest.approx(np.trace(U.T @ M @ V), rel=1e-13)
    np.testing.assert_allclose(ip.metric_inverse(ip.metric(U)), U, atol=1e-12)
    with pytest.raises(ad.ShapeError, match=r"M must be symmetric"):
        WeightedInner(M + np.triu(np.ones((4, 4)), 1))
    with pytest.raises(ad.ShapeError, match=r"M must be positive definite"):
        WeightedInner(-M)
    with pytest.raises(ad.ShapeError, match=r"M must be a square matrix, got shape \(4,\)"):
        WeightedInner(np.ones(4))
    with pytest.raises(ad.ShapeError, match=r"first axis has length 4, got shape \(3,\)"):
        ip(np.ones(3), np.ones(3))


def test_quadrature_inner_product_approximates_an_integral():
    # Trapezoidal weights on [0, 1]; the exact integral of x sin(pi x) is 1/pi.
    for n, expected_bound in [(101, 1e-4), (1001, 1e-6)]:
        x = np.linspace(0.0, 1.0, n)
        h = x[1] - x[0]
        weights = np.full(n, h)
        weights[[0, -1]] = h / 2
        ip = QuadratureInner(weights)
        error = abs(ip(np.sin(np.pi * x), x) - 1.0 / np.pi)
        assert 0 < error < expected_bound
    with pytest.raises(ad.ShapeError, match=r"all weights must be positive"):
        QuadratureInner(np.array([1.0, 0.0]))
    with pytest.raises(
        ValueError, match=r"weights of shape \(1001,\) do not fit an input of shape \(3,\)"
    ):
        ip(np.ones(3), np.ones(3))


def test_tuple_inner_product(rng):
    M = spd(rng, 3)
    ip = TupleInner(WeightedInner(M), euclidean)
    u, v = (rng.standard_normal(3), rng.standard_normal((2, 2))), (
        rng.standard_normal(3),
        rng.standard_normal((2, 2)),
    )
    assert ip(u, v) == pytest.approx(u[0] @ M @ v[0] + np.sum(u[1] * v[1]), rel=1e-13)
    with pytest.raises(
        ValueError, match=r"TupleInner: expected a tuple of 2 parts, got shape \(3,\)"
    ):
        ip(np.ones(3), np.ones(3))
    with pytest.raises(ad.UsageError, match=r"pass one InnerProduct per tuple entry"):
        TupleInner(M)


# ---------------------------------------------------------------- dot-product test: passes


def correct_maps(rng):
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((5, 2))
    K = rng.standard_normal((4, 6))
    n = 5
    return [
        LinearMap.from_matrix(rng.standard_normal((3, 7)), name="rectangular matrix"),
        axb_map(A, B),
        LinearMap(lambda X: (X + X.T) / 2, lambda W: (W + W.T) / 2, example_in=np.zeros((n, n)),
                  name="symmetrize"),
        LinearMap(lambda X: X.T, lambda W: W.T, example_in=np.zeros((3, 5)), name="transpose"),
        LinearMap(np.trace, lambda w: w * np.eye(n), example_in=np.zeros((n, n)), name="trace"),
        LinearMap(lambda x: x[2:5], lambda w: np.pad(w, (2, 2)), example_in=np.zeros(7),
                  name="slice 2:5"),
        LinearMap(lambda X: X @ K, lambda W: W @ K.T, example_in=np.zeros((2, 4)), name="X K"),
        LinearMap(
            lambda xy: (xy[0] @ K + xy[1], np.sum(xy[0])),
            lambda w: (np.outer(np.ones(2), np.ones(4)) * w[1] + w[0] @ K.T, w[0]),
            example_in=(np.zeros((2, 4)), np.zeros((2, 6))),
            name="tuple map",
        ),
        forward_difference(9, 0.1),
    ]


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_dot_product_test_passes_on_correct_adjoints(rng, seed):
    for lm in correct_maps(rng):
        result = dot_product_test(lm, seed=seed)
        assert isinstance(result, DotProductResult)
        assert result.passed and result.rel_error < 1e-13, lm.name
        # The two numbers are the inner products themselves, not a normalized quantity.
        assert abs(result.lhs) > 1e-3


def test_dot_product_test_matches_a_hand_computation(rng):
    A = rng.standard_normal((3, 4))
    lm = LinearMap.from_matrix(A, "A")
    result = dot_product_test(lm, seed=42)
    draws = np.random.default_rng(42)
    x, w = draws.standard_normal(4), draws.standard_normal(3)
    assert result.lhs == pytest.approx(w @ (A @ x), rel=1e-13)
    assert result.rhs == pytest.approx((A.T @ w) @ x, rel=1e-13)
    wrong = dot_product_test(lm, adjoint=lambda w: A.T @ w + 0.1 * w[0], seed=42,
                             raise_on_failure=False)
    lhs, rhs = w @ (A @ x), (A.T @ w + 0.1 * w[0]) @ x
    assert wrong.rel_error == pytest.approx(abs(lhs - rhs) / max(abs(lhs), abs(rhs)), rel=1e-10)


def test_zero_map_passes():
    zero = LinearMap(lambda x: 0.0 * x[:2], lambda w: np.zeros(3), example_in=np.zeros(3),
                     name="zero")
    result = dot_product_test(zero)
    assert result.passed and result.lhs == 0.0 and result.rel_error == 0.0


def test_weighted_adjoint_passes_under_weighted_inner_product(rng):
    A = rng.standard_normal((4, 4))
    M = spd(rng, 4)
    lm = LinearMap.from_matrix(A, "A")
    ip = WeightedInner(M)
    adjoint = lm.adjoint(ip)
    assert adjoint.name == "adjoint(A) under weighted(M)"
    assert dot_product_test(lm, adjoint=adjoint, inner=ip).passed
    # Independently of the library's inner-product objects: u^T M (A x) == (A† u)^T M x.
    x, u = rng.standard_normal((2, 4))
    assert u @ M @ (A @ x) == pytest.approx(adjoint(u) @ M @ x, rel=1e-12)
    # And the matrix is the textbook M^-1 A^T M.
    np.testing.assert_allclose(adjoint.to_matrix(), np.linalg.solve(M, A.T @ M), atol=1e-12)
    # The weighted adjoint of the weighted adjoint is the map again.
    np.testing.assert_allclose(adjoint.adjoint(ip).to_matrix(), A, atol=1e-12)


def test_adjoint_between_different_inner_products(rng):
    # A: R^3 (weighted by M) -> 2x2 matrices on a grid with weights q (quadrature).
    A = rng.standard_normal((4, 3))
    M = spd(rng, 3)
    q = rng.uniform(0.5, 2.0, size=(2, 2))
    lm = LinearMap(lambda x: (A @ x).reshape(2, 2), lambda w: A.T @ w.ravel(),
                   example_in=np.zeros(3), name="reshape A")
    ip_in, ip_out = WeightedInner(M), QuadratureInner(q, name="q")
    adjoint = lm.adjoint(ip_in, ip_out)
    assert dot_product_test(lm, adjoint=adjoint, inner=ip_in, inner_out=ip_out).passed
    x, w = rng.standard_normal(3), rng.standard_normal((2, 2))
    assert np.sum(q * w * lm(x)) == pytest.approx(adjoint(w) @ M @ x, rel=1e-12)


def test_weighted_adjoint_on_tuples(rng):
    M = spd(rng, 3)
    C = rng.standard_normal((3, 2))
    lm = LinearMap(lambda xy: (xy[0] + C @ xy[1], 2.0 * xy[1]),
                   lambda w: (w[0], C.T @ w[0] + 2.0 * w[1]),
                   example_in=(np.zeros(3), np.zeros(2)), name="block")
    ip = TupleInner(WeightedInner(M), euclidean)
    assert dot_product_test(lm, adjoint=lm.adjoint(ip), inner=ip).passed
    assert not dot_product_test(lm, inner=ip, raise_on_failure=False).passed


def test_adjoint_may_be_a_plain_function(rng):
    A = rng.standard_normal((3, 2))
    lm = LinearMap(lambda x: A @ x, example_in=np.zeros(2), name="A")

    def a_transpose(w):
        return A.T @ w

    assert dot_product_test(lm, adjoint=a_transpose).passed
    with pytest.raises(ad.CheckFailure, match=r"dot-product test failed for LinearMap 'A'"):
        dot_product_test(lm, adjoint=lambda w: A.T @ (2 * w))
    wrong_space = LinearMap.from_matrix(np.eye(3), "I3")
    with pytest.raises(
        ValueError, match=r"the adjoint 'I3' maps shape \(3,\) -> shape \(3,\), but"
    ):
        dot_product_test(lm, adjoint=wrong_space)
    with pytest.raises(ad.UsageError, match=r"dot_product_test: expected a LinearMap, got function"):
        dot_product_test(a_transpose)


# ---------------------------------------------------------------- dot-product test: failures


def test_forgotten_transpose_fails_with_a_readable_message(rng):
    A, B = rng.standard_normal((2, 4, 4))
    wrong = LinearMap(lambda X: A @ X @ B, lambda W: A.T @ W @ B, example_in=np.zeros((4, 4)),
                      name="AXB (forgot B^T)")
    with pytest.raises(ad.CheckFailure) as info:
        dot_product_test(wrong, seed=3)
    message = str(info.value)
    assert "dot-product test failed for LinearMap 'AXB (forgot B^T)'" in message
    assert "(inner products: euclidean; seed 3)" in message
    result = dot_product_test(wrong, seed=3, raise_on_failure=False)
    assert f"<w, A x>  = {result.lhs:.12g}" in message
    assert f"<A* w, x> = {result.rhs:.12g}  (A* = the adjoint)" in message
    assert not result.passed and result.rel_error > 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_identity_is_not_the_adjoint_of_symmetrization(seed):
    # With a symmetric seed W the wrong adjoint W -> W would pass:
    # <W, (X + X^T)/2> = <W, X> for symmetric W. General seeds catch it.
    wrong = LinearMap(lambda X: (X + X.T) / 2, lambda W: W, example_in=np.zeros((4, 4)),
                      name="symmetrize (wrong adjoint)")
    result = dot_product_test(wrong, seed=seed, raise_on_failure=False)
    assert not result.passed and result.rel_error > 1e-4
    W = np.random.default_rng(seed).standard_normal((4, 4))
    W = W + W.T
    X = np.random.default_rng(seed + 100).standard_normal((4, 4))
    assert euclidean(W, wrong(X)) == pytest.approx(euclidean(wrong.adjoint()(W), X), rel=1e-12)


def test_wrong_boundary_in_difference_adjoint_fails():
    n, h = 8, 0.25
    good = forward_difference(n, h)
    wrong = LinearMap(good._action, lambda w: -np.diff(w, prepend=0.0, append=0.0)[::-1] / h,
                      example_in=np.zeros(n), name="difference (reversed adjoint)")
    assert dot_product_test(good).passed
    assert not dot_product_test(wrong, raise_on_failure=False).passed


def test_euclidean_adjoint_fails_under_weighted_inner_product(rng):
    A = rng.standard_normal((4, 4))
    M = spd(rng, 4)
    lm = LinearMap.from_matrix(A, "A")
    with pytest.raises(
        AssertionError,
        match=r"(?s)dot-product test failed for LinearMap 'A':.*"
        r"\(inner products: weighted\(M\); seed 0\).*"
        r"pass adjoint=linear_map\.adjoint\(inner, inner_out\)",
    ):
        dot_product_test(lm, inner=WeightedInner(M))


def test_result_repr_is_deterministic_and_readable(rng):
    A = rng.standard_normal((3, 3))
    good = dot_product_test(LinearMap.from_matrix(A, "A"), seed=1)
    assert repr(good) == (
        f"DotProductResult('A', lhs={good.lhs:.8g}, rhs={good.rhs:.8g}, passed=True)"
    )
    bad = dot_product_test(LinearMap.from_matrix(A, "A"), adjoint=lambda w: A @ w, seed=1,
                           raise_on_failure=False)
    assert repr(bad) == (
        f"DotProductResult('A', lhs={bad.lhs:.8g}, rhs={bad.rhs:.8g}, "
        f"rel_error={bad.rel_error:.2e}, passed=False)"
    )


# ---------------------------------------------------------------- linearize


def _adlib():
    ad = pytest.importorskip("adlib")
    if not hasattr(ad, "jvp"):
        pytest.skip("adlib core (jvp/vjp) not available yet")
    import adlib.numpy as anp

    return ad, anp


def central_difference(f, primals, tangents, eps=1e-6):
    plus = f(*[p + eps * t for p, t in zip(primals, tangents)])
    minus = f(*[p - eps * t for p, t in zip(primals, tangents)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


def test_linearize_single_input_matches_finite_differences_and_vjp(rng):
    ad, anp = _adlib()

    def f(X):
        return anp.sin(X) @ X + X.T * X

    X = rng.standard_normal((3, 3))
    out, df = linearize(f, X)
    np.testing.assert_allclose(out, np.sin(X) @ X + X.T * X, rtol=1e-13)
    assert df.name == "linearize(f)"
    Xdot = rng.standard_normal((3, 3))
    np.testing.assert_allclose(df(Xdot), central_difference(f, [X], [Xdot]), rtol=1e-6, atol=1e-8)
    W = rng.standard_normal((3, 3))
    np.testing.assert_allclose(df.adjoint()(W), ad.vjp(f, X)[1](W)[0], rtol=1e-13)
    assert dot_product_test(df, seed=5).passed
    # The pushforward is linear even though f is not.
    U, V = rng.standard_normal((2, 3, 3))
    np.testing.assert_allclose(df(2.0 * U - 3.0 * V), 2.0 * df(U) - 3.0 * df(V), atol=1e-12)


def test_linearize_several_inputs_and_tuple_output(rng):
    ad, anp = _adlib()

    def f(x, A):
        y = A @ anp.tanh(x)
        return y * x[:2], anp.sum(y ** 2)

    x, A = rng.standard_normal(3), rng.standard_normal((2, 3))
    (y0, s0), df = linearize(f, x, A)
    assert s0 == pytest.approx(np.sum((A @ np.tanh(x)) ** 2), rel=1e-13)
    tangents = (rng.standard_normal(3), rng.standard_normal((2, 3)))
    pushed = df(tangents)
    for got, name in zip(pushed, ["y", "s"]):
        index = 0 if name == "y" else 1
        expected = central_difference(lambda *a: f(*a)[index], [x, A], tangents)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=name)
    cotangent = (rng.standard_normal(2), 0.7)
    xbar, Abar = df.adjoint()(cotangent)
    vjp_x, vjp_A = ad.vjp(f, x, A)[1](cotangent)
    np.testing.assert_allclose(xbar, vjp_x, rtol=1e-13)
    np.testing.assert_allclose(Abar, vjp_A, rtol=1e-13)
    assert dot_product_test(df, seed=11).passed
    with pytest.raises(ad.ShapeError, match=r"LinearMap 'linearize\(f\)': input has shape \(3,\)"):
        df(np.ones(3))


def test_linearize_to_matrix_is_the_jacobian(rng):
    ad, anp = _adlib()

    def g(x):
        return anp.exp(x[1:]) * x[:-1]

    x = rng.standard_normal(4)
    _, dg = linearize(g, x)
    expected = np.zeros((3, 4))
    for j in range(4):
        e = np.zeros(4)
        e[j] = 1.0
        expected[:, j] = central_difference(g, [x], [e])
    np.testing.assert_allclose(dg.to_matrix(), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dg.adjoint().to_matrix(), dg.to_matrix().T, atol=1e-13)


def test_linearize_needs_a_primal():
    _adlib()
    with pytest.raises(ad.UsageError, match=r"linearize: pass at least one primal value"):
        linearize(lambda x: x)


def test_maps_on_dicts(rng):
    A = rng.standard_normal((2, 3))
    lm = LinearMap(
        lambda p: {"out": A @ p["x"] + p["b"]},
        lambda w: {"b": w["out"], "x": A.T @ w["out"]},
        example_in={"x": np.zeros(3), "b": np.zeros(2)},
        name="affine part",
    )
    assert repr(lm) == (
        "LinearMap('affine part': dict {'b': shape (2,), 'x': shape (3,)} -> "
        "dict {'out': shape (2,)}, adjoint given)"
    )
    # Keys are flattened in sorted order: b first, then x.
    np.testing.assert_allclose(lm.to_matrix(), np.hstack([np.eye(2), A]))
    assert dot_product_test(lm, seed=4).passed
    assert dot_product_test(2.0 * lm - lm @ LinearMap(lambda p: p, lambda p: p, example_in={
        "x": np.zeros(3), "b": np.zeros(2)}, name="id"), seed=4).passed
    with pytest.raises(ad.ShapeError, match=r"input has dict \{'x': shape \(3,\)\}, expected dict"):
        lm({"x": np.zeros(3)})


# ---------------------------------------------------------------- one pytree, one dot-product test


def test_lists_stay_lists(rng):
    """The structures are adlib.tree's: a list input gives list outputs and adjoints."""
    K = rng.standard_normal((3, 2))
    lm = LinearMap(lambda xs: [xs[0] @ K, 2.0 * xs[1]], lambda ws: [ws[0] @ K.T, 2.0 * ws[1]],
                   example_in=[np.zeros(3), np.zeros(4)], name="list map")
    assert repr(lm) == ("LinearMap('list map': list [shape (3,), shape (4,)] -> "
                        "list [shape (2,), shape (4,)], adjoint given)")
    y = lm([np.ones(3), np.ones(4)])
    assert isinstance(y, list) and isinstance(lm.adjoint()(y), list)
    assert isinstance((2.0 * lm)([np.ones(3), np.ones(4)]), list)
    dot_product_test(lm, seed=3)
    with pytest.raises(ad.ShapeError, match=r"input has tuple \(shape \(3,\), shape \(4,\)\), "
                                         r"expected list \[shape \(3,\), shape \(4,\)\]"):
        lm((np.ones(3), np.ones(4)))


def test_check_vjp_and_dot_product_test_share_one_comparison(rng, monkeypatch):
    """Both go through dot_product_identity, and judge the same wrong adjoint alike."""
    import adlib.linearmap.dot_test as dot_test
    from adlib.testing import check_vjp

    calls = []
    real = dot_test.dot_product_identity

    def spy(*args, **kwargs):
        calls.append(kwargs.get("name"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dot_test, "dot_product_identity", spy)
    import adlib.testing.checks as checks
    monkeypatch.setattr(checks, "dot_product_identity", spy)

    A = rng.standard_normal((5, 5))
    wrong_adjoint = A.T.copy()
    wrong_adjoint[2, 3] *= 1.5

    @ad.custom_vjp
    def matvec(x):
        return A @ x

    matvec.defvjp(lambda x: (matvec(x), None), lambda _, g: (wrong_adjoint @ g,))
    lm = LinearMap(lambda x: A @ x, lambda w: wrong_adjoint @ w, example_in=np.zeros(5),
                   name="matvec")
    assert not dot_product_test(lm, raise_on_failure=False).passed
    with pytest.raises(ad.CheckFailure, match=r"check_vjp\(matvec\): dot-product test failed"):
        check_vjp(matvec, (rng.standard_normal(5),))
    assert calls == ["matvec", "matvec"]
