"""Rosetta: every rule of the book in adlib, JAX and PyTorch gives the same numbers.

The rule files live in ``tests/rosetta/`` and the book's Rosetta appendix includes their
marked sections verbatim (``[start <rule>]`` ... ``[end <rule>]``). This test

* checks adlib's versions against finite differences and the dot-product test, and
  against adlib's library functions (independent implementations of the same rules);
* runs the JAX versions (``jax.custom_jvp`` / ``jax.custom_vjp``) and checks them with
  ``jax.test_util.check_grads`` (forward and reverse mode, second order where the rule
  supports it) and against adlib: outputs, JVPs and VJPs at general random float64
  inputs, tangents and cotangents;
* runs the PyTorch versions (``torch.autograd.Function``) through ``torch.func.jvp``,
  ``torch.func.vjp`` and ``.backward()``, checks them with ``torch.autograd.gradcheck``
  (reverse and forward mode) and ``gradgradcheck``, and against adlib;
* checks that the appendix shows every rule in all four versions.

JAX and PyTorch are not part of the book's environment: where they are missing, their
tests are reported as skipped, with the reason. ``make test-rosetta`` runs this file in a
separate virtual environment that has them (CPU builds), with ``ROSETTA_REQUIRE=1`` so that
a missing framework there is a failure, not a skip.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import pathlib
import re
from dataclasses import dataclass

import numpy as np
import pytest

import adlib as ad
import adlib.linalg as alg
import adlib.numpy as anp
from adlib.implicit import fixed_point_diff, implicit_diff
from adlib.ode import odeint
from adlib.qp import interior_point_qp, solve_eqp, solve_qp
from adlib.testing import check_jvp, check_vjp

ROOT = pathlib.Path(__file__).parent.parent
RULES_DIR = ROOT / "tests" / "rosetta"
PAGE = ROOT / "book" / "appendices" / "rosetta.md"
RTOL, ATOL = 1e-9, 1e-11
RULE_FILES = {"adlib": "adlib_rules.py", "jax": "jax_rules.py", "torch": "torch_rules.py",
              "julia": "rules.jl"}


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


# ---------------------------------------------------------------- the rules ----
@dataclass(frozen=True)
class Rule:
    """One rule of the book and what its framework versions support.

    ``name`` is the function's name in every rule file. ``adlib_rev``, ``jax_rev``: the
    adlib or JAX file also has ``<name>_rev``, a ``custom_vjp``. ``adlib_transposable`` and
    ``jax_transposable``: the framework can transpose the ``custom_jvp`` for reverse mode
    (its tangent is computed with operations the framework differentiates). ``jax_order``: the
    order ``check_grads`` checks (``jax_rev_order`` for ``<name>_rev``: first order by
    default, to keep the run short; second derivatives are checked on the ``custom_jvp``
    version). ``torch_twice``: the Function's backward can be
    differentiated again (else it is ``once_differentiable`` and must say so).
    """

    name: str
    adlib_rev: bool = False
    jax_rev: bool = False
    adlib_transposable: bool = True
    jax_transposable: bool = True
    jax_order: int = 2
    jax_rev_order: int = 1
    torch_twice: bool = True


RULES = {r.name: r for r in [
    Rule("ysinx", adlib_rev=True, jax_rev=True, jax_rev_order=2),
    Rule("solve", adlib_rev=True, jax_rev=True, adlib_transposable=False, torch_twice=False),
    Rule("inv"), Rule("det"), Rule("logabsdet"), Rule("quad_form"), Rule("congruence"),
    # JAX cannot transpose its own solve_sylvester (no rule for the Schur form)
    Rule("lyapunov", jax_rev=True, jax_transposable=False, torch_twice=False),
    Rule("sylvester", jax_rev=True, jax_transposable=False, torch_twice=False),
    Rule("cholesky"), Rule("eigh"),
    Rule("expm", adlib_rev=True, jax_rev=True, jax_transposable=False),
    Rule("frobenius"), Rule("spectral"), Rule("softplus"), Rule("logsumexp"),
    Rule("cubic_root"), Rule("fixed_point"),
    Rule("solve_eqp", adlib_rev=True, jax_rev=True, adlib_transposable=False, torch_twice=False),
    Rule("solve_qp_active", torch_twice=False),
    # JAX: the JVP integrates the sensitivities in a lax loop; reverse mode by odeint_rev
    Rule("odeint", adlib_rev=True, jax_rev=True, jax_transposable=False, jax_order=1,
         torch_twice=False),
]}


def _draw(seed: int):
    """Static arguments and primals of each rule: general random float64 (fixed seed)."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal
    n = 4

    def spd(k):
        S = normal((k, k))
        return S @ S.T + k * np.eye(k)

    W = normal((6, 6))
    W *= 0.8 / np.linalg.norm(W, 2)  # a contraction: the fixed point is unique
    Q = spd(5) + 0.3 * normal((5, 5))  # general (non-symmetric) Q with sym(Q) > 0
    # an inequality QP (own seed) whose active set adlib's interior-point solver finds
    qp_rng = np.random.default_rng(2)
    S, G, x_feasible = (qp_rng.standard_normal(s) for s in [(5, 5), (7, 5), 5])
    A_eq = qp_rng.standard_normal((1, 5))
    qp = (S @ S.T + 5 * np.eye(5) + 0.3 * qp_rng.standard_normal((5, 5)),
          10 * qp_rng.standard_normal(5), A_eq, A_eq @ x_feasible, G,
          G @ x_feasible + qp_rng.uniform(0.1, 1.0, 7))
    res = interior_point_qp(*qp)
    # strict complementarity, with margins far above the finite-difference steps
    assert res.weak.size == 0 and 0 < res.active.size < 5
    assert res.mu[res.active].min() > 1 and np.delete(res.slack, res.active).min() > 0.1
    cases = {
        "ysinx": (normal(6), normal(6)),
        "solve": (normal((n, n)) + 2 * np.eye(n), normal(n)),
        "inv": (normal((n, n)) + 2 * np.eye(n),),
        "det": (normal((n, n)) + 2 * np.eye(n),),
        "logabsdet": (normal((n, n)),),
        "quad_form": (normal(n), normal((n, n))),
        "congruence": (normal((n, n)), normal((n, 3))),
        "lyapunov": (normal((n, n)) - 3 * np.eye(n), normal((n, n))),  # A stable
        "sylvester": (normal((n, n)) + 3 * np.eye(n), normal((3, 3)) + 3 * np.eye(3),
                      normal((n, 3))),
        "cholesky": (spd(n) + 0.3 * normal((n, n)),),  # the rule factors sym(A)
        "eigh": (normal((n, n)),),  # the rule decomposes sym(A)
        "expm": (0.5 * normal((n, n)),),
        "frobenius": (normal((n, 3)),),
        "spectral": (normal((n, 3)),),
        "softplus": (3 * normal(6),),
        "logsumexp": (3 * normal(6),),
        "cubic_root": (np.array(1.0 + rng.uniform(0.2, 0.8)),),
        "fixed_point": (W, normal(6)),
        "solve_eqp": (Q, normal(5), normal((2, 5)), normal(2)),
        "solve_qp_active": qp,
        "odeint": (normal(3), normal((3, 3)), normal(3)),
    }
    static = {name: () for name in cases}
    static["solve_qp_active"] = (tuple(int(i) for i in res.active),)
    return static, cases


