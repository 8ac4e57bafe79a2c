"""The apply report as text and as JSON: IDs, versions, counts and messages, never attribute values
(and the series and instance UIDs of the paths they name redacted, as everywhere: ``redact``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.render.common import cost_line
from reconciler.render.redact import Redactor

FORMAT_VERSION = "1"


def _shown(r: ImageSetResult, redactor: Redactor | None) -> ImageSetResult:
    """R with its message and unmet paths as they may be shown (redacted by default)."""
    redactor = redactor or Redactor()
    return replace(r, message=None if r.message is None else redactor.text(r.message),
                   unmet=tuple(redactor.text(p) for p in r.unmet))


def result_json(r: ImageSetResult, redactor: Redactor | None = None) -> dict[str, Any]:
    r = _shown(r, redactor)
    out: dict[str, Any] = {
        "datastoreId": r.datastore_id,
        "imageSetId": r.image_set_id,
        "status": r.outcome,  # "replaced" for a replacement (the journal keeps "converged" with replacedBy)
        "plannedVersion": r.planned_version,
        "currentVersion": r.current_version,
        "finalVersion": r.final_version,
        "requestsSent": r.requests_sent,
        "requests": r.requests_total,
        "message": r.message,
    }
    if r.unmet:
        out["unmet"] = list(r.unmet)
    if r.replaced_by is not None:  # a replacement: the new primary image set (IDs are not patient data)
        out["replacedBy"] = r.replaced_by
    return out


def result_text(r: ImageSetResult, redactor: Redactor | None = None) -> str:
    r = _shown(r, redactor)
    who = f"{r.datastore_id}/{r.image_set_id}"
    if r.status == "converged" and r.replaced_by is not None:
        return (f"  replaced   {who} -> {r.replaced_by}: new image set at version {r.final_version} "
                f"({r.requests_sent} write{'s' if r.requests_sent != 1 else ''}, verified)"
                + (f"; {r.message}" if r.message else ""))
    if r.status == "converged":
        n = r.requests_sent
        return (
            f"  converged  {who}: version {r.planned_version} -> {r.final_version} "
            f"({n} request{'s' if n != 1 else ''}, verified)" + (f"; {r.message}" if r.message else "")
        )
    if r.status == "unchanged":
        return f"  unchanged  {who}: version {r.planned_version}, nothing to do"
    if r.status == "stale" and r.message:  # e.g. a study-wide update whose study changed
        return f"  stale      {who}: {r.message}"
    if r.status == "stale":
        return (
            f"  stale      {who}: planned version {r.planned_version}, now {r.current_version}; "
            "nothing was written (re-plan to see the other writer's change)"
        )
    if r.status == "not_started":
        return f"  not started {who}: nothing was sent"
    if r.status == "unfinished":
        return f"  unfinished {who}: {r.message or 'the run stopped before it was verified'}"
    return f"  failed     {who}: {r.message or 'unknown error'}"


def report_json(report: ApplyReport, redactor: Redactor | None = None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "summary": report.summary(),
        "exit_code": report.exit_code,
        "journal": report.journal,
        "elapsed_seconds": round(report.elapsed, 3),
        "interrupted": report.interrupted,
        "signal": report.signal,
        "aborted": report.aborted,
        "image_sets": [result_json(r, redactor) for r in report.results],
        **({"cost": report.cost.as_dict()} if report.cost is not None else {}),
        "pacing": {p.operation: {"source": p.source, "start_rate": round(p.start, 6), "rate": round(p.rate, 6),
                                 "peak_rate": round(p.peak, 6), "throttled": p.throttled} for p in report.pacing},
    }


def pacing_lines(report: ApplyReport) -> list[str]:
    """``UpdateImageSetMetadata reached 9.84/s (learning from 0.25/s, documented; peak 25/s), 6 throttled``:
    one line per paced operation that sent requests, under a heading."""
    lines = []
    for p in report.pacing:
        how = (f"learning from {_rate(p.start)}, {p.source}; peak {_rate(p.peak)}" if p.learning
               else f"capped by --rate {_rate(p.start)}" if p.source == "--rate" else f"{p.source} {_rate(p.start)}")
        lines.append(f"  {p.operation} reached {_rate(p.rate)} ({how}), {p.throttled} throttled")
    return ["Pacing (the rate each operation reached, requests throttled):", *lines] if lines else []


def report_lines(report: ApplyReport, redactor: Redactor | None = None) -> list[str]:
    """One line per image set that did something (not the untouched ones), the summary, and where the
    journal is."""
    s = report.summary()
    lines = [result_text(r, redactor) for r in report.results if r.status not in ("unchanged", "not_started")]
    replaced = f"{s['replaced']} replaced, " if s["replaced"] else ""  # as plan shows "to replace": when any
    counts = (f"{s['converged']} converged, {replaced}{s['unchanged']} unchanged, {s['stale']} stale, "
              f"{s['failed']} failed")
    if not report.interrupted:
        lines.append(f"Apply complete: {counts} ({report.elapsed:.1f} s).")
    else:
        how = "aborted" if report.aborted else "interrupted"
        by = f" by {report.signal}" if report.signal else ""
        lines.append(f"Apply {how}{by}: {counts}, {s['unfinished']} unfinished, "
                     f"{s['not_started']} not started ({report.elapsed:.1f} s).")
        if s["unfinished"]:
            lines.append("Unfinished image sets had a request sent and were not verified: re-plan to see "
                         "where each one is.")
        if s["not_started"] or s["unfinished"]:
            lines.append("Apply the same plan again to continue: image sets already applied are found "
                         "and skipped without sending anything.")
    lines += pacing_lines(report)
    if report.cost is not None:
        lines.append(cost_line(report.cost))
    if report.journal:
        lines.append(f"Journal: {report.journal}")
    return lines


def _rate(per_second: float) -> str:
    """``0.25/s``, ``9.84/s``, ``2,500/s``."""
    return f"{per_second:.3g}/s" if per_second < 1000 else f"{per_second:,.0f}/s"
