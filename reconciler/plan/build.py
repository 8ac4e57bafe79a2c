"""Build a Plan: resolve targets, read each image set, diff, build its requests, in a thread pool; then
turn the study-level changes of primary image sets into study-wide requests (``reconciler.plan.study``).

Memory stays flat with the number of image sets: each worker holds one live document at a time and
drops it once diffed; only the (small) changes and request payloads are kept.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.errors import CredentialsError, EndpointError, ReconcilerError
from reconciler.padding import unpad
from reconciler.plan import rules
from reconciler.plan.diff import diff_with_moves, format_path
from reconciler.plan.fetch import Work, read_live, unread
from reconciler.plan.group import plan_groups
from reconciler.plan.incremental import Incremental, prepare, selectors
from reconciler.plan.incremental import membership as changed_members
from reconciler.plan.model import Action, Change, ImageSetPlan, Membership, Move, Path, Plan, Replacement, Unread
from reconciler.plan.moves import follow
from reconciler.plan.replacing import on_copy, replace_hint, replaceable
from reconciler.plan.requests import BLOB_LIMIT, build_requests
from reconciler.plan.runinfo import RunInfo
from reconciler.plan.study import is_study_level, plan_studies
from reconciler.plan.targeting import Scope, narrow
from reconciler.plan.targets import resolve
from reconciler.spec.model import SpecDocument

Progress = Callable[[int, int], None]


def build_plan(
    docs: Sequence[SpecDocument],
    api: HealthImagingAPI,
    parallelism: int = 8,
    progress: Progress | None = None,
    lock_wait: float = 60.0,
    scope: Scope | None = None,
    blob_limit: int = BLOB_LIMIT,
    incremental: Incremental | None = None,
) -> Plan:
    """Plan every image set the documents target (narrowed by ``scope``: ``--target``/``--exclude``, once
    selectors are resolved). Per-image-set problems become ``action: error``.

    Targets that do not hold (an empty ``select``, documents that disagree on an image set they both
    reach) raise ``TargetError``, and a ``scope`` argument that matches nothing ``UsageError``, before
    any metadata is read. No request blob is over ``blob_limit`` bytes. With INCREMENTAL (a drift state, or
    ``--no-archive-reads``) image sets that need no read are planned as unchanged without a request.
    """
    resolution = resolve(docs, api)
    works, targeting = narrow(resolution.works, scope or Scope())
    started = incremental.clock() if incremental is not None else time.time()
    membership: tuple[Membership, ...] = ()
    kept: dict[str, tuple[str, frozenset[str]]] = {}
    if incremental is not None:
        works = prepare(works, api, incremental, started, merged=lambda w: merge_desired(w.docs))
        membership = changed_members(resolution.selections, incremental, api)
        if incremental.key is not None:
            kept = selectors(resolution.selections, incremental.key)
    results: list[ImageSetPlan | None] = [None] * len(works)
    todo = []
    for i, w in enumerate(works):
        skip = unread(w, w.version, w.tier)  # decided without a request: no thread, no future
        if skip is None:
            todo.append(i)
        else:
            results[i] = unread_plan(w, skip)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = {pool.submit(plan_image_set, api, works[i], lock_wait, blob_limit): i for i in todo}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            if progress is not None:
                progress(done, len(todo))
    plans = plan_studies(plan_groups([p for p in results if p is not None], api), api, blob_limit)
    warnings = tuple(w for p in plans for w in p.warnings)
    run = RunInfo(started_at=started, created_at=time.time(), incremental=incremental is not None,
                  notes=tuple(resolution.notes), warnings=warnings, selectors=kept)
    return Plan(plans, spec_digest=spec_digest(docs), run=run, targeting=targeting, membership=membership)


def spec_digest(docs: Sequence[SpecDocument]) -> str:
    """sha256 over the spec files (name and bytes), in sorted order."""
    h = hashlib.sha256()
    for name in sorted({d.file for d in docs}):
        h.update(name.encode() + b"\0")
        try:
            with open(name, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


def merge_desired(docs: Sequence[SpecDocument]) -> Mapping[str, Any]:
    """The desired trees of several documents for one image set, merged (one document's tree as it is:
    nothing changes a desired tree, and a fleet of 100,000 image sets need not be copied)."""
    if len(docs) == 1:
        return docs[0].desired
    out: dict[str, Any] = {}
    for d in docs:
        _merge(out, d.desired)
    return out


def _merge(into: dict[str, Any], tree: Mapping[str, Any]) -> None:
    for key, value in tree.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            _merge(into[key], value)
        else:
            into[key] = value


def _base(work: Work) -> dict[str, Any]:
    return {
        "datastore_id": work.datastore_id,
        "image_set_id": work.image_set_id,
        "sources": tuple([f"{d.file}:{d.line}" for d in work.docs]),
        "desired": merge_desired(work.docs),
    }


def unread_plan(work: Work, why: Unread) -> ImageSetPlan:
    """An image set left unread: nothing to do, and the reason (it is not listed as a change)."""
    return ImageSetPlan(version_id=why.version, action="none", unread=why, **_base(work))


def plan_image_set(
    api: HealthImagingAPI, work: Work, lock_wait: float = 60.0, blob_limit: int = BLOB_LIMIT
) -> ImageSetPlan:
    """Read, diff and build requests for one image set (study-wide requests come after: ``plan_studies``)."""
    base = _base(work)
    try:
        read = read_live(api, work, lock_wait=lock_wait)
    except (CredentialsError, EndpointError):
        raise
    except ReconcilerError as exc:
        return ImageSetPlan(version_id=work.version, action="error", error=_from_specs(str(exc), work), **base)
    if read.document is None:
        return ImageSetPlan(version_id=read.version, action="none", unread=read.unread,
                             is_primary=read.is_primary, **base)
    version, live = read.version, read.document
    base["tier_before"] = read.tier
    base["is_primary"] = primary = read.is_primary is not False
    if read.is_primary is None:  # the model makes isPrimary optional: read a missing flag the restrictive way
        base["warnings"] = (missing_primary_warning(work.image_set_id),)
    del read  # only ``live`` holds the document now, and it is dropped once diffed
    try:
        changes, origin, moves = _diff_all(work.docs, live, bool(primary))
        base["study"] = _study_uid(live)
        base["moves"] = moves
        base["study_wide"] = all(origin[c.path].study_wide for c in changes if is_study_level(c))
    except Exception as exc:  # a document shape we did not foresee: fail this image set, not the run
        # the exception text may quote a value (patient data): only its type is reported
        return ImageSetPlan(version_id=version, action="error",
                            error=_from_specs(f"internal error while diffing ({type(exc).__name__})", work), **base)
    finally:
        del live  # the live document is the big thing: never keep it
    plan_replace = primary and replaceable(changes, origin)
    if plan_replace:  # every change goes to the non-primary copy, which takes what the primary refuses
        refused = tuple(c.path for c in changes if c.check == "refused on primary")
        changes = tuple(on_copy(c) for c in changes)
        leave = {f"{d.replace.file}:{d.replace.line}" for d in work.docs if d.replace is not None}
        base["replacement"] = Replacement(tuple(sorted(leave)), refused)
    problems = [_problem(c, origin[c.path], moves) for c in changes if blocks(c)]
    if problems:  # one line each: renderers show them one per line (and the changes without the reason)
        return ImageSetPlan(version_id=version, action="error", changes=changes, error="\n".join(problems), **base)
    try:
        requests = build_requests(changes, blob_limit)
    except ReconcilerError as exc:
        return ImageSetPlan(version_id=version, action="error", changes=changes, error=_from_specs(str(exc), work),
                            **base)
    action: Action = "replace" if plan_replace else "update" if requests else "none"
    return ImageSetPlan(version_id=version, action=action, force=any(r.force for r in requests), changes=changes,
                        requests=requests, **base)


def _diff_all(
    docs: Sequence[SpecDocument], live: Mapping[str, Any], primary: bool
) -> tuple[tuple[Change, ...], dict[Any, SpecDocument], tuple[Move, ...]]:
    changes: list[Change] = []
    origin: dict[Any, SpecDocument] = {}
    moves: dict[Any, Move] = {}
    for doc in docs:
        found, moved = diff_with_moves(doc.desired, live, doc.force, primary=primary)
        for c in found:
            if c.path not in origin:
                origin[c.path] = doc
                pos = doc.position(_spec_path(c.path, moved))
                changes.append(replace(c, source=f"{pos.file}:{pos.line}"))
        for m in moved:
            moves.setdefault(m.spec_path, m)
    return tuple(changes), origin, tuple(moves.values())


def _spec_path(path: Path, moves: Sequence[Move]) -> Path:
    """PATH as the spec writes it: a moved node's changes address its new key, the spec its old one."""
    return follow(path, {m.live_path: m.spec_path for m in moves})


