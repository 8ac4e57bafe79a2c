"""Saved plans (``plan --out FILE``, ``apply FILE``): a versioned JSON file, mode 0600.

It holds, per image set, the observed versionId, the exact request payloads (base64), the force
flags, the changes and the merged desired tree (so apply can verify without the specs), plus a sha256
digest of the spec files and a digest of the plan itself, checked on load so a tampered or truncated
file is refused. The file holds patient data: it is created with ``os.open(..., 0o600)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from reconciler.errors import PlanFileError
from reconciler.plan.model import Change, ImageSetPlan, Plan, UpdateRequest

FORMAT = "reconciler-plan"
FORMAT_VERSION = 1


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text, validate=True) if text is not None else None


def _change(c: Change) -> dict[str, Any]:
    return {"op": c.op, "path": list(c.path), "before": c.before, "after": c.after, "check": c.check,
            "reason": c.reason, "force_in_spec": c.force_in_spec, "node": c.node, "vr": c.vr}


def _image_set(p: ImageSetPlan) -> dict[str, Any]:
    return {
        "datastoreId": p.datastore_id, "imageSetId": p.image_set_id, "versionId": p.version_id,
        "action": p.action, "force": p.force, "error": p.error, "sources": list(p.sources),
        "study": p.study, "desired": p.desired,
        "changes": [_change(c) for c in p.changes],
        "requests": [{"updatable": _b64(r.updatable), "removable": _b64(r.removable), "force": r.force}
                     for r in p.requests],
    }


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": plan.meta.get("created_at"),
        "spec_digest": plan.spec_digest,
        "image_sets": [_image_set(p) for p in plan.image_sets],
    }
    return {**body, "plan_digest": _digest(body)}


def save_plan(plan: Plan, path: str) -> None:
    """Write ``plan`` to ``path`` (mode 0600). S3 URLs are not supported yet."""
    if path.startswith("s3://"):
        raise PlanFileError(f"{path}: saving plans to S3 is not supported yet", hint="write a local file")
    data = json.dumps(plan_to_dict(plan), indent=1, ensure_ascii=False).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # an existing file keeps its mode otherwise
            fh.write(data)
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan ({exc.strerror})") from None


def load_plan(path: str) -> Plan:
    """Read a saved plan, checking its format version and digest."""
    if path.startswith("s3://"):
        raise PlanFileError(f"{path}: reading plans from S3 is not supported yet", hint="use a local file")
    try:
        with open(path, "rb") as fh:
            raw = json.loads(fh.read().decode("utf-8"))
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{path}: not a saved plan (not JSON)") from None
    return plan_from_dict(raw, path)


def plan_from_dict(raw: Any, path: str = "<plan>") -> Plan:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PlanFileError(f"{path}: not a saved plan of the reconciler")
    if raw.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"{path}: plan format version {raw.get('format_version')!r} is not supported "
                            f"(this reconciler reads version {FORMAT_VERSION})")
    body = {k: v for k, v in raw.items() if k != "plan_digest"}
    if raw.get("plan_digest") != _digest(body):
        raise PlanFileError(f"{path}: the plan's digest does not match: the file was modified or truncated",
                            hint="run `reconciler plan --out` again")
    try:
        sets = tuple(_image_set_from(d) for d in raw["image_sets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: malformed plan ({type(exc).__name__})") from None
    return Plan(sets, spec_digest=str(raw.get("spec_digest", "")), meta={"created_at": raw.get("created_at")})


def _image_set_from(d: dict[str, Any]) -> ImageSetPlan:
    return ImageSetPlan(
        datastore_id=d["datastoreId"], image_set_id=d["imageSetId"], version_id=d["versionId"],
        action=d["action"], force=bool(d["force"]), error=d.get("error"), sources=tuple(d.get("sources", ())),
        study=d.get("study"), desired=d.get("desired") or {},
        changes=tuple(Change(c["op"], tuple(c["path"]), c["before"], c["after"], c["check"], c.get("reason"),
                             bool(c.get("force_in_spec")), bool(c.get("node")), c.get("vr"))
                      for c in d["changes"]),
        requests=tuple(UpdateRequest(_unb64(r["updatable"]), _unb64(r["removable"]), bool(r["force"]))
                       for r in d["requests"]),
    )
