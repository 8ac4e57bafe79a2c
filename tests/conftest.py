"""Suite-wide collection order: tests marked ``slow`` run first.

With pytest-xdist the workers take tests in collection order, so the minute-long chaos and
end-to-end tests start at once and overlap the many short ones, instead of one of them ending the
run alone. Deselect them while iterating with ``pytest -m "not slow"``; CI runs everything.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
