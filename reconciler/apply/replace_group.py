"""Apply a replacement group: every primary image set of one study, replaced together, failing safe.

HealthImaging keeps a study's primary image sets consistent (data that conflicts with a primary image set
stays non-primary "until the conflict is resolved",
https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html), so a Patient-level
fix reaches them all at once (``reconciler.plan.group``). The order keeps the window without a primary as
short as the service allows, and every series ends in a primary image set whatever fails:

1. for every member: CopyImageSet to an edited copy, the plan's updates to it, and CopyImageSet to a
   pristine (unedited) copy; then every edited copy is verified; then every original is checked once more
   (still the primary the plan read, and no other primary joined the study);
2. every original is deleted, then every edited copy promoted and verified (the window: deletions and
   promotions only);
3. the edited copies and the pristine copies are deleted, only once every promotion is verified.

Before the first deletion any failure deletes every copy again (``replace_abandoned``): the originals were
never written. After it, a failed promotion restores the group: every promoted copy is deleted again
(``rollback_*``), every pristine copy is promoted back (``restore_*``: the original metadata under a new
image set ID), every edited copy deleted, and every pristine copy too once its restored primary is verified
(``replace_restored``): no non-primary duplicate of a restored member is left for a later plan to write
to. The group then fails (exit 1) saying what it restored; a re-run plans the study again. If restoring
fails too, the result says what is left, and a re-run continues it from the journal. Every step is
journalled before its request and after its answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from reconciler.api import study_image_sets
from reconciler.apply.instances import Keys, expected_after
from reconciler.apply.ledger import Progress
from reconciler.apply.replace_core import End, Owner, result
from reconciler.apply.replace_member import Member
from reconciler.apply.report import ImageSetResult
from reconciler.errors import ReconcilerError
from reconciler.plan.model import ImageSetPlan


class GroupReplace(Owner):
    """Runs replacement groups. Stateless between groups: safe across threads."""

    def __call__(self, isps: Sequence[ImageSetPlan]) -> list[ImageSetResult]:
        """One result per image set of ISPS, in their order; the steps go member by member in image set ID
        order, whatever the plan's order, so that a re-run takes them in the order the journal shows."""
        order = sorted(range(len(isps)), key=lambda i: isps[i].image_set_id)
        members = []
        for isp in (isps[i] for i in order):
            st = self.ledger.progress(isp.datastore_id, isp.image_set_id) if self.ledger else None
            st = st or Progress(isp.datastore_id, isp.image_set_id)
            if st.planned_version not in (None, isp.version_id) and not st.primary_deleting:
                st = Progress(isp.datastore_id, isp.image_set_id)  # an older plan's copies: a fresh start
            members.append(Member(self, isp, st))
        results = dict(zip(order, _Group(self, members).go(), strict=True))
        return [results[i] for i in range(len(isps))]


