"""The table of derivative conventions at kinks (pitfalls appendix, section 11).

adlib's column is checked here on every run. The JAX and PyTorch columns are checked
against the real libraries where they are installed, i.e. in the Rosetta venv
(`make test-rosetta`, which sets ROSETTA_REQUIRE=1 so that a missing library fails
instead of skipping).
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp

NAN = float("nan")

# derivative -> (adlib, JAX, PyTorch), as printed in the pitfalls appendix
TABLE = {
    "abs at 0": (0.0, 1.0, 0.0),
    "maximum(x, 0) at 0": (0.5, 0.5, 0.5),
    "norm at 0": (0.0, NAN, 0.0),
    "x**2 at 0": (0.0, 0.0, 0.0),
    "d/dy 0**y at y=2": (0.0, 0.0, 0.0),
    "d/dy (-2)**y at y=2": (NAN, NAN, NAN),
}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _require(module: str):
    if os.environ.get("ROSETTA_REQUIRE") == "1":
        return __import__(module)
    return pytest.importorskip(module)


def _adlib_values() -> dict:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "abs at 0": ad.grad(anp.abs)(0.0),
            "maximum(x, 0) at 0": ad.grad(lambda x: anp.maximum(x, 0.0))(0.0),
            "norm at 0": ad.grad(anp.linalg.norm)(np.zeros(2))[0],
            "x**2 at 0": ad.grad(lambda x: x**2.0)(0.0),
            "d/dy 0**y at y=2": ad.grad(lambda y: 0.0**y)(2.0),
            "d/dy (-2)**y at y=2": ad.grad(lambda y: (-2.0) ** y)(2.0),
        }


@pytest.mark.parametrize("what", list(TABLE))
def test_adlib_column(what):
    assert _same(float(_adlib_values()[what]), TABLE[what][0])


def test_jax_column():
    jax = _require("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    got = {
        "abs at 0": jax.grad(jnp.abs)(0.0),
        "maximum(x, 0) at 0": jax.grad(lambda x: jnp.maximum(x, 0.0))(0.0),
        "norm at 0": jax.grad(jnp.linalg.norm)(jnp.zeros(2))[0],
        "x**2 at 0": jax.grad(lambda x: x**2.0)(0.0),
        "d/dy 0**y at y=2": jax.grad(lambda y: 0.0**y)(2.0),
        "d/dy (-2)**y at y=2": jax.grad(lambda y: (-2.0) ** y)(2.0),
    }
    for what, value in got.items():
        assert _same(float(value), TABLE[what][1]), (what, float(value))


def test_pytorch_column():
    torch = _require("torch")

    def grad(f, x):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        f(t).sum().backward()
        return t.grad

    got = {
        "abs at 0": grad(torch.abs, 0.0),
        "maximum(x, 0) at 0": grad(
            lambda x: torch.maximum(x, torch.zeros((), dtype=torch.float64)), 0.0),
        "norm at 0": grad(torch.linalg.vector_norm, [0.0, 0.0])[0],
        "x**2 at 0": grad(lambda x: x**2.0, 0.0),
        "d/dy 0**y at y=2": grad(
            lambda y: torch.pow(torch.zeros((), dtype=torch.float64), y), 2.0),
        "d/dy (-2)**y at y=2": grad(
            lambda y: torch.pow(torch.full((), -2.0, dtype=torch.float64), y), 2.0),
    }
    for what, value in got.items():
        assert _same(float(value), TABLE[what][2]), (what, float(value))
