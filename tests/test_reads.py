"""What each VJP rule reads from the forward pass, checked against the rule.

``defvjp(prim, *rules, reads=...)`` declares, per argument, which arguments
and whether the answer its VJP rule reads (:meth:`Primitive.vjp_reads`); the
graph tools show those as the values reverse mode stores.  Here every
registered primitive with VJP rules is called on a real sample (recorded from
a reverse trace of a public function, or built from random arrays), and

a value the rule says it does not read is replaced by NaN, and the rule's
result must not change.  (Declaring more than a rule reads is safe, only
wasteful: ``maximum`` reads ``y`` only to detect ties, so no test could ask
every declared value to matter at every point.)
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp
from adlib import engine, linalg, qp
from adlib.engine import ANS, Primitive, VJPBox, leaf_node, new_level, toposort

from _core_util import seed_of

for _mod in pkgutil.walk_packages(ad.__path__, "adlib."):
    importlib.import_module(_mod.name)


def _all_primitives() -> dict[str, Primitive]:
    """Every primitive with VJP rules defined in a module of adlib, by name."""
    found: dict[int, Primitive] = {}
    for name, mod in sorted(sys.modules.items()):
        if name == "adlib" or name.startswith("adlib."):
            for obj in vars(mod).values():
                if isinstance(obj, Primitive) and obj.differentiable and obj.vjps:
                    found.setdefault(id(obj), obj)
    return {p.name: p for p in found.values()}


PRIMS = _all_primitives()


# ---------------------------------------------------------------- samples ----
def _recorded_calls(f, *inputs) -> list:
    """The primitive calls of a reverse trace of ``f``: (prim, args, kwargs, ans)."""
    level = new_level()
    boxes = [VJPBox(x, level, leaf_node()) for x in inputs]
    out = f(*boxes)
    calls = []
    for node in toposort(out.node):
        if node.prim is not None:
            calls.append((node.prim, tuple(node.args), dict(node.kwargs), node.ans))
    return calls


def _spd(rng, n=3):
    M = rng.standard_normal((n, n))
    return M @ M.T + n * np.eye(n)


def _corpus(rng) -> list:
    """Public programs whose traces call the primitives that need special arguments."""
    A, B, Q = _spd(rng), _spd(rng), _spd(rng)
    stable = -_spd(rng)                              # eigenvalues < 0: Lyapunov solvable
    x, w = rng.uniform(0.2, 0.9, 3), rng.standard_normal(3)
    X = rng.standard_normal((2, 3))
    M = rng.standard_normal((3, 3))

    def twice(fun, arg):
        """A value whose trace runs ``fun``'s VJP rules on traced values."""
        return lambda z: ad.grad(lambda u: anp.sum(fun(u) * fun(u)))(z) if arg is None else \
            ad.grad(lambda u: anp.sum(fun(u) * fun(u)))(arg(z))
    return [
        (lambda z: anp.linalg.solve(z, w), A),
        (twice(lambda u: anp.linalg.solve(u, w), None), A),
        (lambda z: anp.linalg.det(z), A),
        (lambda z: anp.linalg.slogdet(z)[1], A),
        (lambda z: linalg.solve_lyapunov(z, Q), stable),
        (twice(lambda u: linalg.solve_lyapunov(u, Q), None), stable),
        (lambda z: linalg.solve_sylvester(z, B, M), A),
        (twice(lambda u: linalg.solve_sylvester(u, B, M), None), A),
        (lambda z: linalg.quad_form(z, Q), x),
        (twice(lambda u: qp.solve_eqp(u, w, np.ones((1, 3)), np.ones(1))[0], None), A),
        (lambda z: anp.reshape(z, (3, 2)), X),
        (lambda z: anp.broadcast_to(z, (2, 3)), x),
        (lambda z: anp.expand_dims(z, 1), x),
        (lambda z: anp.swapaxes(z, 0, 1), X),
        (lambda z: z[1:, ::2], X),
        (twice(lambda u: u[np.array([0, 0, 2])], None), x),
        (twice(lambda u: anp.diagonal(u), None), M),
        (lambda z: anp.cumsum(z, axis=1), X),
        (lambda z: anp.einsum("ij,j->i", z, w), M),
        (lambda z: anp.concatenate([z, w]), x),
        (lambda z: anp.stack([z, w], axis=1), x),
        (lambda z: anp.where(z > 0.5, z, w), x),
        (lambda z: anp.linalg.norm(z, 2), M),
    ]


def _auto_sample(prim, rng):
    """Random arguments that a fixed-arity primitive accepts, or None."""
    n = len(prim.vjps)
    candidates = [
        tuple(rng.uniform(0.2, 0.9, 3) for _ in range(n)),
        tuple(rng.uniform(1.2, 1.9, 3) for _ in range(n)),       # arccosh's domain
        tuple(_spd(rng) for _ in range(n)),
        (_spd(rng),) + tuple(rng.standard_normal(3) for _ in range(n - 1)),
    ]
    for args in candidates:
        try:
            with np.errstate(all="raise"):
                ans = prim.fun(*args)
        except (TypeError, ValueError, FloatingPointError, AttributeError, IndexError):
            continue
        if np.all(np.isfinite(ans)):
            return prim, args, {}, ans
    return None


