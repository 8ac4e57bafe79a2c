"""Saved plans (``plan --out``, ``apply PLANFILE``): a versioned JSON document in a local file (mode 0600)
or an S3 object (``s3://bucket/key``), read and written through ``reconciler.persist.Storage``.

It holds, per image set, the observed versionId, whether it is primary, the exact request payloads
(base64), the force and study-wide flags, the image sets a study-wide request touches with the versions
they were read at, the nodes live holds under a new UID, the changes and the merged desired tree (so
apply can verify without the specs), a sha256 digest of the spec files, the backend the plan was made
against (a local store, an endpoint, or an AWS account and region: apply refuses to send it anywhere
else), the fingerprints its values were shown with (the sha256 of a value -> its 8-digit keyed hash;
never the key), so that ``show`` and ``apply PLANFILE`` print the ones the plan printed, and a digest
of the plan itself, checked on load so a tampered or truncated plan is refused. It holds patient data:
a local file is written with mode 0600 (atomically: a temporary file renamed over it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from reconciler.api import BackendIdentity
from reconciler.errors import PlanFileError
from reconciler.persist import Storage
from reconciler.plan.binding import SpecBinding, compare
from reconciler.plan.cost import Cost
from reconciler.plan.model import (
    Change,
    ImageSetPlan,
    Membership,
    Move,
    Plan,
    Replacement,
    StudyMember,
    Targeting,
    Unread,
    UpdateRequest,
)
from reconciler.plan.runinfo import Retarget, RunInfo, StateInfo, WriteRates

FORMAT = "reconciler-plan"
# 2: the backend is recorded (and, optional, the fingerprints and each change's source);
# 3: primary image sets, study-wide requests, moved nodes;
# 4: replacements (action ``replace``, which an older reconciler must not take for an update); 3 is still read
FORMAT_VERSION = 4
READ_VERSIONS = (3, 4)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_BACKEND_KINDS = ("local", "endpoint", "aws")


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text, validate=True) if text is not None else None


def _change(c: Change) -> dict[str, Any]:
    return {"op": c.op, "path": list(c.path), "before": c.before, "after": c.after, "check": c.check,
            "reason": c.reason, "force_in_spec": c.force_in_spec, "node": c.node, "vr": c.vr, "source": c.source}


def _image_set(p: ImageSetPlan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datastoreId": p.datastore_id, "imageSetId": p.image_set_id, "versionId": p.version_id,
        "action": p.action, "force": p.force, "error": p.error, "sources": list(p.sources),
        "study": p.study, "desired": p.desired, "isPrimary": p.is_primary,
        "studyMembers": [{"imageSetId": m.image_set_id, "versionId": m.version_id} for m in p.study_members],
        "studyOwner": p.study_owner,
        "moves": [{"specPath": list(m.spec_path), "livePath": list(m.live_path)} for m in p.moves],
        "changes": [_change(c) for c in p.changes],
        "requests": [{"updatable": _b64(r.updatable), "removable": _b64(r.removable), "force": r.force,
                      "study": r.study} for r in p.requests],
    }
    if p.unread is not None:  # what the run knew without reading it (a drift state, --no-archive-reads)
        out["unread"] = [p.unread.reason, p.unread.version, p.unread.verified_at]
    if p.tier_before is not None:
        out["tierBefore"] = p.tier_before
    if p.replacement is not None:  # action "replace": its requests go to the non-primary copy
        out["replacement"] = {"sources": list(p.replacement.sources),
                              "paths": [list(path) for path in p.replacement.paths]}
        if p.replacement.group:
            out["replacement"]["group"] = list(p.replacement.group)
            out["replacement"]["groupRequests"] = p.replacement.group_requests
    return out


def _run(plan: Plan) -> dict[str, Any]:
    """What the run that made the plan saw and cost, so that ``show`` reports it as the run did."""
    return {"cost": None if plan.cost is None else plan.cost.as_dict(),
            "incremental": plan.run.incremental, "state": None if plan.state is None else plan.state.as_dict(),
            "membership": [[m.source, m.datastore_id, m.key, list(m.joined), [list(x) for x in m.left]]
                           for m in plan.membership],
            "retarget": [[r.source, r.datastore_id, r.image_set_id] for r in plan.retargets],
            "eta_rates": None if plan.rates is None else plan.rates.as_dict()}


def _run_from(d: Any, created_at: Any) -> dict[str, Any]:
    """The Plan fields of the saved run (keyword arguments of ``Plan``)."""
    run = RunInfo(created_at=None if created_at is None else float(created_at))
    if d is None:
        return {"run": run}
    cost = None if d["cost"] is None else Cost(**{k: int(v) for k, v in d["cost"].items()})
    members = tuple(Membership(str(src), str(ds), str(key), tuple(map(str, joined)),
                               tuple((str(i), str(fate)) for i, fate in left))
                    for src, ds, key, joined, left in d["membership"])
    # imageSetId targets the plan's replacements leave behind: show and apply PLANFILE warn too
    retarget = tuple(Retarget(str(src), str(ds), str(i)) for src, ds, i in d.get("retarget") or ())
    state = None if d.get("state") is None else StateInfo.from_dict(d["state"])
    return {"run": RunInfo(created_at=run.created_at, incremental=bool(d["incremental"])), "cost": cost,
            "membership": members, "retargets": retarget, "state": state,
            "rates": WriteRates.from_dict(d.get("eta_rates"))}  # what its ETA assumed


def _backend(b: BackendIdentity | None) -> dict[str, Any] | None:
    if b is None:
        return None
    out = {"kind": b.kind, "location": b.location, "account": b.account}
    return out if b.region is None else {**out, "region": b.region}


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": plan.run.created_at,
        "spec_digest": plan.spec_digest,
        "backend": _backend(plan.backend),
        "fingerprints": dict(sorted(plan.fingerprints.items())),
        "image_sets": [_image_set(p) for p in plan.image_sets],
        "run": _run(plan),
    }
    if plan.specs is not None:  # the spec files it was made from: apply PLANFILE refuses it once they change
        body["specs"] = plan.specs.as_dict()
    if plan.targeting is not None:  # what --target/--exclude left out, for whoever shows the plan later
        t = plan.targeting
        body["targeting"] = {"target": list(t.targets), "exclude": list(t.excludes),
                             "left_out": [list(k) for k in t.left_out]}
    return {**body, "plan_digest": _digest(body)}


def save_plan(plan: Plan, location: str, storage: Storage) -> str | None:
    """Write ``plan`` to a local file (mode 0600) or an S3 object (encrypted, digest in its metadata).

    Returns the S3 object's ETag, or None for a local file.
    """
    data = json.dumps(plan_to_dict(plan), indent=1, ensure_ascii=False).encode("utf-8")
    return storage.write(location, data, what="plan")


def load_plan(location: str, storage: Storage) -> tuple[Plan, str | None]:
    """Read a saved plan from a local file or S3 (object digest and ETag checked there), then check its
    format version and its own digest. Returns the plan and the S3 object's ETag (None for a local file)."""
    data, etag = storage.read(location, what="plan")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{location}: not a saved plan (not JSON)") from None
    return plan_from_dict(raw, location), etag