STATIC, PRIMALS = _draw(seed=20261207)


def adlib_fn(rule: str, suffix: str = ""):
    fn = getattr(adlib_rules, rule + suffix)
    return functools.partial(fn, *STATIC[rule]) if STATIC[rule] else fn


def _like(rng, x):
    return tuple(_like(rng, v) for v in x) if isinstance(x, tuple) else \
        rng.standard_normal(np.shape(x))


def _tangents_and_cotangents(seed: int):
    rng = np.random.default_rng(seed)
    tangents = {k: tuple(rng.standard_normal(np.shape(p)) for p in v)
                for k, v in PRIMALS.items()}
    outputs = {k: adlib_fn(k)(*v) for k, v in PRIMALS.items()}
    cotangents = {k: _like(rng, out) for k, out in outputs.items()}
    return tangents, cotangents


TANGENTS, COTANGENTS = _tangents_and_cotangents(seed=6)


def leaves(x) -> list[np.ndarray]:
    """Flatten a (possibly nested) tuple of arrays/tensors into NumPy arrays."""
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in leaves(item)]
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().numpy()
    return [np.asarray(x, dtype=np.float64)]


def assert_same(got, expected, what: str, rtol: float = RTOL):
    g, e = leaves(got), leaves(expected)
    assert len(g) == len(e), f"{what}: {len(g)} arrays, expected {len(e)}"
    for k, (a, b) in enumerate(zip(g, e)):
        assert a.shape == b.shape, f"{what}, array {k}: shape {a.shape}, expected {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=ATOL, err_msg=f"{what}, array {k}")


