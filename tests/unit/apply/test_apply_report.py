"""Exit codes and the two report forms."""

from __future__ import annotations

import pytest

from reconciler.apply.report import ApplyReport, ImageSetResult, Status


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
    assert report.exit_code == code and report.to_json()["signal"] == signal


def test_the_interrupted_summary_counts_what_was_left_and_lists_only_what_was_touched() -> None:
    results = (result("converged", final_version="2", requests_sent=1),
               result("unfinished", message="the run stopped while its update was in flight"),
               *[ImageSetResult("d", f"n{k}", "not_started", "1") for k in range(3)])
    lines = ApplyReport(results, journal="j.jsonl", elapsed=2.0, interrupted=True, signal="SIGINT").text_lines()
    assert lines[:2] == ["  converged  d/i-converged: version 1 -> 2 (1 request, verified)",
                         "  unfinished d/i-unfinished: the run stopped while its update was in flight"]
    assert lines[2] == ("Apply interrupted by SIGINT: 1 converged, 0 unchanged, 0 stale, 0 failed, 1 unfinished, "
                        "3 not started (2.0 s).")
    assert not any("n0" in line for line in lines) and lines[-1] == "Journal: j.jsonl"


def test_json_has_summary_and_per_image_set_versions() -> None:
    doc = ApplyReport((result("stale", current_version="2"),), journal="j.jsonl").to_json()
    assert doc["summary"] == {"image_sets": 1, "converged": 0, "unchanged": 0, "stale": 1, "failed": 0,
                              "unfinished": 0, "not_started": 0}
    assert (doc["image_sets"][0]["plannedVersion"], doc["image_sets"][0]["currentVersion"]) == ("1", "2")
    assert doc["exit_code"] == 3 and doc["journal"] == "j.jsonl"


@pytest.mark.parametrize(
    ("res", "text"),
    [
        (result("converged", final_version="3", requests_sent=2), "version 1 -> 3 (2 requests, verified)"),
        (result("stale", current_version="2"), "planned version 1, now 2; nothing was written"),
        (result("failed", message="UPDATE_FAILED on version 2: x"), "failed     d/i-failed: UPDATE_FAILED"),
    ],
)
def test_text_lines(res: ImageSetResult, text: str) -> None:
    lines = ApplyReport((res,)).text_lines()
    assert text in lines[0]
    assert lines[-1].startswith("Apply complete: ")