def check_backend(plan: Plan, current: BackendIdentity, location: str) -> None:
    """Refuse to apply PLAN anywhere but the backend it was made against (PlanFileError, exit 1)."""
    if plan.backend is None:
        raise PlanFileError(f"{location}: the plan does not record the backend it was made against; refused, "
                            "nothing was sent", hint="plan again with `reconciler plan --out`")
    if plan.backend != current:
        raise PlanFileError(
            f"{location}: the plan was made against {plan.backend.describe()}, but this apply would run "
            f"against {current.describe()}; refused, nothing was sent",
            hint=f"apply it with {backend_options(plan.backend)} (or with no backend option and RECONCILER_LOCAL "
            "unset: apply then uses the backend the plan recorded), or plan again against this backend",
        )


def backend_options(b: BackendIdentity) -> str:
    """The command-line options that reach the backend B, as a user would type them."""
    if b.kind == "local":
        return f"`--local {b.location}`"
    if b.kind == "endpoint":
        return f"`--endpoint-url {b.location}" + (f" --region {b.region}`" if b.region else "`")
    return f"`--region {b.location}` and credentials of AWS account {b.account}"


def plan_from_dict(raw: Any, path: str = "<plan>") -> Plan:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PlanFileError(f"{path}: not a saved plan of the reconciler")
    if raw.get("format_version") not in READ_VERSIONS:
        raise PlanFileError(f"{path}: plan format version {raw.get('format_version')!r} is not supported "
                            f"(this reconciler reads version {FORMAT_VERSION})",
                            hint="run `reconciler plan --out` again")
    body = {k: v for k, v in raw.items() if k != "plan_digest"}
    if raw.get("plan_digest") != _digest(body):
        raise PlanFileError(f"{path}: the plan's digest does not match: the file was modified or truncated",
                            hint="run `reconciler plan --out` again")
    try:
        sets = tuple(_image_set_from(d) for d in raw["image_sets"])
        backend = _backend_from(raw.get("backend"))
        targeting = _targeting_from(raw.get("targeting"))
        fingerprints = _fingerprints_from(raw.get("fingerprints"))
        run = _run_from(raw.get("run"), raw.get("created_at"))
        run["specs"] = SpecBinding.from_dict(raw.get("specs"))
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: malformed plan ({type(exc).__name__})") from None
    return Plan(sets, spec_digest=str(raw.get("spec_digest", "")), backend=backend, targeting=targeting,
                fingerprints=fingerprints, **run)