@functools.lru_cache(maxsize=None)
def adlib_reference(rule: str):
    """adlib's output, JVP and VJP of a rule."""
    fn = adlib_fn(rule)
    out, out_dot = ad.jvp(fn, PRIMALS[rule], TANGENTS[rule])
    rev = fn if RULES[rule].adlib_transposable else adlib_fn(rule, "_rev")
    out_rev, pullback = ad.vjp(rev, *PRIMALS[rule])
    assert_same(out_rev, out, f"adlib {rule}: outputs of jvp and vjp")
    return out, out_dot, pullback(COTANGENTS[rule])


# --------------------------------------------- adlib's library: the same rules ----
def _newton(F, dF, x, *theta):
    for _ in range(100):
        x = x - F(x, *theta) / dF(x, *theta)
    return x


@implicit_diff(lambda x, a: a * x**3 - x - 2)
def _library_cubic_root(a):
    return _newton(lambda x, a: a * x**3 - x - 2, lambda x, a: 3 * a * x**2 - 1, 1.5, a)


@fixed_point_diff(lambda z, W, x: anp.tanh(W @ z + x))
def _library_fixed_point(W, x):
    return adlib_rules.fixed_point(W, x)


def _sym(A):
    return 0.5 * (A + anp.transpose(A))


LIBRARY = {
    "ysinx": lambda x, y: y * anp.sin(x),
    "solve": anp.linalg.solve,
    "inv": anp.linalg.inv,
    "det": anp.linalg.det,
    "logabsdet": lambda A: anp.linalg.slogdet(A)[1],
    "quad_form": alg.quad_form,
    "congruence": alg.congruence,
    "lyapunov": alg.solve_lyapunov,
    "sylvester": alg.solve_sylvester,
    "cholesky": lambda A: anp.linalg.cholesky(_sym(A)),
    "expm": alg.expm,
    "frobenius": anp.linalg.norm,
    "spectral": lambda A: anp.linalg.norm(A, 2),
    "softplus": lambda x: anp.log(1 + anp.exp(x)),  # fine at these moderate x
    "logsumexp": lambda x: anp.log(anp.sum(anp.exp(x))),
    "cubic_root": _library_cubic_root,
    "fixed_point": _library_fixed_point,
    "solve_eqp": solve_eqp,
    "solve_qp_active": solve_qp,  # finds the active set itself
    "odeint": lambda y0, W, b: odeint(lambda y, t, W, b: anp.tanh(W @ y + b), y0,
                                      np.array([0.0, adlib_rules.T]), W, b,
                                      rtol=1e-12, atol=1e-12)[-1],
}
# adlib.ode.odeint is adaptive; the rules use a fixed-step Runge-Kutta method
LIBRARY_RTOL = {"odeint": 1e-7}


def test_every_rule_but_eigh_has_an_independent_library_version():
    assert set(LIBRARY) == set(RULES) - {"eigh"}  # eigh: compared with JAX and PyTorch


