"""Every error adlib raises derives from ``adlib.AdlibError`` and keeps a builtin base.

Two scans of the library: its source (AST), for ``raise`` statements that name a
builtin exception, and its modules, for exception classes outside the hierarchy.
Each scan is shown to catch a planted offender.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import adlib as ad
from adlib import errors

ADLIB = Path(ad.__file__).parent
# errors only: not SystemExit (a command-line entry point's exit status), StopIteration
# (generators) or warnings
BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                      if isinstance(obj, type) and issubclass(obj, Exception)
                      and not issubclass(obj, (Warning, StopIteration, StopAsyncIteration))}


def _raised_builtins(source: str, filename: str) -> list[str]:
    """``file:line name`` for each ``raise <builtin>`` / ``raise <builtin>(...)``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = (exc.id if isinstance(exc, ast.Name) else
                exc.attr if isinstance(exc, ast.Attribute) else None)
        if name in BUILTIN_EXCEPTIONS or name == "LinAlgError":
            found.append((node.lineno, f"{filename}:{node.lineno} {name}"))
    return [text for _, text in sorted(found)]


def test_the_scan_catches_a_planted_builtin_raise():
    planted = "def f(x):\n    if x:\n        raise ValueError('bad')\n    raise np.linalg.LinAlgError\n"
    assert _raised_builtins(planted, "planted.py") == ["planted.py:3 ValueError",
                                                       "planted.py:4 LinAlgError"]
    fine = "def f(x):\n    try:\n        g()\n    except KeyError:\n        raise\n" \
           "    raise errors.ShapeError('bad')\n"
    assert _raised_builtins(fine, "fine.py") == []


def test_no_module_of_adlib_raises_a_builtin_exception():
    found = []
    for path in sorted(ADLIB.rglob("*.py")):
        found += _raised_builtins(path.read_text(), str(path.relative_to(ADLIB.parent)))
    assert not found, ("raise an adlib error (adlib.errors: ShapeError, UsageError, ...) "
                       "instead of a builtin one:\n" + "\n".join(found))


def _adlib_exception_classes() -> dict[str, type]:
    classes = {}
    for mod in pkgutil.walk_packages(ad.__path__, "adlib."):
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Exception)
                    and not issubclass(obj, Warning) and obj.__module__.startswith("adlib")):
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return classes


def test_every_exception_class_of_adlib_is_an_adlib_error_with_a_builtin_base():
    classes = _adlib_exception_classes()
    assert len(classes) >= 9
    outside = [name for name, cls in classes.items() if not issubclass(cls, ad.AdlibError)]
    assert not outside, f"exception classes outside adlib.AdlibError: {outside}"
    bases = {b for cls in classes.values() for b in cls.__mro__[1:]}
    bare = [name for name, cls in classes.items()
            if cls is not ad.AdlibError and cls not in bases and not any(
                issubclass(cls, b) for b in (ValueError, TypeError, NotImplementedError,
                                             RuntimeError, ArithmeticError, LookupError,
                                             AssertionError))]
    assert not bare, f"adlib errors without a builtin base a user would catch: {bare}"
    # (a class that only groups others, such as implicit.ImplicitDiffError, may lack one)


def test_a_planted_class_outside_the_hierarchy_would_be_reported():
    class Stray(ValueError):
        pass
    assert not issubclass(Stray, ad.AdlibError)


@pytest.mark.parametrize("name,builtin", [
    ("RuleError", ValueError), ("ShapeError", ValueError), ("TracingError", TypeError),
    ("DTypeError", TypeError), ("UsageError", TypeError),
    ("MissingRuleError", NotImplementedError), ("UnsupportedError", NotImplementedError),
    ("SolverError", RuntimeError), ("SingularMatrixError", np.linalg.LinAlgError),
    ("CheckFailure", AssertionError)])
def test_exported_classes_keep_their_builtin_base(name, builtin):
    cls = getattr(ad, name)
    assert cls is getattr(errors, name)
    assert issubclass(cls, ad.AdlibError) and issubclass(cls, builtin)


def test_user_code_can_catch_adlib_errors_by_either_base():
    with pytest.raises(ad.AdlibError):
        ad.grad(lambda x, y: x * y, argnums=5)(1.0, 2.0)
    with pytest.raises(ValueError):
        ad.grad(lambda x, y: x * y, argnums=5)(1.0, 2.0)