def _from_specs(message: str, work: Work) -> str:
    """An image set's error, naming the spec documents that target it (``file:line``)."""
    where = ", ".join(f"{d.file}:{d.line}" for d in work.docs)
    return f"{message} (spec{'s' if len(work.docs) > 1 else ''} {where})" if where else message


def _study_uid(live: Mapping[str, Any]) -> str | None:
    study = live.get("Study")
    dicom = study.get("DICOM") if isinstance(study, Mapping) else None
    uid = dicom.get("StudyInstanceUID") if isinstance(dicom, Mapping) else None
    return unpad(str(uid)) if uid else None


def missing_primary_warning(image_set_id: str) -> str:
    return (f"image set {image_set_id}: the service did not say whether it is a primary image set (no isPrimary "
            "in its answer); it is planned as a primary image set, which refuses more changes in place")


def blocks(c: Change) -> bool:
    """Whether ``c`` makes its image set an error (forbidden, refused by a primary image set, or needs
    force the spec does not give)."""
    return c.check in ("forbidden", "refused on primary") or (c.check == "needs force" and not c.force_in_spec)


def _problem(c: Change, doc: SpecDocument, moves: Sequence[Move]) -> str:
    pos = doc.position(_spec_path(c.path, moves))  # a moved node's changes: the spec's line of it
    where = f"{format_path(c.path)} ({pos.file}:{pos.line})"
    if c.check == "forbidden":
        return f"{where}: forbidden: {c.reason}"
    if c.check == "refused on primary":
        return (f"{where}: refused on primary: {c.reason}; the image set is a primary image set, and nothing "
                f"is sent to it; {replace_hint(doc)} ({rules.PRIMARY_PAGE})")
    return f"{where}: needs force: {c.reason}; set `force: true` in the spec to allow it"