@pytest.mark.parametrize("rule", sorted(RULES))
def test_adlib_rules_pass_finite_differences_and_dot_product_test(rule):
    spec = RULES[rule]
    check_jvp(adlib_fn(rule), PRIMALS[rule], seed=1)
    if spec.adlib_transposable:
        check_vjp(adlib_fn(rule), PRIMALS[rule], seed=2)  # custom_jvp, transposed
    else:  # SciPy in the tangent: adlib cannot transpose it
        with pytest.raises(ad.TracingError):
            ad.vjp(adlib_fn(rule), *PRIMALS[rule])[1](COTANGENTS[rule])
    if spec.adlib_rev:
        check_vjp(adlib_fn(rule, "_rev"), PRIMALS[rule], seed=3)
        out_rev, pullback = ad.vjp(adlib_fn(rule, "_rev"), *PRIMALS[rule])
        out, _, cts = adlib_reference(rule)
        assert_same(out_rev, out, f"adlib {rule}_rev: output")
        assert_same(pullback(COTANGENTS[rule]), cts, f"adlib {rule}_rev: VJP")


@pytest.mark.parametrize("rule", sorted(LIBRARY))
def test_adlib_rules_agree_with_the_library(rule):
    """The Rosetta rules against adlib's own functions (whose rules are tested elsewhere)."""
    out, out_dot, cts = adlib_reference(rule)
    lib = LIBRARY[rule]
    lib_out, lib_dot = ad.jvp(lib, PRIMALS[rule], TANGENTS[rule])
    _, lib_pullback = ad.vjp(lib, *PRIMALS[rule])
    rtol = LIBRARY_RTOL.get(rule, RTOL)
    assert_same(out, lib_out, f"{rule}: output vs library", rtol)
    assert_same(out_dot, lib_dot, f"{rule}: JVP vs library", rtol)
    assert_same(cts, lib_pullback(COTANGENTS[rule]), f"{rule}: VJP vs library", rtol)


def test_the_eigh_rule_agrees_with_the_library_up_to_signs():
    (A,) = PRIMALS["eigh"]
    (d, V), (d_dot, V_dot), _ = adlib_reference("eigh")
    (d_lib, V_lib), (d_dot_lib, V_dot_lib) = ad.jvp(
        lambda A: anp.linalg.eigh(_sym(A)), (A,), TANGENTS["eigh"])
    signs = np.sign(np.sum(V * V_lib, axis=0))  # each column is +-1 times the other
    assert_same((d, V, d_dot, V_dot), (d_lib, V_lib * signs, d_dot_lib, V_dot_lib * signs),
                "eigh vs library")


def test_a_wrong_rule_is_rejected_by_the_checks_used_here():
    """The checks can fail: a pullback with a transpose missing is caught."""
    @ad.custom_vjp
    def inv_wrong(A):
        return np.linalg.inv(A)

    def inv_wrong_fwd(A):
        Y = np.linalg.inv(A)
        return Y, Y

    def inv_wrong_bwd(Y, Y_bar):
        return (-(Y @ Y_bar @ Y),)  # should be -Y^T Y_bar Y^T

    inv_wrong.defvjp(inv_wrong_fwd, inv_wrong_bwd)
    with pytest.raises(AssertionError):
        check_vjp(inv_wrong, PRIMALS["inv"], seed=2)
    with pytest.raises(AssertionError):
        assert_same(ad.vjp(inv_wrong, *PRIMALS["inv"])[1](COTANGENTS["inv"]),
                    adlib_reference("inv")[2], "planted wrong rule")


# ------------------------------------------------------------------ the page ----
def _markers(text: str) -> list[str]:
    starts = re.findall(r"\[start ([a-z_]+)\]", text)
    ends = re.findall(r"\[end ([a-z_]+)\]", text)
    assert starts == ends, "every [start x] needs its [end x], in the same order"
    assert len(set(starts)) == len(starts), "a marker is used twice"
    return starts


def test_every_rule_is_in_every_file_and_on_the_page():
    """What is shown is what is tested: the page includes each marked section once."""
    page = PAGE.read_text(encoding="utf-8")
    includes = re.findall(r"```\{literalinclude\} \.\./\.\./tests/rosetta/(\S+)\n"
                          r"(?::[^\n]*\n)*?:start-after: \"\[start ([a-z_]+)\]\"\n"
                          r":end-before: \"\[end \2\]\"", page)
    for file in RULE_FILES.values():
        markers = _markers((RULES_DIR / file).read_text(encoding="utf-8"))
        assert set(markers) == set(RULES), f"{file}: rules {sorted(set(markers) ^ set(RULES))}"
        shown = [rule for f, rule in includes if f == file]
        assert sorted(shown) == sorted(RULES), f"{file}: the page shows {sorted(shown)}"
    assert page.count("::::{tab-set}") == len(RULES)


