"""Pytrees: tuples, lists and dicts of arrays as inputs and outputs.

Tangents have the structure of the inputs, cotangents the structure of what
they belong to.  Values are compared with finite differences of NumPy code.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib import tree
from adlib.testing import check_grads

from _core_util import fd_jacobian, seed_of


def rng_for(name):
    return np.random.default_rng(seed_of(name))


def params(rng):
    return {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2),
            "extra": [rng.normal(size=3), (float(rng.normal()), rng.normal(size=(1, 2)))]}


def loss(p, x):
    h = anp.tanh(p["W"] @ x + p["b"])
    a, (c, M) = p["extra"][0], p["extra"][1]
    return anp.sum(h ** 2) * c + anp.sum(a * x) + anp.sum(M @ h[:, None]) ** 2


def loss_np(p, x):
    h = np.tanh(p["W"] @ x + p["b"])
    a, (c, M) = p["extra"][0], p["extra"][1]
    return np.sum(h ** 2) * c + np.sum(a * x) + np.sum(M @ h[:, None]) ** 2


def fd_grad_tree(f_np, p, eps=1e-6):
    """Finite-difference gradient of a scalar function of a pytree, leaf by leaf."""
    leaves, td = tree.flatten(p)
    out = []
    for k, leaf in enumerate(leaves):
        def f_leaf(v, k=k):
            lv = list(leaves)
            lv[k] = v if np.ndim(leaf) else float(v)
            return f_np(tree.unflatten(td, lv))
        out.append(fd_jacobian(f_leaf, np.asarray(leaf, dtype=float)))
    return tree.unflatten(td, out)


def assert_tree_close(a, b, **kw):
    la, ta = tree.flatten(a)
    lb, tb = tree.flatten(b)
    assert ta == tb, f"structures differ: {ta!r} vs {tb!r}"
    for u, v in zip(la, lb):
        assert np.shape(u) == np.shape(v)
        np.testing.assert_allclose(u, v, **kw)


def test_grad_of_nested_dict_list_tuple_has_the_same_structure():
    rng = rng_for("pytree grad")
    p, x = params(rng), rng.normal(size=3)
    g = ad.grad(loss)(p, x)
    assert isinstance(g, dict) and sorted(g) == ["W", "b", "extra"]
    assert isinstance(g["extra"], list) and isinstance(g["extra"][1], tuple)
    assert_tree_close(g, fd_grad_tree(lambda p: loss_np(p, x), p), rtol=1e-6, atol=1e-8)


def test_grad_argnums_tuple_with_pytree_argument():
    rng = rng_for("pytree argnums")
    p, x = params(rng), rng.normal(size=3)
    gp, gx = ad.grad(loss, argnums=(0, 1))(p, x)
    assert_tree_close(gp, ad.grad(loss)(p, x), rtol=1e-14)
    np.testing.assert_allclose(gx, fd_jacobian(lambda x: loss_np(p, x), x), rtol=1e-6, atol=1e-8)


def test_dict_key_order_does_not_matter():
    rng = rng_for("dict order")
    a, b = rng.normal(size=2), rng.normal(size=2)
    f = lambda d: anp.sum(d["a"] * anp.exp(d["b"]))             # noqa: E731
    g1 = ad.grad(f)({"a": a, "b": b})
    g2 = ad.grad(f)({"b": b, "a": a})
    np.testing.assert_allclose(g1["a"], np.exp(b))                # by hand
    np.testing.assert_allclose(g1["b"], a * np.exp(b))
    np.testing.assert_array_equal(g2["a"], g1["a"])
    np.testing.assert_array_equal(g2["b"], g1["b"])


def test_jvp_pytree_inputs_and_outputs():
    rng = rng_for("pytree jvp")
    p, x = params(rng), rng.normal(size=3)
    t = tree.tree_map(lambda v: rng.normal(size=np.shape(v)) if np.ndim(v) else float(rng.normal()), p)

    def f(p):
        return {"loss": loss(p, x), "pair": (p["W"] * 2.0, [anp.sin(p["b"])])}

    y, ydot = ad.jvp(f, (p,), (t,))
    assert tree.flatten(ydot)[1] == tree.flatten(y)[1]
    assert isinstance(ydot["pair"], tuple) and isinstance(ydot["pair"][1], list)
    eps = 1e-6

    def shifted(s):
        return tree.tree_map(lambda u, v: u + s * np.asarray(v), p, t)
    lp, lm = loss_np(shifted(eps), x), loss_np(shifted(-eps), x)
    assert np.isclose(ydot["loss"], (lp - lm) / (2 * eps), rtol=1e-6)
    np.testing.assert_allclose(ydot["pair"][0], 2.0 * t["W"], rtol=1e-14)
    np.testing.assert_allclose(ydot["pair"][1][0], np.cos(p["b"]) * t["b"], rtol=1e-14)


def test_vjp_pytree_output_cotangent_and_input_cotangent_structures():
    rng = rng_for("pytree vjp")
    x, y = rng.normal(size=3), rng.normal(size=(2, 3))

    def f(inp):
        x, y = inp["x"], inp["y"]
        return [y @ x, {"s": anp.sum(x * x), "t": (y[0] * x,)}]

    out, vjp_fn = ad.vjp(f, {"x": x, "y": y})
    assert isinstance(out, list) and isinstance(out[1]["t"], tuple)
    ct = [rng.normal(size=2), {"s": float(rng.normal()), "t": (rng.normal(size=3),)}]
    (g,) = vjp_fn(ct)
    assert isinstance(g, dict) and sorted(g) == ["x", "y"]
    # J^T ct by hand: y@x -> x: y^T c0, y: c0 x^T; sum(x*x) -> x: 2 s x; y[0]*x -> x: y0*c2, y0: x*c2
    c0, s, c2 = ct[0], ct[1]["s"], ct[1]["t"][0]
    gx = y.T @ c0 + 2 * s * x + y[0] * c2
    gy = np.outer(c0, x)
    gy[0] += x * c2
    np.testing.assert_allclose(g["x"], gx, rtol=1e-13)
    np.testing.assert_allclose(g["y"], gy, rtol=1e-13)


def test_vjp_cotangent_for_output_not_depending_on_input():
    x = np.array([0.5, -1.0])
    out, vjp_fn = ad.vjp(lambda x: (anp.sin(x), np.ones(3)), x)
    (g,) = vjp_fn((np.array([1.0, 2.0]), np.full(3, 7.0)))
    np.testing.assert_allclose(g, np.cos(x) * np.array([1.0, 2.0]))


def test_none_leaves_are_carried_through():
    f = lambda p: p[0] * 3.0                                      # noqa: E731
    y, t = ad.jvp(f, ((2.0, None),), ((1.0, None),))
    assert np.isclose(y, 6.0) and np.isclose(t, 3.0)
    (g,) = ad.vjp(f, (2.0, None))[1](1.0)
    assert g[1] is None and np.isclose(g[0], 3.0)


def test_list_input_stays_a_list():
    g = ad.grad(lambda l: l[0] * l[1] ** 2)([3.0, 2.0])
    assert isinstance(g, list)
    np.testing.assert_allclose(g, [4.0, 12.0])      # d/dl0 = l1^2, d/dl1 = 2 l0 l1


@pytest.mark.parametrize("order", [1, 2])
def test_check_grads_on_pytree_function(order):
    rng = rng_for("pytree check_grads")
    p = {"a": rng.normal(size=3), "b": (rng.normal(size=(2, 3)), float(rng.normal()))}

    def f(p, x):
        return {"u": p["b"][0] @ (p["a"] * x), "v": [anp.sin(p["b"][1] * x)]}
    check_grads(f, (p, rng.normal(size=3)), order=order, seed=seed_of("pytree cg"))


def test_hessian_of_pytree_loss_via_flattening_matches_fd():
    """Second order through a pytree: d/dW of the gradient w.r.t. b."""
    rng = rng_for("pytree second order")
    p, x = params(rng), rng.normal(size=3)
    gb = lambda W: ad.grad(loss)({**p, "W": W}, x)["b"]          # noqa: E731
    gb_fd = lambda W: fd_grad_tree(lambda q: loss_np(q, x), {**p, "W": W})["b"]  # noqa: E731
    J = ad.jacfwd(gb)(p["W"])
    J_fd = fd_jacobian(lambda W: ad.grad(loss)({**p, "W": W}, x)["b"], p["W"])
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb(p["W"]), gb_fd(p["W"]), rtol=1e-6, atol=1e-8)


def test_tree_map_names_both_structures_when_they_differ():
    from adlib import tree
    with pytest.raises(ad.ShapeError, match=r"tree_map: the pytrees have different structures, "
                                            r"\(\*, \*\) and \[\*, \*\]"):
        tree.tree_map(lambda a, b: a + b, (1.0, 2.0), [1.0, 2.0])
    with pytest.raises(ValueError):          # the builtin base is kept
        tree.tree_map(lambda a, b: a + b, {"a": 1.0}, {"b": 1.0})
