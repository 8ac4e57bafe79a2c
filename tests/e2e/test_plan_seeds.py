"""Seed fidelity (issue 4, acceptance 1) and read counts (acceptance 4), on the real boto3 client
answered by the in-process emulator: the payload and force flag are checked on the request the
emulator receives."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from reconciler.aws import HealthImaging
from reconciler.emulator.inprocess import make_local_client
from reconciler.emulator.store import Store
from reconciler.plan.build import build_plan
from reconciler.ratelimit import RateLimiter
from reconciler.spec import load_specs
from reconciler.spec.model import SpecDocument, Target

DS = "12345678901234567890123456789012"
IS = "ea92b0d8838c72a3f25d00d13616f87e"
S1 = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.1"
I2 = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.2"
S7 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3656.0"
I7 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.0"
FAST = {"GetImageSet": 1000.0, "GetImageSetMetadata": 1000.0, "SearchImageSets": 1000.0,
        "UpdateImageSetMetadata": 1000.0}


def live() -> dict[str, Any]:
    inst = {"DICOM": {"SOPInstanceUID": S1, "00091001": "GE_GENESIS_FF"}, "DICOMVRs": {"00091001": "LO"}}
    return {
        "Patient": {"DICOM": {"PatientName": "OLD^NAME", "PatientID": "P1"}},
        "Study": {"DICOM": {"StudyDescription": "CHEST", "StudyInstanceUID": "1.2.3"},
                  "Series": {S1: {"DICOM": {"Modality": "CT"},
                                  "Instances": {S1: inst, I2: {"DICOM": {"SOPInstanceUID": I2}}}},
                             S7: {"DICOM": {"Modality": "CT"},
                                  "Instances": {I7: {"DICOM": {"SOPInstanceUID": I7}}}}}},
    }


def inst(series: str, instance: str, node: Any) -> dict[str, Any]:
    return {"Study": {"Series": {series: {"Instances": {instance: node}}}}}


# (seed example, desired, spec force, blob member, the seed's decoded payload, the seed's --force)
SEEDS = [
    ("insert or update an attribute", {"Patient": {"DICOM": {"PatientName": "MX^MX"}}}, False,
     "updatableAttributes", '{"SchemaVersion":1.1,"Patient":{"DICOM":{"PatientName":"MX^MX"}}}', False),
    ("remove an attribute", {"Study": {"DICOM": {"StudyDescription": None}}}, False,
     "removableAttributes", '{"SchemaVersion":1.1,"Study":{"DICOM":{"StudyDescription":"CHEST"}}}', False),
    ("remove an instance", inst(S1, S1, None), False, "removableAttributes",
     f'{{"SchemaVersion": 1.1,"Study": {{"Series": {{"{S1}": {{"Instances": {{"{S1}": {{}}}}}}}}}}}}', False),
    ("add a private element", inst(S1, S1, {"DICOM": {"001910F9": "97"}, "DICOMVRs": {"001910F9": "DS"}}), True,
     "updatableAttributes",
     f'{{"SchemaVersion": 1.1,"Study": {{"Series": {{"{S1}": {{"Instances": {{"{S1}": {{"DICOM": '
     f'{{"001910F9": "97"}},"DICOMVRs": {{"001910F9": "DS"}}}}}}}}}}}}}}', True),
    ("update a private element", inst(S1, S1, {"DICOM": {"00091001": "GE_GENESIS_DD"}}), True,
     "updatableAttributes",
     f'{{"SchemaVersion": 1.1,"Study": {{"Series": {{"{S1}": {{"Instances": {{"{S1}": {{"DICOM": '
     f'{{"00091001": "GE_GENESIS_DD"}}}}}}}}}}}}}}', True),
    ("update a SOPInstanceUID with force", inst(S7, I7, {"DICOM": {"SOPInstanceUID": I7[:-1] + "9"}}), True,
     "updatableAttributes",
     f'{{"SchemaVersion":1.1,"Study":{{"Series":{{"{S7}":{{"Instances":{{"{I7}":{{"DICOM":'
     f'{{"SOPInstanceUID":"{I7[:-1]}9"}}}}}}}}}}}}}}', True),
]


def doc(desired: dict[str, Any], force: bool, image_set_id: str = IS) -> SpecDocument:
    return SpecDocument("specs/seed.yaml", 0, Target(DS, image_set_id), force, desired)


def yaml_spec(tmp_path: Path, desired: dict[str, Any], force: bool) -> list[SpecDocument]:
    """The seed's desired state written as a real YAML spec file and loaded by the spec layer."""
    head = {"apiVersion": "reconciler/v1", "kind": "ImageSetMetadata",
            "target": {"datastoreId": DS, "imageSetId": IS}, "force": force}
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump({**head, "desired": desired}, sort_keys=False))
    docs, diagnostics = load_specs([str(path)])
    assert [d.render() for d in diagnostics if d.severity == "error"] == []
    return docs


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    store = Store(tmp_path)
    store.ensure_datastore(DS, "seeds")
    store.put_image_set(DS, IS, live(), is_primary=False)  # the seeds change PatientName and UIDs
    return tmp_path