def _sections(text: str) -> dict[str, str]:
    return {rule: text.split(f"[start {rule}]", 1)[1].split("\n", 1)[1]
            .split(f"[end {rule}]", 1)[0].rsplit("\n", 1)[0] for rule in _markers(text)}


@pytest.mark.parametrize("file", sorted(RULE_FILES.values()))
def test_every_shown_section_lexes_cleanly(file):
    """Sphinx highlights each included section alone; a lexing error fails `-W`."""
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Error
    lexer = get_lexer_by_name("julia" if file.endswith(".jl") else "python")
    for rule, code in _sections((RULES_DIR / file).read_text(encoding="utf-8")).items():
        bad = [v for t, v in lexer.get_tokens(code) if t in Error]
        assert not bad, f"{file}, section {rule}: the lexer fails at {bad[:3]}"
        too_long = [line for line in code.splitlines() if len(line) > 88]
        assert not too_long, f"{file}, section {rule}: lines over 88 characters"


# ----------------------------------------------------------------------- JAX ----
@pytest.fixture(scope="module")
def jax_env():
    jax = framework("jax", "JAX")
    rules = load_rules("jax_rules")  # switches on float64
    assert jax.config.jax_enable_x64
    return jax, rules


def _jax_fn(rules, rule, suffix=""):
    fn = getattr(rules, rule + suffix)
    return functools.partial(fn, *STATIC[rule]) if STATIC[rule] else fn


@pytest.mark.parametrize("rule", sorted(RULES))
def test_jax_rules_match_adlib_and_pass_check_grads(jax_env, rule):
    jax, rules = jax_env
    from jax.test_util import check_grads
    spec = RULES[rule]
    out, out_dot, cts = adlib_reference(rule)
    primals = tuple(jax.numpy.asarray(p) for p in PRIMALS[rule])
    tangents = tuple(jax.numpy.asarray(t) for t in TANGENTS[rule])
    fn = _jax_fn(rules, rule)

    j_out, j_dot = jax.jvp(fn, primals, tangents)  # custom_jvp: forward mode
    assert_same(j_out, out, f"JAX {rule}: output")
    assert_same(j_dot, out_dot, f"JAX {rule}: JVP")
    assert all(a.dtype == jax.numpy.float64 for a in jax.tree_util.tree_leaves(j_dot))
    modes = ["fwd"]
    if spec.jax_transposable:  # reverse mode by JAX's transposition of the rule
        _, pullback = jax.vjp(fn, *primals)
        assert_same(pullback(COTANGENTS[rule]), cts, f"JAX {rule}: VJP (transposed JVP)")
        modes.append("rev")
    check_grads(fn, primals, order=spec.jax_order, modes=modes)
    if spec.jax_rev:  # the custom_vjp version: reverse mode only
        fn_rev = _jax_fn(rules, rule, "_rev")
        out_rev, pullback = jax.vjp(fn_rev, *primals)
        assert_same(out_rev, out, f"JAX {rule}_rev: output")
        assert_same(pullback(COTANGENTS[rule]), cts, f"JAX {rule}_rev: VJP")
        check_grads(fn_rev, primals, order=spec.jax_rev_order, modes=["rev"])


def test_jax_check_grads_rejects_a_planted_wrong_rule(jax_env):
    """The JAX checks can fail: an inverse whose pullback misses its transposes."""
    jax, rules = jax_env
    from jax.test_util import check_grads
    jnp = jax.numpy

    @jax.custom_vjp
    def inv_wrong(A):
        return jnp.linalg.inv(A)

    def inv_wrong_fwd(A):
        Y = jnp.linalg.inv(A)
        return Y, Y

    def inv_wrong_bwd(Y, Y_bar):
        return (-(Y @ Y_bar @ Y),)  # should be -Y^T Y_bar Y^T

    inv_wrong.defvjp(inv_wrong_fwd, inv_wrong_bwd)
    (A,) = PRIMALS["inv"]
    with pytest.raises(AssertionError):
        check_grads(inv_wrong, (A,), order=1, modes=["rev"])
    with pytest.raises(AssertionError):
        assert_same(jax.vjp(inv_wrong, A)[1](COTANGENTS["inv"]), adlib_reference("inv")[2],
                    "planted wrong JAX rule")


