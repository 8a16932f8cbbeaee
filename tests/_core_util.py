"""Helpers shared by the adlib core tests: finite differences and random draws.

Everything here is independent of adlib's derivative rules, so the tests can
compare adlib against it.
"""
from __future__ import annotations

import zlib

import numpy as np


def seed_of(name: str) -> int:
    """A general (not hand-picked) seed derived from a test id."""
    return zlib.crc32(name.encode()) % 100_000


def fd_jacobian(f, x, eps: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of ``f`` at ``x``: shape ``out.shape + x.shape``."""
    x = np.asarray(x, dtype=float)
    y0 = np.asarray(f(x))
    J = np.zeros(y0.shape + x.shape)
    for k in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[k] = eps
        J[(Ellipsis,) + k] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return J


def fd_directional(f, x, v, eps: float = 1e-6) -> np.ndarray:
    """Central difference of ``f`` at ``x`` in the direction ``v``."""
    return (np.asarray(f(x + eps * v)) - np.asarray(f(x - eps * v))) / (2 * eps)


def symmetric_only(rng, n: int) -> np.ndarray:
    """A random symmetric matrix (used only to *demonstrate* the symmetric-seed trap)."""
    S = rng.normal(size=(n, n))
    return S + S.T
