"""Shared pytest set-up.

Kernels started by the tests (nbval self-test, environment checks) get the same
environment as the book build: a fixed hash seed and no MPLBACKEND.
"""

import os

os.environ["PYTHONHASHSEED"] = "0"
os.environ.pop("MPLBACKEND", None)

# Hypothesis profiles for tests/test_properties.py: "ci" (the default) keeps the
# run bounded and reproducible (derandomized, no example database written into the
# tree); "deep" (make test-deep) draws many more examples.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is in requirements.txt
    pass
else:
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large,
              HealthCheck.function_scoped_fixture]
    settings.register_profile("ci", max_examples=6, deadline=None, derandomize=True,
                              database=None, suppress_health_check=_quiet)
    settings.register_profile("deep", max_examples=200, deadline=None, database=None,
                              suppress_health_check=_quiet)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
