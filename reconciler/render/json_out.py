"""The plan as JSON, exactly the contract of ``schemas/plan.schema.json``."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.model import Change, ImageSetPlan, Membership, Plan
from reconciler.plan.rules import PRIMARY_PAGE
from reconciler.plan.runinfo import Retarget
from reconciler.render.common import error_lines, moved_key, stamp, summarize
from reconciler.render.redact import Redactor
from reconciler.render.replacement import DEFAULT_RATES, NEW_ID, Rates, group_of, seconds, steps, writes
from reconciler.render.targeting import targeting_json

FORMAT_VERSION = "1"


def change_json(c: Change, redactor: Redactor) -> dict[str, Any]:
    key = c.path[-1]
    out: dict[str, Any] = {"op": c.op, "path": list(redactor.path(c.path)), "before": redactor.value(key, c.before),
                           "after": redactor.value(key, c.after), "check": c.check}
    if c.reason:
        out["reason"] = c.reason
    if c.check == "needs force":
        out["force_in_spec"] = c.force_in_spec
    if c.check == "refused on primary":
        out["rule"] = PRIMARY_PAGE
    if c.source:
        out["source"] = c.source
    return out


def replacement_json(isp: ImageSetPlan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> dict[str, Any]:
    """Action ``replace``: its steps, writes and time at RATES; the new image set ID is known after apply."""
    r = isp.replacement
    group = group_of(isp, rates)
    grouped = {} if group is None else {"group": {
        "members": list(group.members), "writes": group.writes, "seconds": round(group.seconds, 3),
        "noPrimarySeconds": round(group.window, 3)}}
    return {
        **grouped,
        "steps": [{"step": s.name, "operation": s.operation, "description": s.what, "writes": s.writes,
                   "seconds": round(s.seconds(rates), 3)} for s in steps(isp)],
        "writes": writes(isp),
        "seconds": round(seconds(isp, rates), 3),
        "newImageSetId": None,
        "newImageSetIdNote": NEW_ID,
        "sources": list(r.sources) if r is not None else [],
        "paths": [list(redactor.path(p)) for p in r.paths] if r is not None else [],
    }


def image_set_json(isp: ImageSetPlan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datastoreId": isp.datastore_id,
        "imageSetId": isp.image_set_id,
        "versionId": isp.version_id,
        "action": isp.action,
        "force": isp.force,
        "requests": len(isp.requests),
        "sources": list(isp.sources),
        "changes": [change_json(c, redactor) for c in isp.changes],
    }
    if isp.is_primary is not None:
        out["isPrimary"] = isp.is_primary
    if isp.study_members:
        out["studyWide"] = {"requests": isp.study_requests,
                            "members": [{"imageSetId": m.image_set_id, "versionId": m.version_id}
                                        for m in isp.study_members]}
    if isp.study_owner:
        out["studyOwner"] = isp.study_owner
    if isp.action == "replace":
        out["replacement"] = replacement_json(isp, redactor, rates)
    if isp.moves:
        out["moves"] = [{"path": list(redactor.path(m.spec_path)), "movedTo": moved_key(m, redactor)}
                        for m in isp.moves]
    if isp.action == "error":
        out["error"] = "\n".join(error_lines(isp, redactor))
    if isp.unread is not None:
        out["unread"] = {"reason": isp.unread.reason, "version": isp.unread.version,
                         "verifiedAt": stamp(isp.unread.verified_at)}
    if isp.tier_before is not None:
        out["tierBefore"] = isp.tier_before
    return out


def membership_json(m: Membership) -> dict[str, Any]:
    return {"source": m.source, "datastoreId": m.datastore_id, "selectKey": m.key, "joined": list(m.joined),
            "left": [{"imageSetId": i, "fate": fate} for i, fate in m.left]}


def retarget_json(r: Retarget) -> dict[str, Any]:
    return {"kind": "retarget", "severity": "warning", "source": r.source, "datastoreId": r.datastore_id,
            "imageSetId": r.image_set_id, "message": r.message()}


def plan_json(plan: Plan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> dict[str, Any]:
    summary = summarize(plan).as_dict()
    if not plan.run.incremental:  # counted apart only where image sets can be left unread
        del summary["unchanged_from_state"], summary["skipped_archived"], summary["selectors_changed"]
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "summary": summary,
        "image_sets": [image_set_json(p, redactor, rates) for p in plan.image_sets],
    }
    retarget = plan.retargets
    if retarget:  # imageSetId targets that will not find their replaced image set
        doc["notes"] = [retarget_json(r) for r in retarget]
    if plan.targeting is not None:  # only with --target/--exclude: what they left out
        doc["left_out"] = targeting_json(plan.targeting)
    if plan.membership:
        doc["membership"] = [membership_json(m) for m in plan.membership]
    if plan.state is not None:
        doc["state"] = plan.state.as_dict()
    if plan.cost is not None:
        doc["cost"] = plan.cost.as_dict()
    if plan.specs is not None:  # the spec files (paths and digests, no content) and the commit it was made from
        doc["specs"] = plan.specs.as_dict()
    return doc


def render_json(plan: Plan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> str:
    return json.dumps(plan_json(plan, redactor, rates), indent=2, ensure_ascii=False) + "\n"


def plan_fingerprints(plan: Plan, redactor: Redactor) -> dict[str, str]:
    """The fingerprint every value of PLAN is (or would be) shown with, by the digest of the value: what
    a saved plan keeps, so that ``show`` and ``apply PLANFILE`` print the plan's own. Never the key."""
    probe = redactor.probe()
    plan_json(plan, probe)  # every path, value and error of every image set
    for isp in plan.image_sets:
        probe.label("StudyInstanceUID", isp.study)
    return probe.touched()