def check_specs(plan: Plan, location: str) -> list[str]:
    """Refuse PLAN when a spec file it was made from and that is here differs (an edit, a removed file, a new
    spec file in a planned folder): PlanFileError, exit 1, naming each. Returns the notes to print: the files
    could not be checked (none is here), or the commit differs while the spec files are the same."""
    if plan.specs is None:
        return [f"{location} does not record the spec files it was made from, so they could not be checked "
                "(plan again with this reconciler to bind the plan to them)"]
    found = compare(plan.specs)
    if found.changed:
        named = ", ".join(f"{path} ({what})" for path, what in found.changed)
        raise PlanFileError(
            f"{location}: the spec files changed since the plan was made: {named}; refused, nothing was sent",
            hint="plan again from these specs (`reconciler plan ... --out PLANFILE`), review it, and apply that plan")
    if not found.checked:
        return [f"the spec files of {location} ({', '.join(plan.specs.planned)}) are not here, so they could not "
                "be checked against the plan"]
    made, now = plan.specs.commit, found.commit
    if made is not None and now is not None and made != now:
        return [f"{location} was made from commit {made[:12]}, and {now[:12]} is checked out; its spec files are "
                "the same, so it is applied"]
    return []


def _targeting_from(d: Any) -> Targeting | None:
    if d is None:
        return None
    left = tuple((str(ds), str(image_set)) for ds, image_set in d["left_out"])
    return Targeting(tuple(map(str, d["target"])), tuple(map(str, d["exclude"])), left)


def _fingerprints_from(d: Any) -> dict[str, str]:
    """sha256 of a value (64 hex digits) -> its fingerprint (8); absent in a plan saved before they were kept."""
    if d is None:
        return {}
    if not isinstance(d, dict) or not all(_HEX64.fullmatch(str(k)) and isinstance(v, str) and _HEX8.fullmatch(v)
                                          for k, v in d.items()):
        raise ValueError("fingerprints")
    return dict(d)


def _backend_from(d: Any) -> BackendIdentity | None:
    if d is None:
        return None
    if d["kind"] not in _BACKEND_KINDS:
        raise ValueError(d["kind"])
    account, region = d.get("account"), d.get("region")
    return BackendIdentity(d["kind"], str(d["location"]), None if account is None else str(account),
                           None if region is None else str(region))


def _image_set_from(d: dict[str, Any]) -> ImageSetPlan:
    return ImageSetPlan(
        datastore_id=d["datastoreId"], image_set_id=d["imageSetId"], version_id=d["versionId"],
        action=d["action"], force=bool(d["force"]), error=d.get("error"), sources=tuple(d.get("sources", ())),
        study=d.get("study"), desired=d.get("desired") or {}, is_primary=_flag(d.get("isPrimary")),
        study_members=tuple(StudyMember(str(m["imageSetId"]), str(m["versionId"])) for m in d["studyMembers"]),
        study_owner=None if d.get("studyOwner") is None else str(d["studyOwner"]),
        moves=tuple(Move(tuple(m["specPath"]), tuple(m["livePath"])) for m in d["moves"]),
        changes=tuple(Change(c["op"], tuple(c["path"]), c["before"], c["after"], c["check"], c.get("reason"),
                             bool(c.get("force_in_spec")), bool(c.get("node")), c.get("vr"), c.get("source"))
                      for c in d["changes"]),
        requests=tuple(UpdateRequest(_unb64(r["updatable"]), _unb64(r["removable"]), bool(r["force"]),
                                     r["study"] is True)
                       for r in d["requests"]),
        unread=None if d.get("unread") is None else Unread(d["unread"][0], str(d["unread"][1]), d["unread"][2]),
        tier_before=d.get("tierBefore"),
        replacement=_replacement_from(d.get("replacement")),
    )


def _replacement_from(d: Any) -> Replacement | None:
    if d is None:
        return None
    return Replacement(tuple(map(str, d["sources"])), tuple(tuple(map(str, path)) for path in d["paths"]),
                       tuple(map(str, d.get("group", ()))), int(d.get("groupRequests", 0)))


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError("isPrimary")
