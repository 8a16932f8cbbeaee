"""Cost of a gradient: adlib vs a hand-written NumPy gradient vs HIPS autograd.

Run:  make bench   (or: .venv/bin/python benchmarks/bench_grad.py)

Workloads (float64):
  (a) mlp        loss of 3 tanh layers of width 512 + a linear output, batch 256
  (b) chain      10 x (sin, tanh) elementwise on a vector of 10^5
  (c) rosenbrock the Rosenbrock function, n = 10^5
  (d) scalar     per-operation overhead on Python floats (microseconds per op)

Every variant of a workload is timed in the same run, interleaved, taking the
best of several repeats (these machines are noisy; ratios measured side by side
are what we report).  Results print as a table of times relative to f.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import adlib as ad
import adlib.numpy as anp

try:
    import autograd
    import autograd.numpy as agnp
except ImportError:   # autograd is a benchmark-only dependency
    autograd = None
    agnp = None


# ---------------------------------------------------------------- workloads ----
def mlp_setup(rng):
    width, batch, d_in = 512, 256, 512
    params = []
    fan_in = d_in
    for _ in range(3):
        params += [rng.standard_normal((fan_in, width)) / np.sqrt(fan_in), np.zeros(width)]
        fan_in = width
    params += [rng.standard_normal((width, 1)) / np.sqrt(width), np.zeros(1)]
    X = rng.standard_normal((batch, d_in))
    y = rng.standard_normal((batch, 1))
    return tuple(params), X, y


def mlp_loss(np_, params, X, y):
    h = X
    for k in range(3):
        h = np_.tanh(h @ params[2 * k] + params[2 * k + 1])
    out = h @ params[6] + params[7]
    r = out - y
    return np_.mean(r * r)


def mlp_grad_by_hand(params, X, y):
    hs = [X]
    h = X
    for k in range(3):
        h = np.tanh(h @ params[2 * k] + params[2 * k + 1])
        hs.append(h)
    out = h @ params[6] + params[7]
    r = out - y
    g_out = (2.0 / r.size) * r
    grads = [None] * 8
    grads[6] = hs[3].T @ g_out
    grads[7] = g_out.sum(axis=0)
    g = g_out @ params[6].T
    for k in (2, 1, 0):
        g = g * (1.0 - hs[k + 1] * hs[k + 1])
        grads[2 * k] = hs[k].T @ g
        grads[2 * k + 1] = g.sum(axis=0)
        if k:
            g = g @ params[2 * k].T
    return grads


def chain_f(np_, x):
    for _ in range(10):
        x = np_.tanh(np_.sin(x))
    return np_.sum(x)


def chain_grad_by_hand(x):
    stack = []
    for _ in range(10):
        s = np.sin(x)
        t = np.tanh(s)
        stack.append((x, t))
        x = t
    g = np.ones_like(x)
    for x, t in reversed(stack):
        g = g * (1.0 - t * t)
        g = g * np.cos(x)
    return g


def rosen_f(np_, x):
    a = x[1:] - x[:-1] ** 2
    b = 1.0 - x[:-1]
    return np_.sum(100.0 * a ** 2 + b ** 2)


def rosen_grad_by_hand(x):
    """The fused gradient a person would write."""
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * x[:-1] - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def scalar_f(np_, x):
    """100 elementwise operations on a Python float."""
    for _ in range(25):
        x = np_.sin(x) * 0.9 + x * 0.1
    return x


# ------------------------------------------------------------------ timing ----
def best_of(fns: dict, repeats: int, number: int) -> dict:
    """Interleave the candidates and keep each one's best time per call."""
    best = {k: np.inf for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / number)
    return best


def variants(f, x, hand=None, to_autograd=lambda x: x) -> dict:
    """The candidates timed for one workload ``f(np_, x)``, checked to agree first."""
    fns = {"f": lambda: f(np, x),
           "adlib": lambda: ad.grad(lambda v: f(anp, v))(x)}
    if hand is not None:
        fns["hand"] = lambda: hand(x)
    if autograd:
        fns["autograd"] = lambda: autograd.grad(lambda v: f(agnp, v))(to_autograd(x))
    reference = fns["hand"]() if hand is not None else fns["adlib"]()
    for name in ("adlib", "autograd"):
        if name in fns:
            got = fns[name]()
            for a, b in zip(*(v if isinstance(v, (list, tuple)) else [v]
                              for v in (reference, got))):
                np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10,
                                           err_msg=f"{name}: gradient disagrees")
    return fns


def run(quick: bool = False) -> dict:
    rng = np.random.default_rng(0)
    reps = 3 if quick else 7
    params, X, y = mlp_setup(rng)
    x = rng.standard_normal(100_000)
    # The calls of (a) and (b) take milliseconds, so a busy neighbour hits several of
    # them at once: more, shorter samples give each variant more chances at a quiet one.
    return {
        "mlp": best_of(variants(lambda np_, p: mlp_loss(np_, p, X, y), params,
                                lambda p: mlp_grad_by_hand(p, X, y), to_autograd=list),
                       4 * reps, 1),
        "chain": best_of(variants(chain_f, x, chain_grad_by_hand), 3 * reps, 1),
        "rosenbrock": best_of(variants(rosen_f, x, rosen_grad_by_hand), reps, 40),
        "scalar": best_of(variants(scalar_f, 0.3), reps, 20),
    }


TARGETS = {"mlp": 1.2, "chain": 1.5, "rosenbrock": 4.0}   # adlib grad / hand-written grad


def report(results: dict) -> tuple[str, bool]:
    lines = ["| workload | f (ms) | hand grad / f | adlib grad / f | autograd grad / f "
             "| adlib / hand (target) | adlib / autograd |",
             "|---|---|---|---|---|---|---|"]
    ok = True
    for name in ("mlp", "chain", "rosenbrock"):
        r = results[name]
        f = r["f"]
        ag = r.get("autograd")
        ratio_hand = r["adlib"] / r["hand"]
        ratio_ag = r["adlib"] / ag if ag else float("nan")
        ok &= ratio_hand <= TARGETS[name] and (not ag or ratio_ag <= 1.0)
        lines.append(f"| {name} | {1e3 * f:.2f} | {r['hand'] / f:.2f} | {r['adlib'] / f:.2f} | "
                     f"{(ag / f) if ag else float('nan'):.2f} | {ratio_hand:.2f} "
                     f"(<= {TARGETS[name]}) | {ratio_ag:.2f} |")
    r = results["scalar"]
    n_ops = 100
    ad_us = 1e6 * (r["adlib"] - r["f"]) / n_ops
    ag_us = 1e6 * (r["autograd"] - r["f"]) / n_ops if "autograd" in r else float("nan")
    lines.append("")
    lines.append(f"Per-operation overhead of a gradient on Python floats: adlib {ad_us:.1f} us/op, "
                 f"autograd {ag_us:.1f} us/op (ratio {ad_us / ag_us:.2f}).")
    ok &= not ("autograd" in r) or ad_us <= ag_us
    return "\n".join(lines), ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--json", help="also write the raw timings to this file")
    args = p.parse_args(argv)
    results = run(args.quick)
    table, ok = report(results)
    print(table)
    print("\nall targets met" if ok else "\nsome targets missed")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