# ------------------------------------------------------------------- PyTorch ----
@pytest.fixture(scope="module")
def torch_env():
    torch = framework("torch", "PyTorch")
    return torch, load_rules("torch_rules")


def _tensors(torch, arrays):
    if isinstance(arrays, tuple):
        return tuple(_tensors(torch, a) for a in arrays)
    return torch.as_tensor(np.asarray(arrays, dtype=np.float64))


def _torch_fn(rules, rule):
    fn = getattr(rules, rule)
    return functools.partial(fn, *STATIC[rule]) if STATIC[rule] else fn


@pytest.mark.parametrize("rule", sorted(RULES))
def test_torch_rules_match_adlib(torch_env, rule):
    torch, rules = torch_env
    out, out_dot, cts = adlib_reference(rule)
    fn = _torch_fn(rules, rule)
    primals = _tensors(torch, PRIMALS[rule])
    tangents = _tensors(torch, TANGENTS[rule])
    ybar = _tensors(torch, COTANGENTS[rule])

    t_out, t_dot = torch.func.jvp(fn, primals, tangents)  # calls Function.jvp
    assert_same(t_out, out, f"PyTorch {rule}: output")
    assert_same(t_dot, out_dot, f"PyTorch {rule}: JVP")
    _, pullback = torch.func.vjp(fn, *primals)  # calls Function.backward
    assert_same(pullback(ybar), cts, f"PyTorch {rule}: VJP (torch.func.vjp)")

    # the classic way: .backward() on <ybar, f(x)> fills .grad
    leaves_ = tuple(p.clone().requires_grad_() for p in primals)
    result = fn(*leaves_)
    result = result if isinstance(result, tuple) else (result,)
    ybars = ybar if isinstance(ybar, tuple) else (ybar,)
    sum(torch.sum(r * w) for r, w in zip(result, ybars)).backward()
    assert_same(tuple(p.grad for p in leaves_), cts, f"PyTorch {rule}: VJP (.backward())")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_torch_rules_pass_gradcheck(torch_env, rule):
    """PyTorch's own finite-difference checks: backward, forward-mode jvp, and again."""
    torch, rules = torch_env
    fn = _torch_fn(rules, rule)
    primals = tuple(p.requires_grad_() for p in _tensors(torch, PRIMALS[rule]))
    assert torch.autograd.gradcheck(fn, primals, check_forward_ad=True)
    if RULES[rule].torch_twice:
        assert torch.autograd.gradgradcheck(fn, primals)
    else:  # once_differentiable: no second derivative (gradgradcheck sees it missing)
        with pytest.raises(RuntimeError):
            torch.autograd.gradgradcheck(fn, primals)
        out = fn(*primals)
        total = sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)))
        grads = torch.autograd.grad(total, primals, create_graph=True)
        with pytest.raises(RuntimeError):
            torch.autograd.grad(sum(g.sum() for g in grads), primals)


def test_torch_gradcheck_rejects_planted_wrong_rules(torch_env):
    """The PyTorch checks can fail: a wrong backward, and a wrong jvp."""
    torch, rules = torch_env

    class InvWrong(rules.Inv):
        @staticmethod
        def backward(ctx, Y_bar):
            (Y,) = ctx.saved_tensors
            return -(Y @ Y_bar @ Y)  # should be -Y^T Y_bar Y^T

    class InvWrongJVP(rules.Inv):
        @staticmethod
        def jvp(ctx, A_dot):
            (Y,) = ctx.saved_tensors
            return -(Y @ A_dot.T @ Y)  # A_dot transposed

    (A,) = _tensors(torch, PRIMALS["inv"])
    A.requires_grad_()
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(InvWrong.apply, (A,))
    with pytest.raises(RuntimeError, match="forward mode mismatch"):
        torch.autograd.gradcheck(InvWrongJVP.apply, (A,), check_forward_ad=True,
                                 check_backward_ad=False)