def _samples() -> dict:
    rng = np.random.default_rng(seed_of("test_reads samples"))
    samples: dict = {}
    for f, z in _corpus(rng):
        for prim, args, kwargs, ans in _recorded_calls(f, z):
            samples.setdefault(prim.name, (prim, args, kwargs, ans))
    for name, prim in PRIMS.items():
        if name not in samples and not prim.varargs:
            found = _auto_sample(prim, rng)
            if found is not None:
                samples[name] = found
    return samples


SAMPLES = _samples()


def _run(prim, i, g, ans, args, kwargs):
    return np.asarray(engine._dense(prim.vjp_term(i, g, ans, args, kwargs)), dtype=float)


def _float_slots(args) -> list[int]:
    return [j for j, a in enumerate(args)
            if isinstance(a, (float, np.floating)) or
            (isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating))]


def _replace(args, ans, j, value):
    if j == ANS:
        return args, value
    new = list(args)
    new[j] = value
    return tuple(new), ans


def _current(args, ans, j):
    return ans if j == ANS else args[j]


def _differentiable(prim, args) -> list[int]:
    return [i for i in _float_slots(args) if prim.has_vjp(i)]


# ------------------------------------------------------------------ tests ----
def test_every_primitive_with_vjp_rules_has_a_sample():
    missing = sorted(set(PRIMS) - set(SAMPLES))
    assert not missing, f"no sample call for {missing}: add a program to _corpus"


def test_every_primitive_declares_what_its_vjp_rules_read():
    undeclared = sorted(name for name, p in PRIMS.items() if p.reads is None)
    assert not undeclared, (f"these primitives register VJP rules without reads=: "
                            f"{undeclared}; declare them in defvjp(..., reads=...)")


def test_reads_are_queryable_per_argument():
    mul = PRIMS["multiply"]
    assert set(mul.vjp_reads(0)) == {1} and set(mul.vjp_reads(1)) == {0}
    assert ANS in PRIMS["exp"].vjp_reads(0)


def test_defvjp_rejects_malformed_reads():
    p = Primitive(np.sin, "sin_copy")
    with pytest.raises(ad.RuleError, match=r"defvjp of 'sin_copy': 1 rule\(s\) but 2 reads"):
        ad.defvjp(p, lambda g, ans, x: g * np.cos(x), reads=[(0,), (0,)])
    with pytest.raises(ad.RuleError, match=r"reads entry \('x',\) must be a tuple of argument"):
        ad.defvjp(p, lambda g, ans, x: g * np.cos(x), reads=[("x",)])


DECLARED = sorted(name for name in SAMPLES if SAMPLES[name][0].reads is not None)


def _violations(name, prim, args, kwargs, ans) -> list[str]:
    """Values a rule reads although its reads= entry leaves them out."""
    rng = np.random.default_rng(seed_of(name))
    g = rng.standard_normal(np.shape(ans))
    diff = _differentiable(prim, args)
    assert diff, f"no differentiable argument in the sample of {name}"
    found = []
    with np.errstate(all="ignore"):            # NaN inputs are the point here
        for i in diff:
            reads = prim.vjp_reads(i, len(args))
            base = _run(prim, i, g, ans, args, kwargs)
            assert np.all(np.isfinite(base))
            for j in _float_slots(args) + [ANS]:
                if j in reads:
                    continue
                poisoned = np.full(np.shape(_current(args, ans, j)), np.nan)
                a2, ans2 = _replace(args, ans, j, poisoned)
                if not np.array_equal(_run(prim, i, g, ans2, a2, kwargs), base):
                    found.append(f"{name}: the VJP rule for argument {i} reads "
                                 f"{'the answer' if j == ANS else f'argument {j}'}, which "
                                 f"its reads= entry {reads} leaves out")
    return found


@pytest.mark.parametrize("name", DECLARED)
def test_values_a_rule_does_not_read_can_be_poisoned(name):
    assert _violations(name, *SAMPLES[name]) == []


def test_an_understated_declaration_is_caught():
    """Plant wrong declarations: multiply's rule for x reads y, exp's reads its answer."""
    rng = np.random.default_rng(seed_of("understated"))
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    mul = Primitive(np.multiply, "multiply_understated")
    ad.defvjp(mul, lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a,
              reads=[(), (0,)])
    assert _violations("mul", mul, (x, y), {}, x * y) == [
        "mul: the VJP rule for argument 0 reads argument 1, which its reads= entry () "
        "leaves out"]
    exp = Primitive(np.exp, "exp_understated")
    ad.defvjp(exp, lambda g, ans, a: g * ans, reads=[(0,)])
    assert len(_violations("exp", exp, (x,), {}, np.exp(x))) == 1
