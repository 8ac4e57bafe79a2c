"""Incremental drift: from a drift state and what the service says changed, which image sets need their
metadata read; and the state a run leaves behind.

Per datastore the service is asked once what changed: ``SearchImageSets`` with ``updatedAt BETWEEN
[last check - margin, now + margin]``, sorted by ``updatedAt``, 50 per page
(https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html). The margin
covers clock skew between this machine and the service, and updates still in flight when the last run
searched. An image set the state knows that the search does not return kept its version; one it returns
carries its current version and storage tier in the summary; ``select`` targets have both from the search
that resolves them. Metadata is then read only for an image set whose version moved, whose desired
subtree changed since it was verified, or that the state does not know (``plan.fetch.unread``).

A new image set of the same study as one the state knows may be that one's replacement under a new ID
(copy and promote): the known one is then checked with GetImageSet, which leaves the storage tier alone
(https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html), so that a deleted
one is reported. A plain deletion of an image set named by ID, with no new image set of its study, is
invisible to SearchImageSets: the next ``--refresh`` (or any read of it) reports it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api import BackendIdentity, HealthImagingAPI, SearchHit
from reconciler.errors import CredentialsError, EndpointError, NotFound, ReconcilerError
from reconciler.padding import unpad
from reconciler.plan.fetch import Since, Work
from reconciler.plan.model import ImageSetPlan, Membership, Plan
from reconciler.plan.state import DriftState, Entry, StateKey
from reconciler.plan.targets import Selection

DEFAULT_MARGIN = 300.0  # seconds
Selectors = dict[str, tuple[str, frozenset[str]]]


@dataclass(frozen=True)
class Incremental:
    """How a plan uses a drift state.

    ``state`` (None: there is none yet, or it cannot be trusted) tells which image sets need no read, unless
    ``refresh`` (then everything is read and the state only tells which selectors lost or gained image
    sets). ``skip_archived``: leave archived image sets whose version has not moved unread.
    """

    key: StateKey | None
    state: DriftState | None = None
    margin: float = DEFAULT_MARGIN
    skip_archived: bool = False
    refresh: bool = False
    clock: Callable[[], float] = time.time


def desired_digest(key: StateKey, desired: Any) -> str:
    return key.digest(["desired", desired])


def study_digest(key: StateKey, study: str | None) -> str | None:
    return None if not study else key.digest(["study", unpad(study)])


def selector_digest(key: StateKey, datastore_id: str, select: tuple[str, str]) -> str:
    return key.digest(["select", datastore_id, *select])


def prepare(works: list[Work], api: HealthImagingAPI, inc: Incremental, now: float,
            merged: Callable[[Work], Any]) -> list[Work]:
    """WORKS, each filled in place with what the state and the ``updatedAt`` search tell (version, tier,
    ``since``): in place, so a fleet's works are not held twice."""
    if inc.skip_archived:
        for i, w in enumerate(works):
            works[i] = dataclasses.replace(w, skip_archived=True)
    state, key = inc.state, inc.key
    if state is None or key is None or inc.refresh:
        return works
    for ds in sorted({w.datastore_id for w in works}):
        _prepare_datastore(ds, works, api, inc, state, key, now, merged)
    return works


def _prepare_datastore(ds: str, works: list[Work], api: HealthImagingAPI, inc: Incremental, state: DriftState,
                       key: StateKey, now: float, merged: Callable[[Work], Any]) -> None:
    known = (state.entries.get((ds, w.image_set_id)) for w in works if w.datastore_id == ds)
    oldest = min((state.checked_at(ds, e) for e in known if e is not None), default=None)
    if oldest is None:
        return  # nothing known here: everything is read
    low = oldest - inc.margin
    hits: dict[str, SearchHit] = {}
    new_studies: set[str] = set()
    for hit in api.search_updated(ds, low, now + inc.margin):
        hits[hit.image_set_id] = hit
        new = hit.created_at is not None and hit.created_at >= low and (ds, hit.image_set_id) not in state.entries
        digest = study_digest(key, hit.study) if new else None
        if digest is not None:
            new_studies.add(digest)
    for i, w in enumerate(works):
        if w.datastore_id == ds:
            works[i] = _fill(w, state.entries.get((ds, w.image_set_id)), hits.get(w.image_set_id), new_studies,
                             key, merged)


def _fill(w: Work, e: Entry | None, hit: SearchHit | None, new_studies: set[str], key: StateKey,
          merged: Callable[[Work], Any]) -> Work:
    version, tier, primary = w.version, w.tier, w.is_primary
    if hit is not None:
        version, tier = version or hit.version, tier or hit.storage_tier
        primary = hit.is_primary if primary is None else primary
    since = None
    if e is not None:
        replaced = hit is None and e.study is not None and e.study in new_studies
        if version is None and not replaced:
            version = e.version  # not updated since it was checked, or the search would have returned it
        since = Since(e.version, e.verified_at, desired_digest(key, merged(w)) == e.digest)
    # built directly, not with dataclasses.replace: this runs once per image set of the fleet
    return Work(w.datastore_id, w.image_set_id, version, w.docs, primary, tier, since, w.skip_archived)


def selectors(selections: Iterable[Selection], key: StateKey) -> Selectors:
    """Selector digest -> (datastore, IDs found), as the state keeps them."""
    out: Selectors = {}
    for sel in selections:
        t = sel.doc.target
        if t.select is not None:
            out[selector_digest(key, t.datastore_id, t.select)] = (t.datastore_id, sel.ids)
    return out


