"""The last steps of a replacement: delete the primary (only once the updated copy is verified and the
primary is still as planned), promote the copy (CopyImageSet with ``promoteToPrimary``: a new image set
ID), verify the new primary. From the deletion on, nothing is deleted that the new primary does not hold,
and a failure leaves the steps done for a re-run to continue (``reconciler.apply.ledger``).
"""

from __future__ import annotations

from reconciler.apply.instances import Keys, digest, instance_keys
from reconciler.apply.replace_core import Core, paths
from reconciler.errors import ReconcilerError


class SwapSteps(Core):
    def _delete_primary(self, copy_version: str) -> None:
        info = self._latest(self.p)
        if info.version_id != self.isp.version_id or info.state != "ACTIVE" or info.is_primary is False:
            self._stale(info.version_id)
        self._delete(self.p, "primary_deleting", "primary_deleted", guard=self.isp.version_id,
                     copyId=self.st.copy_id, copyVersion=copy_version)

    def _finish_primary_deletion(self) -> None:
        """A re-run after ``primary_deleting``: the deletion went out, or it did not (the primary is as planned)."""
        if self.st.primary_deleted:
            return
        try:
            info = self.o.api.get_image_set(self.ds, self.p)
        except ReconcilerError:
            info = None
        if info is not None and info.state == "ACTIVE" and info.workflow_status not in ("DELETING", "DELETED") \
                and info.version_id != self.st.planned_version:
            self._stale(info.version_id)  # the deletion did not go out, and another writer came: it keeps all
        self._delete(self.p, "primary_deleting", "primary_deleted", guard=self.st.planned_version,
                     copyId=self.st.copy_id, copyVersion=self.st.copy_version)

    def _promote(self) -> tuple[str, str, Keys]:
        st = self.st
        copy_id, copy_version = st.copy_id or "", st.copy_version or ""
        if st.promoted and st.new_id is not None:  # verified before it was journalled: the copy may be gone
            info = self._latest(st.new_id)
            return st.new_id, info.version_id, instance_keys(self._read(st.new_id, info.version_id))
        held = instance_keys(self._read(copy_id, copy_version))
        if st.new_id is None and st.promoting is not None:
            st.new_id, st.new_version = self._find_promoted(held, st.promoting)
            if st.new_id is not None:
                self._rec("promote_submitted", copyId=copy_id, newId=st.new_id, newVersion=st.new_version,
                          foundLive=True)
        if st.new_id is None:
            self._rec("promoting", copyId=copy_id, guard=copy_version)
            try:
                answer = self.o.api.copy_image_set(self.ds, copy_id, copy_version, promote=True)
            except ReconcilerError as exc:
                self._fail(f"the promotion of the copy {copy_id} was refused: {exc}; the copy holds every "
                           "instance: re-run apply to promote it")
            self.sent += 1
            st.new_id, st.new_version = answer.destination.image_set_id, answer.destination.version_id
            self._rec("promote_submitted", copyId=copy_id, newId=st.new_id, newVersion=st.new_version)
        new_id = st.new_id
        new = self._settled(new_id, st.new_version)  # the version the promotion's answer gave
        if new.workflow_status == "COPY_FAILED" or new.state != "ACTIVE":
            failed_id, st.new_id, st.promoting = st.new_id, None, None
            self._rec("promote_failed", copyId=copy_id, newId=failed_id, reason=new.message)
            self._fail(f"the promotion of the copy {copy_id} failed ({new.message or new.workflow_status}); "
                       "the copy holds every instance: re-run apply to promote it")
        doc = self._read(new_id, new.version_id)
        promoted = instance_keys(doc)
        if promoted != held:
            self._fail(f"the new primary image set {st.new_id} holds {len(promoted)} instances, the copy "
                       f"{len(held)}; the copy {copy_id} is kept")
        unmet = tuple(self.o.verifier(self.isp, doc))
        if unmet:
            self._fail(f"the new primary image set {st.new_id} does not hold the plan: {paths(unmet)}; the copy "
                       f"{copy_id} is kept")
        if not st.promoted:
            self._rec("promoted", copyId=copy_id, newId=st.new_id, newVersion=new.version_id,
                      instances=len(promoted), instancesDigest=digest(promoted, st.salt) if st.salt else None)
            st.promoted = True
        return new_id, new.version_id, promoted

    def _find_promoted(self, held: Keys, since: float) -> tuple[str | None, str | None]:
        """The new primary an unrecorded promotion made, and its version (as the search read it)."""
        doc = self._read(self.st.copy_id or "", self.st.copy_version)
        study = doc.get("Study", {}).get("DICOM", {}).get("StudyInstanceUID") if isinstance(doc, dict) else None
        hit = self._made(str(study) if study else self.isp.study, since, held, primary=True)
        return (str(hit.image_set_id), str(hit.version)) if hit is not None else (None, None)

