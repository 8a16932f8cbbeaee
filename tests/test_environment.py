"""The notebook kernel is this environment's python and can import adlib.

Jupyter Book and nbval start kernels by the kernelspec name stored in each
notebook (`python3`). `make` registers that kernelspec inside .venv; these tests
start a real kernel by that name and ask it where it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, os, sys
import adlib
print(json.dumps({
    "prefix": sys.prefix,
    "adlib": os.path.realpath(adlib.__file__),
    "hashseed": os.environ.get("PYTHONHASHSEED"),
    "mplbackend": os.environ.get("MPLBACKEND"),
}))
"""


@pytest.fixture(scope="module")
def kernel_report() -> dict:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT / "book"))
    chunks: list[str] = []
    errors: list[str] = []

    def collect(msg):
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    try:
        reply = kc.execute_interactive(PROBE, timeout=120, output_hook=collect)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", "kernel probe failed:\n" + "\n".join(errors)
    return json.loads("".join(chunks))


def test_kernel_runs_in_this_environment(kernel_report):
    assert Path(kernel_report["prefix"]) == Path(sys.prefix), (
        f"the python3 kernel runs in {kernel_report['prefix']}, not in {sys.prefix}: "
        "run `make` (it registers the kernelspec with `ipykernel install --sys-prefix`)"
    )


def test_kernel_imports_adlib_from_this_repository(kernel_report):
    assert Path(kernel_report["adlib"]).is_relative_to(ROOT / "adlib"), kernel_report["adlib"]


def test_kernel_environment_is_reproducible(kernel_report):
    assert kernel_report["hashseed"] == "0"
    # ipykernel selects the inline backend only when MPLBACKEND is unset; an
    # inherited MPLBACKEND (e.g. Agg) would change every figure output.
    assert kernel_report["mplbackend"] == "module://matplotlib_inline.backend_inline"
