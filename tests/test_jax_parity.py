"""adlib's transformations behave as JAX documents (issue 20, issue 14.5).

JAX is not installed here: each expected structure is written from JAX's
documented conventions (``jax.grad``, ``jax.value_and_grad``, ``jax.vjp``,
``jax.jacfwd``/``jacrev``/``hessian`` with ``has_aux``; ``custom_jvp.defjvps``;
the nested Jacobian layout of pytree inputs and outputs), and every value is
checked against central finite differences, never against adlib itself.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp

from _core_util import fd_directional, fd_jacobian, seed_of


@pytest.fixture
def rng(request):
    return np.random.default_rng(seed_of(request.node.name))


def loss_with_metrics(w, x):
    """A loss and the metrics a training loop would log (JAX's has_aux use case)."""
    pred = anp.tanh(x @ w)
    loss = anp.sum(pred ** 2)
    return loss, {"pred": pred, "max": anp.max(pred)}


def _loss_only(x):
    return lambda w: float(loss_with_metrics(w, x)[0])


# ---------------------------------------------------------------- has_aux ----
def test_grad_has_aux_returns_gradient_and_aux(rng):
    w, x = rng.standard_normal(3), rng.standard_normal((4, 3))
    g, aux = ad.grad(loss_with_metrics, has_aux=True)(w, x)        # JAX: (g, aux)
    np.testing.assert_allclose(g, fd_jacobian(_loss_only(x), w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(aux["pred"], np.tanh(x @ w), rtol=1e-12)
    assert type(aux["pred"]) is np.ndarray and set(aux) == {"pred", "max"}


def test_value_and_grad_has_aux_nests_value_and_aux(rng):
    w, x = rng.standard_normal(3), rng.standard_normal((4, 3))
    (value, aux), g = ad.value_and_grad(loss_with_metrics, has_aux=True)(w, x)
    assert value == pytest.approx(np.sum(np.tanh(x @ w) ** 2), rel=1e-12)
    assert aux["max"] == pytest.approx(np.max(np.tanh(x @ w)), rel=1e-12)
    np.testing.assert_allclose(g, fd_jacobian(_loss_only(x), w), rtol=1e-6, atol=1e-8)


def test_grad_has_aux_with_tuple_argnums(rng):
    w, x = rng.standard_normal(3), rng.standard_normal((4, 3))
    (gw, gx), aux = ad.grad(loss_with_metrics, argnums=(0, 1), has_aux=True)(w, x)
    gx_fd = fd_jacobian(lambda xx: float(loss_with_metrics(w, xx)[0]), x)
    np.testing.assert_allclose(gx, gx_fd, rtol=1e-6, atol=1e-8)
    assert gw.shape == w.shape and "pred" in aux


def test_vjp_has_aux_returns_three_values(rng):
    x = rng.standard_normal(4)
    ybar = rng.standard_normal(4)
    out, pullback, aux = ad.vjp(lambda u: (anp.sin(u) * u, anp.sum(u)), x, has_aux=True)
    (xbar,) = pullback(ybar)
    J = fd_jacobian(lambda u: np.sin(u) * u, x)
    np.testing.assert_allclose(xbar, J.T @ ybar, rtol=1e-6, atol=1e-8)
    assert aux == pytest.approx(np.sum(x), rel=1e-12)


def test_jvp_has_aux(rng):
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    y, ydot, aux = ad.jvp(lambda u: (anp.exp(u), u * 2.0), (x,), (v,), has_aux=True)
    np.testing.assert_allclose(ydot, fd_directional(np.exp, x, v), rtol=1e-6)
    np.testing.assert_allclose(aux, 2.0 * x)
    assert type(aux) is np.ndarray


@pytest.mark.parametrize("jac", [ad.jacfwd, ad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobians_has_aux(jac, rng):
    x = rng.standard_normal(3)
    J, aux = jac(lambda u: (anp.sin(u) * anp.sum(u), {"norm": anp.sum(u * u)}),
                 has_aux=True)(x)
    np.testing.assert_allclose(J, fd_jacobian(lambda u: np.sin(u) * np.sum(u), x),
                               rtol=1e-6, atol=1e-8)
    assert aux["norm"] == pytest.approx(float(x @ x), rel=1e-12)


def test_hessian_has_aux(rng):
    x = rng.standard_normal(3)
    H, aux = ad.hessian(lambda u: (anp.sum(anp.sin(u) * u[0]), u[1]), has_aux=True)(x)
    g = ad.grad(lambda u: anp.sum(anp.sin(u) * u[0]))
    np.testing.assert_allclose(H, fd_jacobian(g, x), rtol=1e-6, atol=1e-8)
    assert aux == x[1]


def test_aux_stays_traced_for_an_outer_transformation(rng):
    """Under an outer jvp, aux still carries the outer tangent (JAX: aux is a tracer)."""
    x, v = rng.standard_normal(3), rng.standard_normal(3)

    def inner_aux(u):
        return ad.grad(lambda w: (anp.sum(w * w), anp.sin(w)), has_aux=True)(u)[1]

    _, t = ad.jvp(inner_aux, (x,), (v,))
    np.testing.assert_allclose(t, np.cos(x) * v, rtol=1e-12)


# ---------------------------------------------------------------- defjvps ----
def test_defjvps_one_rule_per_argument(rng):
    @ad.custom_jvp
    def f(x, y):
        return y * anp.sin(x)

    f.defjvps(lambda x_dot, out, x, y: y * anp.cos(x) * x_dot,
              lambda y_dot, out, x, y: anp.sin(x) * y_dot)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    u, v = rng.standard_normal(4), rng.standard_normal(4)
    plain = lambda a, b: b * np.sin(a)   # noqa: E731
    _, t = ad.jvp(f, (x, y), (u, v))
    fd = (plain(x + 1e-6 * u, y + 1e-6 * v) - plain(x - 1e-6 * u, y - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(t, fd, rtol=1e-6, atol=1e-9)
    # reverse mode transposes the summed rule: check the dot-product identity
    ybar = rng.standard_normal(4)
    xbar, ybar_y = ad.vjp(f, x, y)[1](ybar)
    assert ybar @ t == pytest.approx(xbar @ u + ybar_y @ v, rel=1e-10)


def test_defjvps_none_means_no_dependence(rng):
    @ad.custom_jvp
    def g(x, n):
        return x * 3.0

    g.defjvps(lambda x_dot, out, x, n: 3.0 * x_dot, None)
    x, n = rng.standard_normal(2), rng.standard_normal(2)
    _, t = ad.jvp(g, (x, n), (np.ones(2), rng.standard_normal(2)))
    np.testing.assert_allclose(t, 3.0 * np.ones(2))


def test_defjvps_rejects_nondiff_argnums():
    h = ad.custom_jvp(lambda k, x: k * x, nondiff_argnums=(0,))
    with pytest.raises(ad.UsageError, match=r"defjvps cannot be used with nondiff_argnums"):
        h.defjvps(lambda x_dot, out, k, x: k * x_dot)


# ------------------------------------------------- multi-argument Jacobians ----
def test_jacfwd_traces_every_argnum_at_once(rng):
    """JAX: jacfwd(lambda M, v: M.dot(v), argnums=(0, 1)) works and agrees with jacrev."""
    M, v = rng.standard_normal((3, 2)), rng.standard_normal(2)
    f = lambda M_, v_: M_.dot(v_)   # noqa: E731  (an ndarray method on each argument)
    JM, Jv = ad.jacfwd(f, argnums=(0, 1))(M, v)
    RM, Rv = ad.jacrev(f, argnums=(0, 1))(M, v)
    assert JM.shape == (3, 3, 2) and Jv.shape == (3, 2)
    np.testing.assert_allclose(JM, fd_jacobian(lambda m: m @ v, M), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(Jv, fd_jacobian(lambda w: M @ w, v), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(JM, RM, rtol=1e-12)
    np.testing.assert_allclose(Jv, Rv, rtol=1e-12)


# --------------------------------------------------------- pytree Jacobians ----
def _params(rng):
    return {"w": rng.standard_normal(3), "b": float(rng.standard_normal())}


def _model(p):
    return {"out": anp.sin(p["w"]) * p["b"], "norm": anp.sum(p["w"] ** 2)}


@pytest.mark.parametrize("jac", [ad.jacfwd, ad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_dict_to_dict_nests_output_then_input(jac, rng):
    """JAX: J[out_key][in_key] has shape out_leaf.shape + in_leaf.shape."""
    p = _params(rng)
    J = jac(_model)(p)
    assert set(J) == {"out", "norm"} and all(set(J[k]) == {"w", "b"} for k in J)
    assert J["out"]["w"].shape == (3, 3) and J["out"]["b"].shape == (3,)
    assert J["norm"]["w"].shape == (3,) and J["norm"]["b"].shape == ()
    np.testing.assert_allclose(
        J["out"]["w"], fd_jacobian(lambda w: np.sin(w) * p["b"], p["w"]), rtol=1e-6)
    np.testing.assert_allclose(
        J["out"]["b"], fd_jacobian(lambda b: np.sin(p["w"]) * b, p["b"]), rtol=1e-6)
    np.testing.assert_allclose(J["norm"]["w"], fd_jacobian(lambda w: w @ w, p["w"]),
                               rtol=1e-6)


@pytest.mark.parametrize("jac", [ad.jacfwd, ad.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_tuple_output_and_list_input(jac, rng):
    xs = [rng.standard_normal(2), rng.standard_normal(3)]
    J = jac(lambda l: (l[0] * 2.0, anp.sum(l[1]) * l[0]))(xs)
    assert isinstance(J, tuple) and all(isinstance(row, list) for row in J)
    assert [[b.shape for b in row] for row in J] == [[(2, 2), (2, 3)], [(2, 2), (2, 3)]]
    np.testing.assert_allclose(J[1][1], fd_jacobian(lambda v: np.sum(v) * xs[0], xs[1]),
                               rtol=1e-6)
    np.testing.assert_allclose(J[0][1], np.zeros((2, 3)))


def test_jacobian_with_tuple_argnums_puts_a_tuple_at_each_output_leaf(rng):
    x, y = rng.standard_normal(2), rng.standard_normal(2)
    f = lambda a, b: {"s": a * b, "t": anp.sum(a)}   # noqa: E731
    for jac in (ad.jacfwd, ad.jacrev):
        J = jac(f, argnums=(0, 1))(x, y)
        assert isinstance(J["s"], tuple) and len(J["s"]) == 2
        np.testing.assert_allclose(J["s"][0], np.diag(y), rtol=1e-12)
        np.testing.assert_allclose(J["t"][1], np.zeros(2))


def test_hessian_of_a_dict_input_is_a_dict_of_dicts(rng):
    p = _params(rng)
    H = ad.hessian(lambda q: anp.sum(anp.sin(q["w"]) * q["b"] ** 2))(p)
    assert H["w"]["w"].shape == (3, 3) and H["w"]["b"].shape == (3,)
    assert H["b"]["w"].shape == (3,) and H["b"]["b"].shape == ()
    grad_w = ad.grad(lambda w: anp.sum(anp.sin(w) * p["b"] ** 2))
    np.testing.assert_allclose(H["w"]["w"], fd_jacobian(grad_w, p["w"]), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(H["w"]["b"], H["b"]["w"], rtol=1e-12)
    assert H["b"]["b"] == pytest.approx(2 * np.sum(np.sin(p["w"])), rel=1e-12)


# ---------------------------------------------------------- ndarray methods ----
X = np.arange(1.0, 25.0).reshape(2, 3, 4) / 7.0
METHOD_FORMS = [
    ("transpose((1, 0, 2))", lambda a: a.transpose((1, 0, 2))),
    ("transpose(2, 0, 1)", lambda a: a.transpose(2, 0, 1)),
    ("transpose()", lambda a: a.transpose()),
    ("transpose(None)", lambda a: a.transpose(None)),
    ("T", lambda a: a.T),
    ("reshape((4, 6))", lambda a: a.reshape((4, 6))),
    ("reshape(6, -1)", lambda a: a.reshape(6, -1)),
    ("reshape(-1, order='F')", lambda a: a.reshape(-1, order="F")),
    ("ravel()", lambda a: a.ravel()),
    ("flatten()", lambda a: a.flatten()),
    ("sum(axis=(0, 1))", lambda a: a.sum(axis=(0, 1))),
    ("sum(1, keepdims=True)", lambda a: a.sum(1, keepdims=True)),
    ("mean(axis=-1)", lambda a: a.mean(axis=-1)),
    ("mean()", lambda a: a.mean()),
    ("var(axis=0, ddof=1)", lambda a: a.var(axis=0, ddof=1)),
    ("std()", lambda a: a.std()),
    ("max(axis=(0, 2))", lambda a: a.max(axis=(0, 2))),
    ("min(2)", lambda a: a.min(2)),
    ("prod(axis=0)", lambda a: a.prod(axis=0)),
    ("cumsum(axis=1)", lambda a: a.cumsum(axis=1)),
    ("cumsum()", lambda a: a.cumsum()),
    ("repeat(2, axis=0)", lambda a: a.repeat(2, axis=0)),
    ("clip(0.5, 2.0)", lambda a: a.clip(0.5, 2.0)),
    ("clip(max=2.0)", lambda a: a.clip(max=2.0)),
    ("dot(v)", lambda a: a.dot(np.linspace(-1.0, 1.0, 4))),
    ("swapaxes(0, 2)", lambda a: a.swapaxes(0, 2)),
    ("squeeze()", lambda a: a[:1].squeeze()),
    ("diagonal(1)", lambda a: a[0].diagonal(1)),
    ("trace()", lambda a: a[1].trace()),
    ("copy()", lambda a: a.copy()),
    ("astype(float)", lambda a: a.astype(float)),
]


@pytest.mark.parametrize("form,method", METHOD_FORMS, ids=[m[0] for m in METHOD_FORMS])
def test_ndarray_methods_take_numpys_argument_forms(form, method, rng):
    """Each form gives NumPy's value on a traced array, and the right derivative."""
    x = X + 0.01 * rng.standard_normal(X.shape)       # no ties for max/min/clip
    v = rng.standard_normal(X.shape)
    y, t = ad.jvp(method, (x,), (v,))
    np.testing.assert_allclose(y, method(x), rtol=1e-12)
    np.testing.assert_allclose(t, fd_directional(method, x, v), rtol=1e-5, atol=1e-8)
    ybar = rng.standard_normal(np.shape(y))
    (xbar,) = ad.vjp(method, x)[1](ybar)
    assert np.sum(ybar * t) == pytest.approx(np.sum(xbar * v), rel=1e-9, abs=1e-12)


def test_ndarray_methods_refuse_out_arguments():
    with pytest.raises(ad.UnsupportedError, match=r"anp\.sum: out= writes in place"):
        ad.grad(lambda a: a.sum(out=np.empty(())))(np.ones(3))
    with pytest.raises(ad.TracingError, match=r"x\.sort\(\) sorts in place.*anp\.sort\(x\)"):
        ad.grad(lambda a: a.sort())(np.ones(3))


def test_moveaxis_with_tuple_axes(rng):
    x = rng.standard_normal((2, 3, 4))
    f = lambda a: anp.moveaxis(a, (0, 1), (2, 0))   # noqa: E731
    np.testing.assert_array_equal(f(x), np.moveaxis(x, (0, 1), (2, 0)))
    v = rng.standard_normal(x.shape)
    np.testing.assert_allclose(ad.jvp(f, (x,), (v,))[1], np.moveaxis(v, (0, 1), (2, 0)))


def test_non_differentiable_methods_read_the_primal(rng):
    x = rng.standard_normal((3, 4))
    seen = {}

    def f(a):
        seen.update(argsort=a.argsort(), round=a.round(1), any=a.any(axis=0),
                    argmax=a.argmax(), nonzero=a.nonzero())
        return anp.sum(a)

    ad.grad(f)(x)
    np.testing.assert_array_equal(seen["argsort"], x.argsort())
    np.testing.assert_array_equal(seen["round"], x.round(1))
    np.testing.assert_array_equal(seen["any"], x.any(axis=0))
    assert seen["argmax"] == x.argmax()
    assert all(np.array_equal(u, v) for u, v in zip(seen["nonzero"], x.nonzero()))
