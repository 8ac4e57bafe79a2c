"""One member of a replacement group (``reconciler.apply.replace_group``): the steps of a lone replacement,
plus a pristine copy of the original, kept until every promotion of the group is verified, and the steps
that restore the member from it when the group cannot be promoted.

Records of a member carry ``group`` (the originals of the group), so that a re-run finds the group again.
The pristine copy is an unedited CopyImageSet of the original at the planned version: it holds exactly the
original's instances and metadata, so promoting it back restores the member under a new image set ID
("Promoting an image set to primary will change the image set ID",
https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html).
"""

from __future__ import annotations

from typing import Any

from reconciler.apply.instances import Keys, instance_keys
from reconciler.apply.replace_copy import CopySteps
from reconciler.apply.replace_swap import SwapSteps
from reconciler.errors import ReconcilerError


class Member(CopySteps, SwapSteps):
    def _rec(self, event: str, **fields: Any) -> None:
        group = self.isp.replacement.group if self.isp.replacement is not None else ()
        self.o.record(self.isp, event, group=list(group or self.st.group) or None, **fields)

    def pristine(self, original: Keys) -> None:
        """CopyImageSet of the original, unedited, into a second non-primary image set."""
        st = self.st
        if st.pristine_copied:
            return
        if st.pristine_id is None and st.pristine_sending is not None:  # sent, its answer never journalled
            st.pristine_id, st.pristine_version = self._find_copy(original, st.pristine_sending)
            if st.pristine_id is not None:
                self._rec("pristine_submitted", pristineId=st.pristine_id, pristineVersion=st.pristine_version,
                          foundLive=True)
        if st.pristine_id is None:
            self._rec("pristine_submitting", guard=self.isp.version_id, instances=len(original))
            st.pristine_id, st.pristine_version = self._send_copy(" (the pristine copy)")
            self._rec("pristine_submitted", pristineId=st.pristine_id, pristineVersion=st.pristine_version)
        version, held = self._copied("pristine copy", st.pristine_id, st.pristine_version, original)
        st.pristine_version, st.pristine_copied = version, True
        self._rec("pristine_copied", pristineId=st.pristine_id, pristineVersion=version, instances=len(held))

    def precheck(self) -> None:
        """Before any original of the group is deleted: this one is still the primary the plan read."""
        info = self._latest(self.p)
        if info.version_id != self.isp.version_id or info.state != "ACTIVE" or info.is_primary is False:
            self._stale(info.version_id)

    def delete_pristine(self) -> None:
        if self.st.pristine_id is not None and not self.st.pristine_deleted:
            self._delete(self.st.pristine_id, "pristine_deleting", "pristine_deleted", pristineId=self.st.pristine_id)
            self.st.pristine_deleted = True

    def rollback(self) -> None:
        """Delete the promoted copy again (its instances stay in the edited and the pristine copy)."""
        st = self.st
        if st.new_id is None or st.rolled_back:
            return
        self._latest(st.new_id)  # a promotion still LOCKED is waited for: a LOCKED image set cannot be deleted
        self._delete(st.new_id, "rollback_deleting", "rollback_deleted", newId=st.new_id)
        st.rolled_back, st.new_id, st.promoted = True, None, False

    def restore(self) -> str:
        """Promote the pristine copy back (CopyImageSet with promoteToPrimary); its new image set ID."""
        st = self.st
        pristine = st.pristine_id or ""
        if st.restored and st.restored_id is not None:
            return st.restored_id
        held = instance_keys(self._read(pristine, st.pristine_version))
        if st.restored_id is None and st.restoring is not None:
            hit = self._made(self.isp.study, st.restoring, held, primary=True)
            if hit is not None:
                st.restored_id, st.restored_version = hit.image_set_id, str(hit.version)
                self._rec("restore_submitted", pristineId=pristine, newId=st.restored_id,
                          newVersion=st.restored_version, foundLive=True)
        if st.restored_id is None:
            self._rec("restore_promoting", pristineId=pristine, guard=st.pristine_version)
            try:
                answer = self.o.api.copy_image_set(self.ds, pristine, st.pristine_version or "", promote=True)
            except ReconcilerError as exc:
                self._fail(f"the promotion of the pristine copy {pristine} was refused too: {exc}")
            self.sent += 1
            st.restored_id, st.restored_version = answer.destination.image_set_id, answer.destination.version_id
            self._rec("restore_submitted", pristineId=pristine, newId=st.restored_id, newVersion=st.restored_version)
        info = self._settled(st.restored_id, st.restored_version)
        if info.workflow_status == "COPY_FAILED" or info.state != "ACTIVE":
            failed, st.restored_id, st.restoring = st.restored_id, None, None
            self._fail(f"the promotion of the pristine copy {pristine} failed ({info.message or info.workflow_status})"
                       f"; {failed} is not a primary image set")
        if instance_keys(self._read(st.restored_id, info.version_id)) != held:
            self._fail(f"the restored image set {st.restored_id} does not hold every instance of the pristine copy "
                       f"{pristine}, which is kept")
        self._rec("restored", pristineId=pristine, newId=st.restored_id, newVersion=info.version_id,
                  instances=len(held))
        st.restored = True
        return st.restored_id
