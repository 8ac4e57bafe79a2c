"""The apply report as text and as JSON: IDs, versions, counts and messages, never attribute values."""

from __future__ import annotations

from typing import Any

from reconciler.apply.report import ApplyReport, ImageSetResult

FORMAT_VERSION = "1"


def result_json(r: ImageSetResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datastoreId": r.datastore_id,
        "imageSetId": r.image_set_id,
        "status": r.status,
        "plannedVersion": r.planned_version,
        "currentVersion": r.current_version,
        "finalVersion": r.final_version,
        "requestsSent": r.requests_sent,
        "requests": r.requests_total,
        "message": r.message,
    }
    if r.unmet:
        out["unmet"] = list(r.unmet)
    return out


def result_text(r: ImageSetResult) -> str:
    who = f"{r.datastore_id}/{r.image_set_id}"
    if r.status == "converged":
        n = r.requests_sent
        return (
            f"  converged  {who}: version {r.planned_version} -> {r.final_version} "
            f"({n} request{'s' if n != 1 else ''}, verified)" + (f"; {r.message}" if r.message else "")
        )
    if r.status == "unchanged":
        return f"  unchanged  {who}: version {r.planned_version}, nothing to do"
    if r.status == "stale":
        return (
            f"  stale      {who}: planned version {r.planned_version}, now {r.current_version}; "
            "nothing was written (re-plan to see the other writer's change)"
        )
    return f"  failed     {who}: {r.message or 'unknown error'}"


def report_json(report: ApplyReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "summary": report.summary(),
        "exit_code": report.exit_code,
        "journal": report.journal,
        "elapsed_seconds": round(report.elapsed, 3),
        "interrupted": report.interrupted,
        "image_sets": [result_json(r) for r in report.results],
    }


def report_lines(report: ApplyReport) -> list[str]:
    """One line per image set that was not unchanged, the summary, and where the journal is."""
    s = report.summary()
    head = "Apply interrupted" if report.interrupted else "Apply complete"
    lines = [result_text(r) for r in report.results if r.status != "unchanged"]
    lines.append(
        f"{head}: {s['converged']} converged, {s['unchanged']} unchanged, {s['stale']} stale, "
        f"{s['failed']} failed ({report.elapsed:.1f} s)."
    )
    if report.journal:
        lines.append(f"Journal: {report.journal}")
    return lines
