"""adlib.observe: counting the engine's work and the arrays a trace keeps."""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib import engine, observe

from _core_util import seed_of


@pytest.fixture
def rng(request):
    return np.random.default_rng(seed_of(request.node.name))


def _chain(n):
    def f(x):
        for _ in range(n):
            x = anp.sin(x)
        return anp.sum(x)
    return f


@pytest.mark.parametrize("n", [1, 4, 9])
def test_reverse_mode_counts_one_rule_per_operation(n, rng):
    x = rng.standard_normal(5)
    with observe.count() as counts:
        ad.grad(_chain(n))(x)
    assert counts.primal == {"sin": n, "sum": 1}
    assert counts.vjp == {"sin": n, "sum": 1}
    assert counts.jvp == {}
    assert counts.totals == {"primal": n + 1, "jvp": 0, "vjp": n + 1}


def test_forward_mode_counts_one_rule_per_traced_argument(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    with observe.count() as both:
        ad.jvp(lambda a, b: a * b, (x, y), (x, y))
    with observe.count() as one:
        ad.jvp(lambda a: a * y, (x,), (x,))
    assert both.jvp["multiply"] == 2 and one.jvp["multiply"] == 1
    assert both.primal["multiply"] == one.primal["multiply"] == 1


def test_varargs_jvp_rule_counts_once_per_call(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    with observe.count() as counts:
        ad.jvp(lambda u, v: anp.einsum("ij,j->i", u, v), (a, b), (a, b))
    assert counts.jvp["einsum"] == 1


def test_untraced_calls_and_unused_cotangents_are_not_counted(rng):
    x = rng.standard_normal(4)
    with observe.count() as counts:
        anp.sin(x)
        ad.grad(lambda u: anp.sum(u * x))(x)     # x is a constant inside
    assert counts.primal == {"multiply": 1, "sum": 1}
    assert counts.vjp == {"multiply": 1, "sum": 1}   # only the traced factor's rule


def test_higher_order_counts_each_primal_once(rng):
    x = rng.standard_normal(3)
    with observe.count() as counts:
        ad.jvp(ad.grad(lambda u: anp.sum(anp.exp(u))), (x,), (x,))
    # the primal of exp runs once although exp is traced at two levels
    assert counts.primal["exp"] == 1
    assert counts.vjp["exp"] == 1


def test_custom_pullbacks_are_counted_under_their_name(rng):
    @ad.custom_vjp
    def double(x):
        return 2.0 * x

    double.defvjp(lambda x: (2.0 * x, None), lambda res, g: (2.0 * g,))
    with observe.count() as counts:
        ad.grad(lambda u: anp.sum(double(u)))(rng.standard_normal(3))
    assert counts.vjp["double"] == 1


def test_blocks_nest_and_the_engine_is_restored():
    call, cot = engine.Primitive.__call__, engine.Node.cotangents
    x = np.ones(2)
    with observe.count() as outer:
        ad.grad(_chain(1))(x)
        with observe.count() as inner:
            ad.grad(_chain(2))(x)
        assert engine.Primitive.__call__ is not call
    assert inner.primal["sin"] == 2 and outer.primal["sin"] == 3
    assert engine.Primitive.__call__ is call and engine.Node.cotangents is cot
    with pytest.raises(ZeroDivisionError):
        with observe.count():
            1 / 0
    assert engine.Primitive.__call__ is call and engine.Primitive.vjp_term.__name__ == "vjp_term"


# ------------------------------------------------------------ saved_arrays ----
def test_saved_arrays_counts_intermediates_not_inputs(rng):
    x = rng.standard_normal(7)
    report = observe.saved_arrays(lambda u: anp.sin(u) * u, x)
    # nodes: the input, sin, multiply; saved: sin(x) (answer and argument) and the product
    assert report.nodes == 3
    assert report.shapes == [(7,), (7,)]
    assert report.nbytes == 2 * x.nbytes
    assert not any(a is x for a in report.arrays)


def test_saved_arrays_counts_a_view_once_by_its_base(rng):
    A = rng.standard_normal((4, 3))
    report = observe.saved_arrays(lambda M: anp.exp(M).T * 2.0, A)
    # exp(A) is saved, and its transpose (a view of it) is not counted again
    assert sorted(a.shape for a in report.arrays) == [(3, 4), (4, 3)]
    assert report.nbytes == 2 * A.nbytes
    view_of_input = observe.saved_arrays(lambda M: anp.sum(M.T), A)
    assert view_of_input.arrays == []


def test_saved_arrays_sees_custom_residuals(rng):
    big = rng.standard_normal((6, 6))

    @ad.custom_vjp
    def scale(x):
        return 3.0 * x

    scale.defvjp(lambda x: (3.0 * x, big.copy()), lambda res, g: (3.0 * g,))
    report = observe.saved_arrays(scale, rng.standard_normal(6))
    assert (6, 6) in report.shapes
    assert report.nbytes == sum(a.nbytes for a in report.arrays)
