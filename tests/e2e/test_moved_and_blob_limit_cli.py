"""Through the CLI, over both transports: seed example 7 (a forced SOPInstanceUID change) converges and
re-plans empty, the plan saying the instance moved; requests are split at the blob limit, and no request
the emulator receives carries a blob over it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from reconciler.emulator.store import Store
from tests.support.primaryenv import DS, Env, N, env, head

__all__ = ["env"]

ROOT = Path(__file__).resolve().parents[2]
SEED_DS, SEED_IS = "12345678901234567890123456789012", "53d5fdb05ca4d46ac7ca64b06545c66e"
SERIES = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3656.0"
OLD = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.0"
NEW = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.9"


def _seed7(env: Env, *, primary: bool) -> None:
    doc = json.loads((ROOT / "tests" / "conformance" / "data" / f"imageset_{SEED_IS}.json").read_text())
    store = Store(env.store)
    store.ensure_datastore(SEED_DS, "seeds")
    store.put_image_set(SEED_DS, SEED_IS, doc, is_primary=primary)
    shutil.copy(ROOT / "tests" / "examples" / "valid" / "seed7_sop_instance_uid_change.yaml", env.root / "specs")


def _instances(env: Env) -> dict[str, Any]:
    from tests.support.applyenv import client

    found: dict[str, Any] = client(env.store).get_image_set_metadata(SEED_DS, SEED_IS)["Study"]["Series"][SERIES]
    return found["Instances"]


def test_seed_example_7_on_a_non_primary_converges_and_replans_empty(env: Env) -> None:
    _seed7(env, primary=False)
    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    assert "1 converged" in out
    instances = _instances(env)
    assert OLD not in instances and instances[NEW]["DICOM"]["SOPInstanceUID"] == NEW

    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes." in out and "does not exist" not in out
    assert re.search(r"> Study\.Series\[uid:[0-9a-f]{8}\]\.Instances\[uid:[0-9a-f]{8}\]: moved to "
                     r"Instances\[uid:[0-9a-f]{8}\] \(live holds it under the new SOPInstanceUID", out), out
    assert NEW not in out and OLD not in out  # UIDs are redacted, in paths too
    code, out, _ = env.cli("plan", "specs", "--show-phi")
    assert f"Study.Series[{SERIES}].Instances[{OLD}]: moved to Instances[{NEW}]" in out
    code, out, _ = env.cli("plan", "specs", "--format", "json", "--detailed-exitcode")
    assert code == 0
    (isp,) = json.loads(out)["image_sets"]
    assert isp["action"] == "none"
    (move,) = isp["moves"]
    assert move["path"][:2] == ["Study", "Series"] and move["path"][3] == "Instances"
    assert all(move[k].startswith("uid:") for k in ("movedTo",)) and move["path"][4].startswith("uid:")
    code, out, _ = env.cli("plan", "specs", "--format", "markdown")
    assert "In sync, under new keys" in out and "moved to Instances[uid:" in out
    assert env.cli("drift", "specs")[0] == 0


def test_seed_example_7_on_a_primary_is_refused_and_nothing_is_sent(env: Env) -> None:
    _seed7(env, primary=True)
    code, out, _ = env.cli("plan", "specs")
    assert code == 1 and "SOPInstanceUID cannot be changed on a primary image set, not even with force" in out
    assert env.cli("apply", "specs", "--auto-approve")[0] == 1
    assert env.sent == []
    assert OLD in _instances(env)


def test_no_request_carries_a_blob_over_the_limit(env: Env) -> None:
    instances = {f"1.2.840.99.3.{i}": {"DICOM": {"InstanceNumber": i}} for i in range(1, 41)}
    store = Store(env.store)
    doc = store.get_document(DS, N, None)
    doc["Study"]["Series"]["1.2.840.99.3"]["Instances"] = instances
    store.put_image_set(DS, N, doc, is_primary=False, replace=True)
    text = head(N) + "  Study:\n    Series:\n      \"1.2.840.99.3\":\n        Instances:\n" + "".join(
        f"          \"1.2.840.99.3.{i}\":\n            DICOM:\n              ImageComments: \"{'c' * 700}\"\n"
        for i in range(1, 41))
    env.spec("n.yaml", text)
    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    sizes = [len(b) for s in env.sent for b in s.blobs.values()]
    assert len(env.sent) >= 3 and max(sizes) <= 10_000
    assert sum(sizes) > 28_000  # everything went out, split
    assert env.cli("plan", "specs", "--detailed-exitcode")[0] == 0

    env.sent.clear()
    env.spec("n.yaml", text.replace("c" * 700, "d" * 700))
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--blob-limit", "3000")
    assert code == 0, out + err
    assert len(env.sent) >= 10 and max(len(b) for s in env.sent for b in s.blobs.values()) <= 3_000


def test_one_attribute_too_large_for_any_request_is_a_plan_error(env: Env, monkeypatch: Any) -> None:
    env.spec("n.yaml", head(N) + "  Study:\n    Series:\n      \"1.2.840.99.3\":\n        Instances:\n"
             f"          \"1.2.840.99.3.1\":\n            DICOM:\n              ImageComments: \"{'x' * 2_500}\"\n")
    monkeypatch.setenv("RECONCILER_BLOB_LIMIT", "2000")
    code, out, _ = env.cli("plan", "specs")
    assert code == 1
    assert re.search(r"Study\.Series\[uid:\w+\]\.Instances\[uid:\w+\]\.DICOM\.ImageComments alone makes "
                     r"updatableAttributes larger than the 2000-byte limit of one blob", out), out
    code, out, _ = env.cli("apply", "specs", "--auto-approve")
    assert code == 1 and env.sent == []
    code, _, err = env.cli("plan", "specs", "--blob-limit", "10")
    assert code == 1 and "--blob-limit 10: must be at least 100 bytes" in err


def test_a_saved_plan_is_applied_as_split(env: Env) -> None:
    env.spec("n.yaml", head(N) + "  Study:\n    DICOM:\n      StudyDescription: HEAD\n")
    assert env.cli("plan", "specs", "--out", "p.plan")[0] == 0
    code, _, err = env.cli("apply", "p.plan", "--blob-limit", "5000")
    assert code == 1 and "--blob-limit splits the requests of a plan as it is made" in err
    assert env.sent == []