class _Group:
    def __init__(self, owner: Owner, members: list[Member]) -> None:
        self.o, self.members = owner, members

    def go(self) -> list[ImageSetResult]:
        ms = self.members
        if any(m.st.done for m in ms) and all(m.st.done for m in ms):
            return [result(m.isp, "converged", new_id=m.st.new_id, message=f"already replaced by {m.st.new_id} "
                           "(found in the journal)") for m in ms]
        if any(m.st.rolled_back or m.st.restoring is not None for m in ms):
            return self._restore("a run before this one could not promote the group")
        try:
            versions = self._prepare()
        except End as end:
            if not any(m.st.primary_deleting for m in ms):
                return self._abandon(end.result)
            return self._restore(end.result.message or end.result.status)
        if versions is None:
            return [result(m.isp, "unfinished" if m.st.copy_id else "not_started", sent=m.sent,
                           message="the run stopped before any primary image set of the group was deleted; its "
                           "copies are journalled: run apply again to finish the replacement") for m in ms]
        try:
            for m in ms:
                if m.st.primary_deleting:
                    m._finish_primary_deletion()
                else:
                    m._delete_primary(versions[m.p])
            promoted = [m._promote() for m in ms]
        except End as end:
            return self._restore(end.result.message or end.result.status)
        out = []
        for m, (new_id, version, kept) in zip(ms, promoted, strict=True):
            try:
                if not m.st.temp_deleted:
                    m._delete(m.st.copy_id or "", "temp_deleting", "temp_deleted", copyId=m.st.copy_id)
                m.delete_pristine()
            except End as end:
                out.append(result(m.isp, "failed", final=version, new_id=new_id, sent=m.sent,
                                  message=f"replaced by {new_id}, but a temporary copy is left: {end.result.message}; "
                                  "run apply again to delete it"))
                continue
            out.append(result(m.isp, "converged", final=version, new_id=new_id, sent=m.sent,
                              message=f"{len(kept)} instances kept; the image set ID changed (group of {len(ms)})"))
        return out

    def _prepare(self) -> dict[str, str] | None:
        """Step 1 (see the module) for the members whose original is not deleted yet: the version of each
        edited copy; None when a stop request came before anything was deleted."""
        fresh = [m for m in self.members if not m.st.primary_deleting]
        made: dict[str, tuple[Member, str, Keys]] = {}
        for m in fresh:
            original = m._check_primary()
            if original is None:
                return None
            m.st.salt = m.st.salt or secrets.token_hex(16)
            m._copy(original)
            version = m._update_copy()
            m.pristine(original)
            made[m.p] = (m, version, expected_after(original, m.isp))
        for m, version, expected in made.values():
            m._verify_copy(version, expected)
        if fresh and self.o.stop_sending.is_set():  # never open the window without a primary on a stop
            return None
        for m in fresh:
            m.precheck()
        self._no_other_primary()
        return {p: version for p, (_m, version, _e) in made.items()}

    def _no_other_primary(self) -> None:
        """No primary image set joined the study since the plan: its promotion would be refused."""
        first = self.members[0]
        if not first.isp.study or all(m.st.primary_deleting for m in self.members):
            return
        ours = {m.p for m in self.members} | {m.st.new_id for m in self.members}
        try:
            others = [h.image_set_id for h in study_image_sets(self.o.api, first.ds, first.isp.study)
                      if h.is_primary is not False and h.image_set_id not in ours]
        except ReconcilerError as exc:
            first._fail(f"could not look for the image sets of the study: {exc}")
        if others:
            first._fail(f"primary image set{'s' if len(others) != 1 else ''} {', '.join(others)} joined the study "
                        "since the plan: the group's promotions would be refused; nothing was deleted, plan again")

    def _abandon(self, failed: ImageSetResult) -> list[ImageSetResult]:
        """Before any deletion: every copy deleted again; the originals were not written."""
        for m in self.members:
            m._abandon()
        why = failed.message or failed.status
        status = "stale" if failed.status == "stale" else "failed"
        return [failed if m.p == failed.image_set_id else
                result(m.isp, status, current=m.isp.version_id if status == "stale" else None, sent=m.sent,
                       message=f"not replaced: its group stopped at image set {failed.image_set_id} ({why}); every "
                       "copy was deleted again and no primary image set of the group was written")
                for m in self.members]

    def _restore(self, why: str) -> list[ImageSetResult]:
        """After a deletion: promoted copies deleted again, pristine copies promoted back (see the module)."""
        ms = self.members
        try:
            for m in ms:
                m.rollback()
            for m in ms:
                if m.st.primary_deleting:
                    m.restore()
                else:
                    m._abandon()
            for m in ms:
                if m.st.primary_deleting:
                    if m.st.copy_id and not m.st.temp_deleted:
                        m._delete(m.st.copy_id, "temp_deleting", "temp_deleted", copyId=m.st.copy_id)
                    m.delete_pristine()  # promoted back: the restored primary holds every instance it holds
                    m._rec("replace_restored", newId=m.st.restored_id, pristineId=m.st.pristine_id)
        except End as end:
            return [result(m.isp, "failed", sent=m.sent, message=f"the group could not be promoted ({why}), and "
                           f"restoring it failed too ({end.result.message}); left: {_left(m)}; run apply again "
                           "to finish restoring it") for m in ms]
        return [result(m.isp, "failed", sent=m.sent, message=f"the group could not be promoted ({why}); restored: "
                       + (f"image set {m.st.restored_id} (the pristine copy of {m.p}, promoted back) holds its "
                          "original metadata under a new image set ID" if m.st.restored_id else
                          f"{m.p} was not deleted and is unchanged")
                       + "; nothing is left to do: fix the cause, plan and apply again") for m in ms]


def _left(m: Member) -> str:
    st = m.st
    if not st.primary_deleting:
        return f"{m.p} is unchanged"
    if st.restored:
        return f"{m.p} restored as {st.restored_id}"
    return f"the pristine copy {st.pristine_id} of {m.p} is not promoted yet (edited copy {st.copy_id} kept)"
