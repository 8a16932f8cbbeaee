"""Shared pytest set-up.

Kernels started by the tests (nbval self-test, environment checks) get the same
environment as the book build: a fixed hash seed and no MPLBACKEND.
"""

import os

os.environ["PYTHONHASHSEED"] = "0"
os.environ.pop("MPLBACKEND", None)
