"""Pieces the renderers share: summary counts, change lines, durations under the update quota."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.plan.cost import Cost
from reconciler.plan.diff import format_path
from reconciler.plan.model import Change, ImageSetPlan, Move, Plan
from reconciler.plan.rules import FORCE_REASON, SERIES_REMOVAL_REASON, primary_reason
from reconciler.ratelimit import DEFAULT_QUOTAS
from reconciler.render.redact import Redactor
from reconciler.render.replacement import DEFAULT_RATES, Rates, Writes, plan_writes

DEFAULT_UPDATE_RATE = DEFAULT_QUOTAS["UpdateImageSetMetadata"][0]  # the quota, requests per second
SYMBOL = {"add": "+", "change": "~", "remove": "-"}


@dataclass(frozen=True)
class Summary:
    image_sets: int
    to_update: int
    unchanged: int  # in sync: read now, or unchanged since a drift state verified it
    errors: int
    add: int
    change: int
    remove: int
    requests: int
    unchanged_from_state: int = 0  # of ``unchanged``: not read, the drift state's verification holds
    skipped_archived: int = 0  # not read (--no-archive-reads) and so not verified; not in ``unchanged``
    to_replace: int = 0  # primary image sets replaced (copy, update the copy, delete, promote, delete the copy)
    writes: int = 0  # every write: the update requests, and the copies and deletions of the replacements
    selectors_changed: int = 0  # select targets that lost or gained image sets since the drift state: drift

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def actions(self) -> str:
        """``1 to update, 1 to replace, 3 unchanged``: replacements named only when there are some."""
        replace = f", {self.to_replace} to replace" if self.to_replace else ""
        return f"{self.to_update} to update{replace}, {self.unchanged} unchanged"

    def membership(self) -> str:
        """``, 1 selector lost or gained image sets``: drift without a change to plan, named beside the counts
        so that a summary never reads "0 to update" next to a drift exit without saying why."""
        if not self.selectors_changed:
            return ""
        return f", {plural(self.selectors_changed, 'selector')} lost or gained image sets"

    def line(self) -> str:
        known = f" ({self.unchanged_from_state} from the drift state)" if self.unchanged_from_state else ""
        archived = f", {self.skipped_archived} archived not read" if self.skipped_archived else ""
        requests = (f"{plural(self.requests, 'update request')}, {plural(self.writes, 'write')} in all"
                    if self.to_replace else plural(self.requests, 'request'))
        return (f"Plan: {self.actions()}{known}{archived}{self.membership()}, {self.errors} with "
                f"errors ({self.add} to add, {self.change} to change, {self.remove} to remove); {requests}.")


def summarize(plan: Plan) -> Summary:
    ops = {"add": 0, "change": 0, "remove": 0}
    reasons = {"state": 0, "archived": 0}
    for isp in plan.image_sets:
        if isp.action in ("update", "replace"):
            for c in isp.changes:
                ops[c.op] += 1
        if isp.unread is not None:
            reasons[isp.unread.reason] += 1
    actions = [p.action for p in plan.image_sets]
    return Summary(len(actions), actions.count("update"), actions.count("none") - reasons["archived"],
                   actions.count("error"), ops["add"], ops["change"], ops["remove"], plan.request_count,
                   reasons["state"], reasons["archived"], actions.count("replace"), plan_writes(plan).total,
                   len(plan.membership))


def cost_line(cost: Cost) -> str:
    """What the run asked of the service, and how many image sets its reads took out of the archive tier."""
    return (f"Cost: {plural(cost.metadata_reads, 'metadata read')} ({cost.tier_ups} moved from the archive tier "
            f"back to Frequent Access), {cost.image_set_reads} GetImageSet, "
            f"{plural(cost.search_pages, 'search page')}; {plural(cost.writes, 'write')}.")


def stamp(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC, to the second."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unread_lines(plan: Plan, limit: int = 10) -> list[str]:
    """What was not read and why: counted for the drift state, listed (up to LIMIT) for the archive tier."""
    state = [p.unread for p in plan.image_sets if p.unread is not None and p.unread.reason == "state"]
    archived = [p for p in plan.image_sets if p.unread is not None and p.unread.reason == "archived"]
    out = []
    if state:
        times = [u.verified_at for u in state if u.verified_at is not None]
        when = f", verified between {stamp(min(times))} and {stamp(max(times))}" if times else ""
        out.append(f"{plural(len(state), 'image set')} unchanged since the version the drift state verified in "
                   f"sync{when}: not read.")
    if archived:
        out.append(f"{plural(len(archived), 'image set')} in the archive tier not read (--no-archive-reads): "
                   "their version has not moved, so they were not verified:")
        out += [f"  {p.image_set_id} (datastore {p.datastore_id}, version {p.version_id})" for p in archived[:limit]]
        if len(archived) > limit:
            out.append(f"  ... and {len(archived) - limit} more (all are in the JSON report)")
    return out


def membership_lines(plan: Plan) -> list[str]:
    """Selectors that lost or gained image sets since the drift state: drift of their own."""
    out = []
    for m in plan.membership:
        where = f"{m.source}: target.select.{m.key} (datastore {m.datastore_id})"
        parts = [f"gained {i}" for i in m.joined] + [f"lost {i} ({fate})" for i, fate in m.left]
        out.append(f"! {where}: {', '.join(parts)}")
    return out


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600 * 2:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def eta_line(requests: int, rate: float = DEFAULT_UPDATE_RATE, note: str = "") -> str:
    """"412 requests, about 27 min at 0.25/s": the time apply needs under the update quota (NOTE: what
    that rate is, e.g. " (the rate learned for this account)")."""
    return f"{plural(requests, 'request')}, about {duration(requests / rate)} at {rate:g}/s{note}"


def plan_eta(plan: Plan, rates: Rates = DEFAULT_RATES) -> str | None:
    """The time apply needs under the write quotas (None: nothing to write). Without replacements, the
    update line (``eta_line``); with them, every write by operation, each at its own rate."""
    w = plan_writes(plan)
    if not w.total:
        return None
    if not w.copies and not w.deletes:
        return eta_line(w.updates, rates.update, rates.note)
    return writes_eta_line(w, rates)


def writes_eta_line(w: Writes, rates: Rates) -> str:
    """"6 writes (2 UpdateImageSetMetadata, 2 CopyImageSet, 2 DeleteImageSet), about 24 s at 0.25/s each,
    plus the wait for each copy, update and deletion to finish"."""
    rate = (f"{rates.update:g}/s each" if rates.update == rates.copy == rates.delete else
            f"{rates.update:g}/s, {rates.copy:g}/s and {rates.delete:g}/s")
    return (f"{plural(w.total, 'write')} ({w.updates} UpdateImageSetMetadata, {w.copies} CopyImageSet, "
            f"{w.deletes} DeleteImageSet), about {duration(w.seconds(rates))} at {rate}{rates.note}, plus the wait "
            "for each copy, update and deletion to finish")


