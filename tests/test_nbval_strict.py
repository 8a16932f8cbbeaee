"""Strict nbval really compares stored outputs.

`make test` runs `pytest --nbval` (strict mode, not `--nbval-lax`) over every notebook
of the book with the sanitizer in tests/nbval_sanitize.cfg. These tests show that this
set-up is not a rubber stamp: a copy of a small fixture notebook passes as stored, fails
as soon as one stored output is altered, and the sanitizer only hides what it should
(a memory address), not a changed number.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

TESTS = Path(__file__).resolve().parent
FIXTURE = TESTS / "fixtures" / "nbval_fixture.ipynb"
SANITIZER = TESTS / "nbval_sanitize.cfg"


def run_nbval(notebook: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run strict nbval on one notebook in a fresh pytest process.

    The process runs in the notebook's (temporary) folder, so no project
    configuration is picked up; the kernel is this environment's python.
    """
    cmd = [
        sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
        "-p", "no:cacheprovider", "-q", *extra, notebook.name,
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    return subprocess.run(
        cmd, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=300,
    )


def summary(proc: subprocess.CompletedProcess) -> str:
    return f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def stored_stream(cell) -> dict:
    (out,) = [o for o in cell.outputs if o.output_type == "stream"]
    return out


@pytest.fixture
def notebook_copy(tmp_path: Path) -> Path:
    target = tmp_path / "fixture_copy.ipynb"
    shutil.copy(FIXTURE, target)
    return target


def test_fixture_is_stored_with_outputs():
    nb = nbformat.read(FIXTURE, as_version=4)
    cells = code_cells(nb)
    assert len(cells) == 3
    assert [c.execution_count for c in cells] == [1, 2, 3], "store the fixture from one clean run"
    assert all(c.outputs for c in cells), "every code cell of the fixture must have a stored output"


def test_unaltered_copy_passes(notebook_copy: Path):
    proc = run_nbval(notebook_copy, "--nbval-sanitize-with", str(SANITIZER))
    assert proc.returncode == 0, summary(proc)
    assert re.search(r"\b3 passed\b", proc.stdout), summary(proc)


def test_altered_number_fails(notebook_copy: Path):
    nb = nbformat.read(notebook_copy, as_version=4)
    out = stored_stream(code_cells(nb)[0])
    # change the last digit of the first printed number: a tiny but real difference
    first, rest = out.text.split(" ", 1)
    altered = first[:-1] + ("1" if first[-1] != "1" else "2")
    out.text = f"{altered} {rest}"
    nbformat.write(nb, notebook_copy)

    proc = run_nbval(notebook_copy, "--nbval-sanitize-with", str(SANITIZER))
    assert proc.returncode == 1, summary(proc)
    assert re.search(r"\b1 failed\b", proc.stdout) and re.search(r"\b2 passed\b", proc.stdout), summary(proc)
    assert altered in proc.stdout, "the report should show the stored (altered) value\n" + summary(proc)


def test_altered_expression_result_fails(notebook_copy: Path):
    nb = nbformat.read(notebook_copy, as_version=4)
    result = code_cells(nb)[1].outputs[0]
    value = float(result.data["text/plain"])
    result.data["text/plain"] = f"{value + 1e-6:.6f}"
    nbformat.write(nb, notebook_copy)

    proc = run_nbval(notebook_copy, "--nbval-sanitize-with", str(SANITIZER))
    assert proc.returncode == 1, summary(proc)
    assert re.search(r"\b1 failed\b", proc.stdout), summary(proc)


def test_sanitizer_hides_addresses_only(notebook_copy: Path):
    nb = nbformat.read(notebook_copy, as_version=4)
    out = stored_stream(code_cells(nb)[2])
    assert re.search(r"0x[0-9a-f]{6,}", out.text), "fixture cell 3 should print a memory address"
    # any other address must be accepted ...
    out.text = re.sub(r"0x[0-9a-f]{6,}", "0x5555deadbeef", out.text)
    nbformat.write(nb, notebook_copy)
    proc = run_nbval(notebook_copy, "--nbval-sanitize-with", str(SANITIZER))
    assert proc.returncode == 0, summary(proc)

    # ... but not a change to the text around it
    out.text = out.text.replace("Opaque", "Opaqua")
    nbformat.write(nb, notebook_copy)
    proc = run_nbval(notebook_copy, "--nbval-sanitize-with", str(SANITIZER))
    assert proc.returncode == 1, summary(proc)
