"""The exit code an apply report means (its text and JSON forms: tests/unit/render)."""

from __future__ import annotations

import pytest

from reconciler.apply.report import ApplyReport, ImageSetResult, Status
from reconciler.render.apply_report import report_json


def result(status: Status, **kw: object) -> ImageSetResult:
    return ImageSetResult("d", f"i-{status}", status, "1", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "code"),
    [((), 0), (("converged", "unchanged"), 0), (("converged", "stale"), 3), (("stale", "failed"), 1),
     (("failed",), 1)],
)
def test_exit_code(statuses: tuple[Status, ...], code: int) -> None:
    assert ApplyReport(tuple(result(s) for s in statuses)).exit_code == code


def test_interrupted_run_exits_1() -> None:
    assert ApplyReport((result("converged"),), interrupted=True).exit_code == 1


@pytest.mark.parametrize(("signal", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_run_interrupted_by_a_signal_exits_128_plus_its_number(signal: str, code: int) -> None:
    report = ApplyReport((result("converged"), result("failed")), interrupted=True, signal=signal)
    assert report.exit_code == code and report_json(report)["signal"] == signal