def show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def change_line(c: Change, redactor: Redactor, *, note: bool = True, forces: bool = False) -> str:
    """``~ Patient.DICOM.PatientName: "<redacted:..>" -> "<redacted:..>"  (specs/a.yaml:12)`` (no colour,
    no indent), ending with the spec line that asks for it; ``note``: append why the change needs force
    or is forbidden (False when an error line says it); ``forces``: the primary image set refuses the change
    in place, so it forces the image set's replacement (terraform's "# forces replacement")."""
    where = format_path(redactor.path(c.path))
    key = c.path[-1]
    if c.node:
        noun = "series" if c.path[-2] == "Series" else "instance"
        text = f"{SYMBOL[c.op]} {where} ({noun})"
    elif c.op == "add":
        text = f"+ {where}: {show(redactor.value(key, c.after))}"
    elif c.op == "remove":
        text = f"- {where}: {show(redactor.value(key, c.before))}"
    else:
        text = f"~ {where}: {show(redactor.value(key, c.before))} -> {show(redactor.value(key, c.after))}"
    if note and c.check == "needs force":
        text += f"  [needs force: {c.reason}; spec {'has' if c.force_in_spec else 'lacks'} force: true]"
    elif note and c.check == "forbidden":
        text += f"  [forbidden: {c.reason}]"
    elif note and c.check == "refused on primary" and not forces:
        text += f"  [refused on primary: {c.reason}]"
    if note and forces:
        text += f"  [forces replacement: {c.reason if c.check == 'refused on primary' else refused_reason(c)}]"
    return text + (f"  ({c.source})" if c.source else "")


def refused_reason(c: Change) -> str:
    """Why a primary image set refuses change C in place (C itself, as the copy takes it, may be ``ok`` or
    ``needs force``)."""
    path = c.path
    if c.node:
        return SERIES_REMOVAL_REASON if path[-2] == "Series" else "a primary image set refuses it in place"
    level = "Instance" if "Instances" in path else "Series" if "Series" in path else path[0]
    reason = primary_reason(path[-1], level)
    if reason is None and c.check == "needs force":
        return FORCE_REASON
    return reason or "a primary image set refuses it in place"


def error_lines(isp: ImageSetPlan, redactor: Redactor) -> list[str]:
    """An image set's error, one line each, with series and instance UIDs in paths redacted."""
    return [redactor.text(line) for line in (isp.error or "error").splitlines()]


def moved_key(m: Move, redactor: Redactor) -> str:
    """The UID live keys a moved node by, as it may be shown (``uid:HASH``, as every UID in a path)."""
    return redactor.uid(m.live_path[-1])


def move_line(m: Move, redactor: Redactor) -> str:
    """``> Study.Series[uid:..].Instances[uid:..]: moved to Instances[uid:..]`` (like terraform's ``moved``)."""
    container = m.live_path[-2]
    return (f"> {format_path(redactor.path(m.spec_path))}: moved to {container}[{moved_key(m, redactor)}] (live "
            f"holds it under the new {'SOPInstanceUID' if m.level == 'Instance' else 'SeriesInstanceUID'} the "
            "spec sets)")


def study_lines(isp: ImageSetPlan) -> list[str]:
    """What a study-wide request touches, or which one carries this image set's study-level changes."""
    if isp.study_members:
        n = isp.study_requests
        members = ", ".join(f"{m.image_set_id} (version {m.version_id})" for m in isp.study_members)
        return [f"study-wide: {plural(n, 'request')} with includeStudyImageSets also update{'s' if n == 1 else ''} "
                f"the other primary image sets of the study: {members}"]
    if isp.study_owner:
        return [f"study-wide: its study-level changes go out with the study-wide update of image set "
                f"{isp.study_owner}"]
    return []
