"""Apply a replacement (action ``replace``): the way AWS documents for changes a primary image set refuses
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html), as a journalled
state machine that a re-run finishes from wherever a crash left it.

Steps, each journalled before its request (``*ing``) and after its answer, fsync'd both times:

1. ``copy_submitting`` / ``copy_submitted`` / ``copied``: CopyImageSet of the primary at the planned
   version (guarded) into a new non-primary image set; once COPIED, the copy must hold every SOP instance
   of the original (count and keyed digest, ``reconciler.apply.instances``).
2. ``copy_updating`` / ``copy_updated``: the plan's requests, guarded, to the copy (it is not primary:
   Patient/Series changes are allowed, forced UID changes with force). Then the copy is verified against
   the plan and must hold the original's instances as the plan leaves them.
3. ``primary_deleting`` / ``primary_deleted``: only now, after GetImageSet shows the primary still at the
   planned version, is it deleted; the copy holds everything it held (DeleteImageSet has no version guard).
4. ``promoting`` / ``promote_submitted`` / ``promoted``: CopyImageSet of the copy with ``promoteToPrimary``
   (the service refuses it while another primary holds the same instances, hence after step 3: this is
   the window without a primary, one deletion and one copy long). The new image set (a new ID) is
   verified against the plan and must hold the copy's instances.
5. ``temp_deleting`` / ``temp_deleted``: the temporary copy is deleted, only once the new primary is
   verified, so no instance is ever held only by an image set about to be deleted.

Before step 3 any failure deletes the copy again (the primary still holds everything) and journals
``replace_abandoned``; a primary at another version than planned is stale (exit 3), nothing written to
it. From step 3 on, nothing is deleted that the new primary does not hold, and a failure leaves the steps
done for a re-run to continue (``reconciler.apply.ledger``). Where a request went out and its answer was
never journalled (a kill in between), the live state says: the copy or the new primary is found with
SearchImageSets by study, created after the request's record, holding the expected instances.
"""

from __future__ import annotations

import secrets

from reconciler.apply.instances import expected_after
from reconciler.apply.ledger import Progress
from reconciler.apply.replace_copy import CopySteps
from reconciler.apply.replace_core import End, Owner, Recorder, Verifier, result
from reconciler.apply.replace_swap import SwapSteps
from reconciler.apply.report import ImageSetResult
from reconciler.plan.model import ImageSetPlan

__all__ = ["Recorder", "ReplaceApply", "Verifier"]


class ReplaceApply(Owner):
    """Runs one replacement. Stateless between image sets: safe across threads."""

    def __call__(self, isp: ImageSetPlan, progress: Progress | None = None) -> ImageSetResult:
        if progress is None:
            progress = self.ledger.progress(isp.datastore_id, isp.image_set_id) if self.ledger else None
        st = progress or Progress(isp.datastore_id, isp.image_set_id)
        if st.done:
            return result(isp, "converged", final=None, new_id=st.new_id,
                          message=f"already replaced by {st.new_id} (found in the journal)")
        older = None
        if st.planned_version is not None and isp.version_id is not None and st.planned_version != isp.version_id \
                and not st.primary_deleting:  # a replacement of an older version, left half-way: its copy is stale
            older, st = st.copy_id, Progress(isp.datastore_id, isp.image_set_id)
        try:
            run = _Run(self, isp, st)
            if older is not None:
                run.discard(older)
            return run.go()
        except End as end:
            return end.result


class _Run(CopySteps, SwapSteps):
    """The steps in their order (see the module)."""

    def go(self) -> ImageSetResult:
        st, isp = self.st, self.isp
        if not st.primary_deleting:
            original = self._check_primary()
            if original is None:
                return result(isp, "not_started")
            st.salt = st.salt or secrets.token_hex(16)
            expected = expected_after(original, isp)
            self._copy(original)
            version = self._update_copy()
            self._verify_copy(version, expected)
            if self.o.stop_sending.is_set():  # a stop request: do not open the window without a primary now
                return result(isp, "unfinished", sent=self.sent,
                               message=f"the run stopped before the primary was deleted; the updated copy "
                               f"{st.copy_id} is journalled: run apply again to finish the replacement")
            self._delete_primary(version)
        else:
            self._finish_primary_deletion()
        new_id, new_version, promoted = self._promote()
        if not st.temp_deleted:
            self._delete(st.copy_id or "", "temp_deleting", "temp_deleted", copyId=st.copy_id)
        return result(isp, "converged", final=new_version, new_id=new_id, sent=self.sent,
                       message=f"{len(promoted)} instances kept; the image set ID changed")
