"""The apply report's two forms: JSON (summary, per image set versions) and text lines."""

from __future__ import annotations

import pytest

from reconciler.apply.report import ApplyReport, ImageSetResult, Status
from reconciler.render.apply_report import report_json, report_lines


def result(status: Status, **kw: object) -> ImageSetResult:
    return ImageSetResult("d", f"i-{status}", status, "1", **kw)  # type: ignore[arg-type]


def test_json_has_summary_and_per_image_set_versions() -> None:
    doc = report_json(ApplyReport((result("stale", current_version="2"),), journal="j.jsonl"))
    assert doc["summary"] == {"image_sets": 1, "converged": 0, "replaced": 0, "unchanged": 0, "stale": 1,
                              "failed": 0, "unfinished": 0, "not_started": 0}
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
    lines = report_lines(ApplyReport((res,)))
    assert text in lines[0]
    assert lines[-1].startswith("Apply complete: ")


def test_the_interrupted_summary_counts_what_was_left_and_lists_only_what_was_touched() -> None:
    results = (result("converged", final_version="2", requests_sent=1),
               result("unfinished", message="the run stopped while its update was in flight"),
               *[ImageSetResult("d", f"n{k}", "not_started", "1") for k in range(3)])
    lines = report_lines(ApplyReport(results, journal="j.jsonl", elapsed=2.0, interrupted=True, signal="SIGINT"))
    assert lines[:2] == ["  converged  d/i-converged: version 1 -> 2 (1 request, verified)",
                         "  unfinished d/i-unfinished: the run stopped while its update was in flight"]
    assert lines[2] == ("Apply interrupted by SIGINT: 1 converged, 0 unchanged, 0 stale, 0 failed, 1 unfinished, "
                        "3 not started (2.0 s).")
    assert not any("n0" in line for line in lines) and lines[-1] == "Journal: j.jsonl"


def test_a_replacement_is_counted_replaced_not_converged_in_text_and_json() -> None:
    """A replaced image set was deleted and a new one holds the plan: neither form calls it converged."""
    replaced = ImageSetResult("d", "old", "converged", "1", final_version="1", requests_sent=5, replaced_by="new")
    report = ApplyReport((replaced, result("converged", final_version="2", requests_sent=1)))
    doc = report_json(report)
    assert (doc["summary"]["converged"], doc["summary"]["replaced"], doc["exit_code"]) == (1, 1, 0)
    assert [r["status"] for r in doc["image_sets"]] == ["replaced", "converged"]
    assert doc["image_sets"][0]["replacedBy"] == "new"
    lines = report_lines(report)
    assert lines[0].startswith("  replaced   d/old -> new: new image set at version 1 (5 writes, verified)")
    assert lines[-1].startswith("Apply complete: 1 converged, 1 replaced, 0 unchanged, 0 stale, 0 failed (")


def test_without_replacements_the_summary_line_does_not_mention_them() -> None:
    (line,) = [x for x in report_lines(ApplyReport((result("converged", final_version="2"),))) if "Apply" in x]
    assert "replaced" not in line


def test_the_report_gives_each_paced_operations_rate_and_throttles() -> None:
    from reconciler.ratelimit import Pace

    paces = (Pace("GetImageSet", "documented", 25.0, 25.0, 2500.0, 0, learning=True),
             Pace("UpdateImageSetMetadata", "learned", 9.5, 9.84, 19.0, 6, learning=True),
             Pace("CopyImageSet", "--rate", 2.0, 2.0, 2.0, 1))
    report = ApplyReport((), pacing=paces)
    assert report_lines(report)[1:5] == [
        "Pacing (the rate each operation reached, requests throttled):",
        "  GetImageSet reached 25/s (learning from 25/s, documented; peak 2,500/s), 0 throttled",
        "  UpdateImageSetMetadata reached 9.84/s (learning from 9.5/s, learned; peak 19/s), 6 throttled",
        "  CopyImageSet reached 2/s (capped by --rate 2/s), 1 throttled",
    ]
    assert report_json(report)["pacing"]["UpdateImageSetMetadata"] == {
        "source": "learned", "start_rate": 9.5, "rate": 9.84, "peak_rate": 19.0, "throttled": 6}
    assert report_json(ApplyReport(()))["pacing"] == {}
    assert not any(line.startswith("Pacing") for line in report_lines(ApplyReport(())))
