"""Fixtures for the rendered-site checks (run by `make test` after `make book`)."""

from __future__ import annotations

import pytest

from sitecheck import SITE, SiteChecker


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.site)


@pytest.fixture(scope="session")
def site():
    index = SITE / "index.html"
    if not index.exists():
        pytest.fail(f"{index} does not exist: build the site first (`make book`)", pytrace=False)
    return SITE


@pytest.fixture(scope="session")
def checker():
    with SiteChecker() as c:
        yield c