def client(store_dir: Path) -> tuple[HealthImaging, list[Any]]:
    """The real client on the in-process emulator, and a list that records each request it receives."""
    raw = make_local_client(str(store_dir))
    received: list[Any] = []
    raw.meta.events.register("before-send.medical-imaging", lambda request, **_: received.append(request))
    return HealthImaging(raw, limiter=RateLimiter(FAST)), received


@pytest.mark.parametrize(("name", "desired", "force", "member", "payload", "seed_force"), SEEDS,
                         ids=[s[0] for s in SEEDS])
def test_seed_payload_reaches_the_emulator_exactly(
    store_dir: Path, name: str, desired: dict[str, Any], force: bool, member: str, payload: str, seed_force: bool
) -> None:
    api, received = client(store_dir)
    plan = build_plan(yaml_spec(store_dir, desired, force), api)
    (isp,) = plan.image_sets
    assert isp.action == "update", isp.error
    (req,) = isp.requests
    result = api.update_image_set_metadata(DS, IS, isp.version_id or "", updatable=req.updatable,
                                           removable=req.removable, force=req.force)
    assert result.latest_version_id == "2"
    sent = received[-1]
    body = json.loads(sent.body)["DICOMUpdates"]
    assert set(body) == {member}
    assert json.loads(base64.b64decode(body[member])) == json.loads(payload)
    query = parse_qs(urlsplit(sent.url).query)
    assert query["force"] == ["true" if seed_force else "false"]
    assert query["latestVersion"] == ["1"]


def test_exactly_one_get_image_set_and_one_metadata_read_per_image_set(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure_datastore(DS, "counts")
    ids = [f"{n:032x}" for n in range(12)]
    for i in ids:
        store.put_image_set(DS, i, live(), is_primary=False)
    api, _ = client(tmp_path)
    plan = build_plan([doc({"Patient": {"DICOM": {"PatientName": "MX^MX"}}}, False, i) for i in ids], api,
                      parallelism=4)
    assert [p.action for p in plan.image_sets] == ["update"] * 12
    assert api.stats.calls() == {"GetImageSet": 12, "GetImageSetMetadata": 12}


def test_select_reads_one_search_page_per_50_and_one_metadata_each(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure_datastore(DS, "select")
    for n in range(120):
        store.put_image_set(DS, f"{n:032x}", live(), is_primary=False)
    api, _ = client(tmp_path)
    select = SpecDocument("specs/sel.yaml", 0, Target(DS, select=("DICOMPatientId", "P1")), False,
                          {"Patient": {"DICOM": {"PatientName": "OLD^NAME"}}})
    plan = build_plan([select], api, parallelism=4)
    assert len(plan.image_sets) == 120 and not plan.has_changes
    assert api.stats.calls() == {"SearchImageSets": 3, "GetImageSetMetadata": 120}


def test_a_missing_image_set_is_an_error_for_that_image_set_only(store_dir: Path) -> None:
    api, _ = client(store_dir)
    plan = build_plan([doc({"Patient": {"DICOM": {"PatientName": "MX^MX"}}}, False),
                       doc({"Patient": {"DICOM": {"PatientName": "MX^MX"}}}, False, "f" * 32)], api)
    assert [p.action for p in plan.image_sets] == ["update", "error"]
    assert "not found" in (plan.image_sets[1].error or "")


def test_a_plan_past_10_kb_is_split_into_chained_requests_the_emulator_accepts(tmp_path: Path) -> None:
    series = {"DICOM": {"Modality": "CT"},
              "Instances": {f"2.{n}": {"DICOM": {"InstanceNumber": str(n)}} for n in range(40)}}
    store = Store(tmp_path)
    store.ensure_datastore(DS, "split")
    store.put_image_set(DS, IS, {"Study": {"DICOM": {}, "Series": {"1.1": series}}})
    desired = {"Study": {"Series": {"1.1": {"Instances": {
        f"2.{n}": {"DICOM": {"ImageComments": f"{n} " + "c" * 400}} for n in range(40)}}}}}
    api, _ = client(tmp_path)
    (isp,) = build_plan([doc(desired, False)], api).image_sets
    assert isp.action == "update" and len(isp.requests) == 2
    version = isp.version_id or ""
    for req in isp.requests:
        version = api.update_image_set_metadata(DS, IS, version, updatable=req.updatable,
                                                removable=req.removable, force=req.force).latest_version_id
    (again,) = build_plan([doc(desired, False)], api).image_sets
    assert (again.action, again.version_id) == ("none", "3")