def membership(selections: Sequence[Selection], inc: Incremental, api: HealthImagingAPI) -> tuple[Membership, ...]:
    """The selectors whose image sets differ from the ones the state recorded; each one that left is looked up
    with GetImageSet (no tier change) to tell a deleted image set from one that no longer matches."""
    if inc.state is None or inc.key is None:
        return ()
    out: list[Membership] = []
    seen: set[str] = set()
    for sel in selections:
        t = sel.doc.target
        if t.select is None:
            continue
        digest = selector_digest(inc.key, t.datastore_id, t.select)
        old = inc.state.selectors.get(digest)
        if digest in seen or old is None or old[1] == sel.ids:
            continue
        seen.add(digest)
        left = tuple((i, _fate(api, t.datastore_id, i)) for i in sorted(old[1] - sel.ids))
        out.append(Membership(f"{sel.doc.file}:{sel.doc.line}", t.datastore_id, t.select[0],
                              tuple(sorted(sel.ids - old[1])), left))
    return tuple(out)


def _fate(api: HealthImagingAPI, datastore_id: str, image_set_id: str) -> str:
    try:
        info = api.get_image_set(datastore_id, image_set_id)
    except NotFound:
        return "deleted"
    except (CredentialsError, EndpointError):
        raise
    except ReconcilerError as exc:
        return f"could not be read ({type(exc).__name__})"
    return "deleted" if info.state == "DELETED" else "no longer matches"


def next_state(old: DriftState | None, plan: Plan, key: StateKey, backend: BackendIdentity) -> DriftState:
    """The state after a plan or drift run: every image set it found in sync (read now, or unchanged since
    the state verified it), as of the run's start. Drifted, failed and no longer named image sets are left
    out, so the next run reads them; image sets left out by ``--target``/``--exclude`` keep their entries; the
    selectors are the ones of this run."""
    started = plan.run.started_at
    entries: dict[tuple[str, str], Entry] = {}
    checked: dict[str, float] = {}
    known = old.entries if old is not None else {}
    for p in plan.image_sets:
        checked[p.datastore_id] = started
        k = (p.datastore_id, p.image_set_id)
        entry = _entry(p, known.get(k), key, started)
        if entry is not None:
            entries[k] = entry
    for k in plan.targeting.left_out if plan.targeting is not None and old is not None else ():
        left = known.get(k)  # left out by --target/--exclude: kept, as of when it was last checked
        if left is not None and old is not None:
            entries[k] = dataclasses.replace(left, checked_at=old.checked_at(k[0], left))
    return DriftState(backend, entries, checked, dict(plan.run.selectors), written_at=time.time())


def _entry(p: ImageSetPlan, old: Entry | None, key: StateKey, started: float) -> Entry | None:
    if p.action != "none" or p.version_id is None:
        return None
    if p.unread is None:
        study = study_digest(key, p.study) or (old.study if old is not None else None)
        return Entry(p.version_id, desired_digest(key, p.desired), started, None, study)
    if old is None or old.version != p.unread.version:
        return None  # archived and never verified: nothing to record
    return old if old.checked_at is None else dataclasses.replace(old, checked_at=None)


def after_apply(state: DriftState, plan: Plan, verified: Mapping[tuple[str, str], str | None], key: StateKey,
                checked_at: float, replaced: Mapping[tuple[str, str], str] | None = None) -> None:
    """Record what an apply verified: VERIFIED maps each image set of PLAN it ran to the version found in
    sync (converged or unchanged), or None (stale, failed: the entry goes, so the next run reads it).

    REPLACED maps each image set a replacement retired to the ID of the new primary image set, whose version
    VERIFIED gives: the entry moves to the new ID, and every selector that found the old ID now finds the new
    one, so the next drift run reports neither a lost nor a gained image set for it."""
    replaced = replaced or {}
    for p in plan.image_sets:
        k = (p.datastore_id, p.image_set_id)
        if k not in verified:
            continue
        version = verified[k]
        old = state.entries.pop(k, None)
        new_id = replaced.get(k)
        if new_id is not None:
            _retire(state, p.datastore_id, p.image_set_id, new_id)
        if version is not None:
            study = study_digest(key, _study_after(p)) or (old.study if old is not None else None)
            state.entries[(p.datastore_id, new_id or p.image_set_id)] = Entry(
                version, desired_digest(key, p.desired), checked_at, checked_at, study)
    state.written_at = time.time()


def _retire(state: DriftState, datastore_id: str, old_id: str, new_id: str) -> None:
    """Every selector of DATASTORE_ID that found OLD_ID finds NEW_ID instead (its replacement)."""
    for digest, (ds, ids) in list(state.selectors.items()):
        if ds == datastore_id and old_id in ids:
            state.selectors[digest] = (ds, (ids - {old_id}) | {new_id})
    state.entries.pop((datastore_id, new_id), None)  # replaced by the entry of what was verified


def _study_after(p: ImageSetPlan) -> str | None:
    """The StudyInstanceUID the image set has once the plan is applied: the desired one where the spec sets it
    (a forced UID change), else the one read."""
    study = p.desired.get("Study")
    dicom = study.get("DICOM") if isinstance(study, Mapping) else None
    uid = dicom.get("StudyInstanceUID") if isinstance(dicom, Mapping) else None
    return uid if isinstance(uid, str) else p.study
