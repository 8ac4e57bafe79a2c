"""The blame search: gallop back from the planned version, then bisect; about 2 x log2(n) probes, and the
planned version itself is never probed."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from reconciler.plan.blame import find_introduction


def counted(values: list[str]) -> tuple[Callable[[int], bool], list[int]]:
    seen: list[int] = []
    live = values[-1]

    def holds(version: int) -> bool:
        seen.append(version)
        return values[version - 1] == live

    return holds, seen


@pytest.mark.parametrize(("values", "expected"), [
    (["A"], (1, True)),
    (["A", "B"], (2, False)),
    (["A", "A", "A"], (1, True)),
    (["B", "A", "A", "A", "A", "A", "A", "A"], (2, False)),
    (["A", "B", "A", "B", "B", "B", "B"], (4, False)),  # back and forth: the latest change into B
    (["B", "B", "A", "B", "B", "B", "B", "B", "B", "B"], (4, False)),
    # the documented limit: a flip away and back that falls between two probes (v1 and v3) is not seen
    (["B", "A", "B", "B", "B", "B", "B", "B", "B", "B"], (1, True)),
    (["A"] * 500 + ["B"] + ["B"] * 499, (501, False)),
])
def test_find_introduction(values: list[str], expected: tuple[int, bool]) -> None:
    holds, seen = counted(values)
    assert find_introduction(list(range(1, len(values) + 1)), holds) == expected
    assert len(seen) <= 2 * max(1, math.ceil(math.log2(len(values))))
    assert len(values) not in seen  # the planned version is known to hold the live value


