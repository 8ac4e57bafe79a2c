"""The first steps of a replacement, while the primary image set still holds everything: check the primary
is as planned, CopyImageSet it into a non-primary copy, send the plan's requests to the copy, verify it.

Any failure here deletes the copy again and journals ``replace_abandoned`` (``Core._fail(abandon=True)``):
the primary was not written. A copy whose answer was never journalled (a kill in between) is found in
the live state: non-primary, of the study, created after the ``copy_submitting`` record, holding the
original's instances.
"""

from __future__ import annotations

from reconciler.apply.instances import Keys, digest, instance_keys
from reconciler.apply.replace_core import Core, paths
from reconciler.errors import ReconcilerError, StaleVersion


class CopySteps(Core):
    def _check_primary(self) -> Keys | None:
        """The original's instances, once the primary is found at the planned version; None: stopped."""
        info = self._latest(self.p)
        if info.state == "DELETED" or info.workflow_status in ("DELETING", "DELETED"):
            self._fail("the primary image set was deleted by another writer; nothing was written", abandon=True)
        if info.version_id != self.isp.version_id or info.is_primary is False:
            self._stale(info.version_id)
        if self.st.copy_id is None and self.o.stop_sending.is_set():
            return None
        doc = self._read(self.p, info.version_id)
        return instance_keys(doc)

    def _copy(self, original: Keys) -> None:
        st = self.st
        if st.copy_id is None and st.copy_sending is not None:
            st.copy_id, st.copy_version = self._find_copy(original, st.copy_sending)
            if st.copy_id is not None:
                self._rec("copy_submitted", copyId=st.copy_id, copyVersion=st.copy_version, foundLive=True)
        if st.copy_id is None:
            assert st.salt is not None
            self._rec("copy_submitting", guard=self.isp.version_id, salt=st.salt, instances=len(original),
                      instancesDigest=digest(original, st.salt))
            st.copy_id, st.copy_version = self._send_copy("")
            self._rec("copy_submitted", copyId=st.copy_id, copyVersion=st.copy_version)
        if st.copied_version is None:
            version, held = self._copied("copy", st.copy_id, st.copy_version, original)
            st.copy_version = st.copied_version = version
            self._rec("copied", copyId=st.copy_id, copyVersion=st.copy_version, instances=len(held))

    def _send_copy(self, what: str) -> tuple[str, str]:
        """CopyImageSet of the original at the planned version into a new non-primary image set: its ID and
        version. WHAT follows ``CopyImageSet`` in the message of a refusal."""
        try:
            answer = self.o.api.copy_image_set(self.ds, self.p, self.isp.version_id or "")
        except StaleVersion as exc:
            self._stale(exc.current_version)
        except ReconcilerError as exc:
            self._fail(f"CopyImageSet{what}: {exc}", abandon=True)
        self.sent += 1
        return answer.destination.image_set_id, answer.destination.version_id

    def _copied(self, name: str, copy_id: str, version: str | None, original: Keys) -> tuple[str, Keys]:
        """The settled version of the copy COPY_ID (from VERSION, the one its answer gave) and its instances,
        which must be the ORIGINAL's; NAME names the copy in a failure."""
        info = self._settled(copy_id, version)
        if info.workflow_status == "COPY_FAILED" or info.state != "ACTIVE":
            self._fail(f"the {name} {copy_id} failed: {info.message or info.workflow_status}", abandon=True)
        held = instance_keys(self._read(copy_id, info.version_id))
        if held != original:
            self._fail(f"the {name} {copy_id} holds {len(held)} instances, the original {len(original)}",
                       abandon=True)
        return info.version_id, held

    def _update_copy(self) -> str:
        st, isp = self.st, self.isp
        copy_id = st.copy_id or ""
        info = self._latest(copy_id)
        if info.workflow_status == "UPDATE_FAILED":
            self._fail(f"an update of the copy {copy_id} failed: {info.message}", abandon=True)
        version = info.version_id
        done = int(version) - int(st.copied_version or version)  # each request made one version of the copy
        total = len(isp.requests)
        for index in range(done, total):
            request = isp.requests[index]
            self._rec("copy_updating", copyId=copy_id, request=index + 1, of=total, guard=version)
            try:
                answer = self.o.api.update_image_set_metadata(self.ds, copy_id, version, updatable=request.updatable,
                                                              removable=request.removable, force=request.force)
            except ReconcilerError as exc:
                self._fail(f"update {index + 1} of {total} of the copy {copy_id}: {exc}", abandon=True)
            self.sent += 1
            settled = self._settled(copy_id, answer.latest_version_id)
            if settled.workflow_status == "UPDATE_FAILED" or settled.state != "ACTIVE":
                self._fail(f"UPDATE_FAILED on the copy {copy_id}: {settled.message}", abandon=True)
            version = st.copy_version = answer.latest_version_id
            self._rec("copy_updated", copyId=copy_id, copyVersion=version, request=index + 1, of=total)
        return version

    def _verify_copy(self, version: str, expected: Keys) -> None:
        copy_id = self.st.copy_id or ""
        doc = self._read(copy_id, version)
        unmet = tuple(self.o.verifier(self.isp, doc))
        if unmet:
            self._fail(f"the copy {copy_id} does not hold the plan after version {version}: {paths(unmet)}",
                       abandon=True)
        if instance_keys(doc) != expected:
            self._fail(f"the copy {copy_id} does not hold every instance of the original", abandon=True)

    def _find_copy(self, original: Keys, since: float) -> tuple[str | None, str | None]:
        """The copy an unrecorded CopyImageSet made: non-primary, of the study, created after it was sent,
        holding the original's instances."""
        hit = self._made(self.isp.study, since, original, primary=False)
        return (hit.image_set_id, hit.version) if hit is not None else (None, None)
