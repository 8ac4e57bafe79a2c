"""Version history rows: JSON and the fixed-width text table, newest first, with times and forced."""

from __future__ import annotations

from reconciler.api import ImageSetInfo
from reconciler.render.history import history_json, history_text, iso
from tests.support.applyfakes import DS, A


def test_history_rows_newest_first_with_times_and_forced() -> None:
    versions = [ImageSetInfo(DS, A, "2", "ACTIVE", "UPDATE_FAILED", "bad", 0.0, 1.5, forced=True),
                ImageSetInfo(DS, A, "1", "ACTIVE", "CREATED", None, 0.0, 0.0)]
    doc = history_json(DS, A, versions)
    assert doc["count"] == 2 and [v["versionId"] for v in doc["versions"]] == ["2", "1"]
    assert doc["versions"][0] == {"versionId": "2", "state": "ACTIVE", "workflowStatus": "UPDATE_FAILED",
                                       "createdAt": "1970-01-01T00:00:00.000Z",
                                       "updatedAt": "1970-01-01T00:00:01.500Z", "forced": True, "message": "bad"}
    lines = history_text(DS, A, versions)
    assert lines[0].endswith("2 versions, newest first")
    assert lines[1].split() == ["VERSION", "STATE", "STATUS", "CREATED", "UPDATED", "FORCED", "MESSAGE"]
    assert lines[2].split()[0:3] == ["2", "ACTIVE", "UPDATE_FAILED"] and lines[2].endswith("yes     bad")
    assert iso(None) is None
