"""Rosetta: the same three rules in adlib, JAX and PyTorch give the same numbers.

The rule files live in ``tests/rosetta/`` and are included verbatim in the book's
Rosetta appendix. This test

* checks adlib's versions against finite differences and the dot-product test (no
  other framework needed), and against adlib's library functions;
* runs the JAX versions (``jax.custom_jvp`` / ``jax.custom_vjp``) and the PyTorch
  versions (``torch.autograd.Function``) at fixed general random float64 inputs and
  compares outputs, JVPs and VJPs with adlib's, and with each framework's own
  differentiation of the same computation without a custom rule.

JAX and PyTorch are not part of the book's environment: where they are missing, their
tests are reported as skipped, with the reason. ``make rosetta`` runs this file in a
separate virtual environment that has them (CPU builds), with ``ROSETTA_REQUIRE=1`` so that
a missing framework there is a failure, not a skip.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib.qp import solve_eqp as library_solve_eqp
from adlib.testing import check_jvp, check_vjp

RULES_DIR = pathlib.Path(__file__).parent / "rosetta"
RTOL, ATOL = 1e-10, 1e-12


def framework(module: str, what: str):
    """Import JAX or PyTorch; skip with the reason where it is absent, unless required."""
    if os.environ.get("ROSETTA_REQUIRE") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{what} is not installed (run `make rosetta`)")


def load_rules(name: str):
    """Import tests/rosetta/<name>.py as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location(f"rosetta_{name}", RULES_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


adlib_rules = load_rules("adlib_rules")


# ---------------------------------------------------------------- test data ----
def _draw(seed: int):
    """Primals, tangents and output cotangents for each rule: general random float64."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal
    n, m = 5, 2
    Q = normal((n, n))
    Q = Q @ Q.T + n * np.eye(n) + 0.3 * normal((n, n))  # general (non-symmetric) Q, sym(Q) > 0
    cases = {
        "ysinx": (normal(6), normal(6)),
        "solve": (normal((4, 4)) + 2.0 * np.eye(4), normal(4)),
        "eqp": (Q, normal(n), normal((m, n)), normal(m)),
    }
    tangents = {k: tuple(normal(np.shape(p)) for p in v) for k, v in cases.items()}
    cotangents = {"ysinx": normal(6), "solve": normal(4), "eqp": (normal(n), normal(m))}
    return cases, tangents, cotangents


PRIMALS, TANGENTS, COTANGENTS = _draw(seed=20240613)
RULE_NAMES = {"ysinx": ("ysinx", "ysinx_rev"), "solve": ("solve", "solve_rev"),
              "eqp": ("solve_eqp", "solve_eqp_rev")}
# the same computations written without a custom rule (each framework differentiates them)
PLAIN = {
    "ysinx": lambda np_, x, y: y * np_.sin(x),
    "solve": lambda np_, A, b: np_.linalg.solve(A, b),
}


def leaves(x) -> list[np.ndarray]:
    """Flatten a (possibly nested) tuple of arrays/tensors into NumPy arrays."""
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in leaves(item)]
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().numpy()
    return [np.asarray(x, dtype=np.float64)]


def assert_same(got, expected, what: str):
    g, e = leaves(got), leaves(expected)
    assert len(g) == len(e), f"{what}: {len(g)} arrays, expected {len(e)}"
    for k, (a, b) in enumerate(zip(g, e)):
        assert a.shape == b.shape, f"{what}, array {k}: shape {a.shape}, expected {b.shape}"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{what}, array {k}")


def adlib_reference(rule: str):
    """adlib's output, JVP and VJP of a rule (its custom_jvp and custom_vjp versions)."""
    jvp_fn, vjp_fn = (getattr(adlib_rules, name) for name in RULE_NAMES[rule])
    out, out_dot = ad.jvp(jvp_fn, PRIMALS[rule], TANGENTS[rule])
    out_rev, pullback = ad.vjp(vjp_fn, *PRIMALS[rule])
    assert_same(out_rev, out, f"adlib {rule}: outputs of the two versions")
    return out, out_dot, pullback(COTANGENTS[rule])


# ------------------------------------------------------- adlib (always runs) ----
@pytest.mark.parametrize("rule", sorted(RULE_NAMES))
def test_adlib_rules_pass_finite_differences_and_dot_product_test(rule):
    jvp_fn, vjp_fn = (getattr(adlib_rules, name) for name in RULE_NAMES[rule])
    check_jvp(jvp_fn, PRIMALS[rule], seed=1)
    check_vjp(vjp_fn, PRIMALS[rule], seed=2)
    if rule == "ysinx":  # a custom_jvp written with adlib.numpy is transposed for reverse mode
        check_vjp(jvp_fn, PRIMALS[rule], seed=3)


def test_adlib_rules_agree_with_the_library():
    """The Rosetta rules against adlib's own functions (whose rules are tested elsewhere)."""
    x, y = PRIMALS["ysinx"]
    _, ref_dot = ad.jvp(lambda x, y: y * anp.sin(x), PRIMALS["ysinx"], TANGENTS["ysinx"])
    assert_same(adlib_reference("ysinx")[1], ref_dot, "ysinx JVP vs anp")
    for rule, lib in (("solve", anp.linalg.solve), ("eqp", library_solve_eqp)):
        out, out_dot, cts = adlib_reference(rule)
        lib_out, lib_dot = ad.jvp(lib, PRIMALS[rule], TANGENTS[rule])
        _, lib_pullback = ad.vjp(lib, *PRIMALS[rule])
        assert_same(out, lib_out, f"{rule}: output vs library")
        assert_same(out_dot, lib_dot, f"{rule}: JVP vs library")
        assert_same(cts, lib_pullback(COTANGENTS[rule]), f"{rule}: VJP vs library")


def test_rule_files_have_the_marked_sections_the_book_includes():
    """The book includes each rule by its [start ...]/[end ...] markers."""
    for name in ("adlib_rules.py", "jax_rules.py", "torch_rules.py", "rules.jl"):
        text = (RULES_DIR / name).read_text(encoding="utf-8")
        for rule in RULE_NAMES:
            start, end = text.find(f"# [start {rule}]"), text.find(f"# [end {rule}]")
            assert 0 <= start < end, f"{name}: markers of '{rule}' missing or out of order"
            assert text.count(f"# [start {rule}]") == 1 and text.count(f"# [end {rule}]") == 1


# ----------------------------------------------------------------------- JAX ----
@pytest.fixture(scope="module")
def jax_env():
    jax = framework("jax", "JAX")
    rules = load_rules("jax_rules")  # switches on float64
    assert jax.config.jax_enable_x64
    return jax, rules


@pytest.mark.parametrize("rule", sorted(RULE_NAMES))
def test_jax_rules_match_adlib(jax_env, rule):
    jax, rules = jax_env
    out, out_dot, cts = adlib_reference(rule)
    jvp_fn, vjp_fn = (getattr(rules, name) for name in RULE_NAMES[rule])
    primals = tuple(jax.numpy.asarray(p) for p in PRIMALS[rule])
    tangents = tuple(jax.numpy.asarray(t) for t in TANGENTS[rule])

    # custom_jvp: forward mode, and reverse mode by JAX's transposition of the rule
    j_out, j_dot = jax.jvp(jvp_fn, primals, tangents)
    assert_same(j_out, out, f"JAX {rule}: output")
    assert_same(j_dot, out_dot, f"JAX {rule}: JVP (custom_jvp)")
    _, j_pullback = jax.vjp(jvp_fn, *primals)
    assert_same(j_pullback(COTANGENTS[rule]), cts, f"JAX {rule}: VJP (transposed custom_jvp)")

    # custom_vjp: reverse mode
    j_out_rev, j_pullback_rev = jax.vjp(vjp_fn, *primals)
    assert_same(j_out_rev, out, f"JAX {rule}: output (custom_vjp)")
    assert_same(j_pullback_rev(COTANGENTS[rule]), cts, f"JAX {rule}: VJP (custom_vjp)")
    assert all(p.dtype == jax.numpy.float64 for p in leaves(j_dot))


@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_jax_rules_match_jax_without_custom_rules(jax_env, rule):
    """An independent reference: JAX differentiating the plain computation itself."""
    jax, rules = jax_env
    plain = lambda *args: PLAIN[rule](jax.numpy, *args)  # noqa: E731
    jvp_fn, vjp_fn = (getattr(rules, name) for name in RULE_NAMES[rule])
    _, ref_dot = jax.jvp(plain, PRIMALS[rule], TANGENTS[rule])
    _, ref_pullback = jax.vjp(plain, *PRIMALS[rule])
    assert_same(jax.jvp(jvp_fn, PRIMALS[rule], TANGENTS[rule])[1], ref_dot, f"JAX {rule}: JVP")
    assert_same(jax.vjp(vjp_fn, *PRIMALS[rule])[1](COTANGENTS[rule]),
                ref_pullback(COTANGENTS[rule]), f"JAX {rule}: VJP")


def test_jax_eqp_matches_kkt_solve_differentiated_by_jax(jax_env):
    jax, rules = jax_env
    jnp = jax.numpy

    def plain(Q, c, A, b):
        n = Q.shape[0]
        z = jnp.linalg.solve(rules.kkt_matrix(Q, A), jnp.concatenate([-c, b]))
        return z[:n], z[n:]

    _, ref_dot = jax.jvp(plain, PRIMALS["eqp"], TANGENTS["eqp"])
    _, ref_pullback = jax.vjp(plain, *PRIMALS["eqp"])
    assert_same(jax.jvp(rules.solve_eqp, PRIMALS["eqp"], TANGENTS["eqp"])[1], ref_dot, "JVP")
    assert_same(jax.vjp(rules.solve_eqp_rev, *PRIMALS["eqp"])[1](COTANGENTS["eqp"]),
                ref_pullback(COTANGENTS["eqp"]), "VJP")


# ------------------------------------------------------------------- PyTorch ----
@pytest.fixture(scope="module")
def torch_env():
    torch = framework("torch", "PyTorch")
    return torch, load_rules("torch_rules")


def _tensors(torch, arrays):
    return tuple(torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays)


def _torch_cotangent(torch, ct):
    if isinstance(ct, tuple):
        return _tensors(torch, ct)
    return torch.as_tensor(ct)


@pytest.mark.parametrize("rule", sorted(RULE_NAMES))
def test_torch_rules_match_adlib(torch_env, rule):
    torch, rules = torch_env
    out, out_dot, cts = adlib_reference(rule)
    fn = getattr(rules, RULE_NAMES[rule][0])
    primals = _tensors(torch, PRIMALS[rule])
    tangents = _tensors(torch, TANGENTS[rule])
    ybar = _torch_cotangent(torch, COTANGENTS[rule])

    t_out, t_dot = torch.func.jvp(fn, primals, tangents)  # calls Function.jvp
    assert_same(t_out, out, f"PyTorch {rule}: output")
    assert_same(t_dot, out_dot, f"PyTorch {rule}: JVP")
    assert all(t.dtype == torch.float64 for t in (t_dot if isinstance(t_dot, tuple) else (t_dot,)))

    _, pullback = torch.func.vjp(fn, *primals)  # calls Function.backward
    assert_same(pullback(ybar), cts, f"PyTorch {rule}: VJP (torch.func.vjp)")

    # the classic way: .backward() on <ybar, f(x)> fills .grad
    leaves_ = tuple(p.clone().requires_grad_() for p in primals)
    result = fn(*leaves_)
    result = result if isinstance(result, tuple) else (result,)
    ybars = ybar if isinstance(ybar, tuple) else (ybar,)
    sum(torch.sum(r * w) for r, w in zip(result, ybars)).backward()
    assert_same(tuple(p.grad for p in leaves_), cts, f"PyTorch {rule}: VJP (.backward())")


@pytest.mark.parametrize("rule", sorted(RULE_NAMES))
def test_torch_rules_pass_gradcheck(torch_env, rule):
    """PyTorch's own finite-difference check of backward and of the forward-mode jvp."""
    torch, rules = torch_env
    fn = getattr(rules, RULE_NAMES[rule][0])
    primals = tuple(p.clone().requires_grad_() for p in _tensors(torch, PRIMALS[rule]))
    assert torch.autograd.gradcheck(fn, primals, check_forward_ad=True, check_backward_ad=True)


@pytest.mark.parametrize("rule", sorted(PLAIN))
def test_torch_rules_match_torch_without_custom_rules(torch_env, rule):
    torch, rules = torch_env
    plain = lambda *args: PLAIN[rule](torch, *args)  # noqa: E731
    fn = getattr(rules, RULE_NAMES[rule][0])
    primals, tangents = _tensors(torch, PRIMALS[rule]), _tensors(torch, TANGENTS[rule])
    ybar = _torch_cotangent(torch, COTANGENTS[rule])
    assert_same(torch.func.jvp(fn, primals, tangents)[1],
                torch.func.jvp(plain, primals, tangents)[1], f"PyTorch {rule}: JVP")
    assert_same(torch.func.vjp(fn, *primals)[1](ybar),
                torch.func.vjp(plain, *primals)[1](ybar), f"PyTorch {rule}: VJP")
