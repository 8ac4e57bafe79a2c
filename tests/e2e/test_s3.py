"""Plans and journals in S3 (moto's S3 in server mode on 127.0.0.1): a plan saved by one process is
applied by another; an object changed after saving is refused before anything is sent."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import Store
from tests.support import forked
from tests.support.motos3 import bucket_client, moto_server
from tests.support.planenv import DS, HEAD, IS, LIVE

BUCKET = "reconciler-plans"
SPEC = HEAD + """desired:
  Study:
    DICOM:
      StudyDescription: CHEST CT
"""
RATES = ["--rate", "UpdateImageSetMetadata=100", "--rate", "GetImageSet=100"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture
def s3(endpoint: str) -> Any:
    return bucket_client(endpoint, BUCKET)


@pytest.fixture
def env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """A seeded local store, a spec, and the environment of a CI runner that talks to moto's S3."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "s3")
    store.put_image_set(DS, IS, LIVE, is_primary=False)  # Patient-level changes: not on a primary
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECONCILER_"))}
    return {**base, "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "RECONCILER_LOCAL": str(tmp_path / "store"),
            "CWD": str(tmp_path)}


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """One CI job: a separate process, as on an ephemeral runner."""
    return forked.run(forked.reconciler(*argv), env=env, cwd=env["CWD"],
                          capture_output=True, text=True, timeout=120, check=False)


def description(env: dict[str, str]) -> str:
    doc = Store(Path(env["RECONCILER_LOCAL"])).get_document(DS, IS)
    return str(doc["Study"]["DICOM"]["StudyDescription"])


@pytest.mark.slow
def test_plan_saved_to_s3_by_one_process_is_applied_by_another(env: dict[str, str], s3: Any) -> None:
    url = f"s3://{BUCKET}/pr-1/plan.json"
    planned = cli(env, "plan", "specs", "--out", url)
    assert planned.returncode == 0, planned.stderr
    head = s3.head_object(Bucket=BUCKET, Key="pr-1/plan.json")
    assert head["ServerSideEncryption"] == "AES256" and "reconciler-sha256" in head["Metadata"]
    applied = cli(env, "apply", url, "--journal", f"s3://{BUCKET}/journals/", *RATES)
    assert applied.returncode == 0, applied.stderr
    assert description(env) == "CHEST CT"
    journals = s3.list_objects_v2(Bucket=BUCKET, Prefix="journals/")["Contents"]
    body = s3.get_object(Bucket=BUCKET, Key=journals[-1]["Key"])["Body"].read().decode()
    events = [json.loads(line)["event"] for line in body.splitlines()]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert "Journal uploaded to s3://" in applied.stderr


def tamper_value(s3: Any, key: str) -> None:
    """Edit the plan's payload and put it back with the original metadata (digest) and encryption."""
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    plan = json.loads(obj["Body"].read())
    plan["image_sets"][0]["versionId"] = "99"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(plan).encode(), Metadata=obj["Metadata"],
                  ServerSideEncryption="AES256")


def replace_whole(s3: Any, key: str) -> None:
    """Replace the object with another valid-looking body and no digest."""
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body + b"\n")


@pytest.mark.parametrize(("tamper", "message"), [(tamper_value, "changed after it was saved"),
                                                 (replace_whole, "no reconciler-sha256 metadata")])
def test_a_plan_object_changed_after_saving_is_refused(
    env: dict[str, str], s3: Any, tamper: Any, message: str
) -> None:
    key = f"pr-2/{tamper.__name__}.json"
    assert cli(env, "plan", "specs", "--out", f"s3://{BUCKET}/{key}").returncode == 0
    tamper(s3, key)
    applied = cli(env, "apply", f"s3://{BUCKET}/{key}", *RATES)
    assert applied.returncode == 1 and message in applied.stderr
    assert "Traceback" not in applied.stderr
    assert description(env) == "CHEST "


def test_kms_encryption_is_requested_when_configured(env: dict[str, str], s3: Any) -> None:
    planned = cli({**env, "RECONCILER_S3_SSE": "aws:kms"}, "plan", "specs", "--out", f"s3://{BUCKET}/kms/plan.json")
    assert planned.returncode == 0, planned.stderr
    assert s3.head_object(Bucket=BUCKET, Key="kms/plan.json")["ServerSideEncryption"] == "aws:kms"
    applied = cli(env, "apply", f"s3://{BUCKET}/kms/plan.json", *RATES)
    assert applied.returncode == 0, applied.stderr


def test_a_missing_plan_object_is_a_one_line_error(env: dict[str, str], s3: Any) -> None:
    applied = cli(env, "apply", f"s3://{BUCKET}/nope/plan.json")
    assert applied.returncode == 1 and "not found in S3" in applied.stderr and "Traceback" not in applied.stderr


def test_show_reads_a_plan_from_s3_with_the_plans_own_fingerprints(env: dict[str, str], s3: Any) -> None:
    """No RECONCILER_REDACTION_KEY here, and each job on a runner of its own (its own per-user key):
    `show` on another runner still prints the fingerprints the plan printed, because the plan object
    carries them."""
    url = f"s3://{BUCKET}/pr-3/plan.json"
    home = Path(env["CWD"])
    planned = cli({**env, "XDG_CONFIG_HOME": str(home / "runner-1")}, "plan", "specs", "--out", url)
    assert planned.returncode == 0, planned.stderr
    assert "<redacted:" in planned.stdout and "note: fingerprints" not in planned.stderr
    assert (home / "runner-1" / "reconciler" / "redaction.key").is_file()
    shown = cli({**env, "XDG_CONFIG_HOME": str(home / "runner-2")}, "show", url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(planned.stdout)  # then the spec files it was made from
    assert "\nMade from: " in shown.stdout[len(planned.stdout):]
    assert "digest checked" in shown.stderr and "note: fingerprints" not in shown.stderr
    missing = cli(env, "show", f"s3://{BUCKET}/pr-3/none.json")
    assert missing.returncode == 1 and "not found in S3" in missing.stderr and "Traceback" not in missing.stderr


IN_SYNC = HEAD + """desired:
  Study:
    DICOM:
      StudyDescription: CHEST
"""


def drift_json(env: dict[str, str], url: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = cli({**env, "RECONCILER_STATE_KEY": "a drift state secret for the S3 tests"},
               "drift", "specs", "--state", url, "--format", "json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done, json.loads(done.stdout)


def test_the_drift_state_round_trips_through_s3(env: dict[str, str], s3: Any) -> None:
    (Path(env["CWD"]) / "specs" / "a.yaml").write_text(IN_SYNC)
    url = f"s3://{BUCKET}/state/drift.jsonl"
    done, first = drift_json(env, url)  # one CI run ...
    assert "no drift state at" in done.stderr and first["cost"]["metadata_reads"] == 1
    head = s3.head_object(Bucket=BUCKET, Key="state/drift.jsonl")
    assert head["ServerSideEncryption"] == "AES256" and "reconciler-sha256" in head["Metadata"]
    _, second = drift_json(env, url)  # ... and the next one, on another runner
    assert second["cost"]["metadata_reads"] == 0 and second["summary"]["unchanged_from_state"] == 1
    obj = s3.get_object(Bucket=BUCKET, Key="state/drift.jsonl")
    s3.put_object(Bucket=BUCKET, Key="state/drift.jsonl", Body=obj["Body"].read().replace(b'"1"', b'"2"'),
                  Metadata=obj["Metadata"], ServerSideEncryption="AES256")
    done, tampered = drift_json(env, url)
    assert "warning: the drift state cannot be used" in done.stderr and "sha256 mismatch" in done.stderr
    assert tampered["cost"]["metadata_reads"] == 1 and tampered["state"]["status"] == "unusable"
    assert drift_json(env, url)[1]["cost"]["metadata_reads"] == 0  # rewritten by the full run


def test_a_journal_that_cannot_be_uploaded_still_reports_what_was_applied(env: dict[str, str], s3: Any) -> None:
    applied = cli(env, "apply", "specs", "--auto-approve", "--journal", "s3://no-such-reconciler-bucket/journals/",
                  *RATES)
    assert description(env) == "CHEST CT"  # applied and verified before the upload was tried
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Apply complete: 1 converged" in applied.stdout
    assert "error: the journal was not uploaded to s3://no-such-reconciler-bucket/journals/" in applied.stderr
    assert "it is kept at" in applied.stderr and "Traceback" not in applied.stderr
    kept = list((Path(env["CWD"]) / ".reconciler" / "journal").glob("*.jsonl"))
    assert len(kept) == 1 and '"event":"run_finished"' in kept[0].read_text().replace(" ", "")
