"""A replacement with its journal in S3 (``apply --journal s3://BUCKET/PREFIX/``, moto's S3 in server mode),
as on CI runners that keep nothing between runs: the journal is uploaded at each replacement step, so a kill -9
leaves S3 holding the steps done; a re-run on a fresh runner (the local journal folder gone) reads the journals
under the prefix and finishes the replacement without a second temporary copy. What cannot be listed or read
under the prefix is a warning, and the run goes on."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import Journal, read_journal
from reconciler.apply.ledger import STEPS, Ledger
from reconciler.apply.s3journal import StepUploader, read_journals
from reconciler.client.s3 import S3
from reconciler.persist import Storage
from tests.support import forked
from tests.support.motos3 import bucket_client, moto_server
from tests.support.replaceenv import DS, RATES, Env, X, assert_replaced, env, spec_text, wait_quiet

__all__ = ["env"]  # the fixture
pytestmark = pytest.mark.slow  # moto's server, CLI subprocesses

BUCKET = "reconciler-journals"
PREFIX = f"s3://{BUCKET}/journals/"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch, env: Env) -> Any:
    """The bucket, emptied; the CLI in process (and its subprocesses) talk to moto as to AWS."""
    client = bucket_client(endpoint, BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents") or ():
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    for name, value in {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    return client


def objects(s3: Any) -> list[str]:
    return [str(o["Key"]) for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="journals/").get("Contents") or ()]


def events(s3: Any, key: str) -> list[str]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line)["event"] for line in body.splitlines()]


def kill_at(env: Env, event: str, *target: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    environ["RECONCILER_CRASH_AFTER"] = event
    proc = forked.run([*forked.PREFIX, "apply", *target, "--journal",
                           PREFIX, *env.backend, *RATES], env=environ, cwd=env.root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


@pytest.mark.parametrize("event", ["copied", "primary_deleted"])
def test_a_rerun_on_a_fresh_runner_finishes_the_replacement_from_the_s3_journal(env: Env, s3: Any, event: str) -> None:
    env.spec(spec_text())
    kill_at(env, event, "specs", "--auto-approve")
    (key,) = objects(s3)
    assert events(s3, key)[-1] == event  # S3 was kept current up to the step the kill followed
    wait_quiet(env)
    shutil.rmtree(env.root / ".reconciler")  # a fresh runner: no local journal folder
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", PREFIX)
    assert code == 0, out + err
    assert "warning" not in err, err
    assert ("continuing its replacement from the journal" in err) == (event == "primary_deleted"), err
    assert [r["status"] for r in json.loads(out)["image_sets"] if r["imageSetId"] == X] == ["replaced"]
    assert_replaced(env)  # one primary with every instance, the original and the copy gone
    assert len(env.ever()) == 4  # the original, another study's primary, one copy and the new one: no second copy
    (second,) = [k for k in objects(s3) if k != key]
    assert "copy_submitting" not in events(s3, second)  # the copy made before the kill was adopted
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err


def test_the_same_saved_plan_applied_on_a_fresh_runner_finishes_it_from_the_s3_journal(env: Env, s3: Any) -> None:
    env.spec(spec_text())
    code, _out, err = env.cli("plan", "specs", "--out", "plan.json")
    assert code == 0, err
    kill_at(env, "primary_deleted", "plan.json")
    wait_quiet(env)
    shutil.rmtree(env.root / ".reconciler")
    code, out, err = env.cli("apply", "plan.json", "--format", "json", "--journal", PREFIX)
    assert code == 0, out + err
    assert_replaced(env)
    assert len(env.ever()) == 4


def test_an_unreadable_journal_under_the_prefix_is_a_warning_and_the_run_goes_on(env: Env, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="journals/apply-foreign.jsonl", Body=b'{"event":"copied"}\n')  # no digest
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--journal", PREFIX)
    assert code == 0, out + err
    assert f"warning: cannot read the journal {PREFIX}apply-foreign.jsonl" in err, err
    assert "Traceback" not in err
    assert_replaced(env)


def test_a_prefix_that_cannot_be_listed_is_a_warning_naming_it(env: Env, s3: Any) -> None:
    warnings: list[str] = []
    url = "s3://no-such-journal-bucket/journals/"
    files = Storage(S3)
    ledger = Ledger([env.root / "none"], remote=lambda local: read_journals(url, files, warnings.append, skip=local))
    assert ledger.unfinished() == []
    (warning,) = warnings
    assert warning.startswith(f"cannot list the journals under {url}") and "NoSuchBucket" in warning


def test_the_journal_is_uploaded_at_replacement_steps_not_at_ordinary_records(env: Env, s3: Any) -> None:
    local = env.root / "apply-steps.jsonl"
    warnings: list[str] = []
    uploader = StepUploader(local, PREFIX, Storage(S3), warnings.append, frozenset(STEPS))
    with Journal(local, on_record=uploader) as journal:
        journal.record("run_started", image_sets=1)
        journal.record("submitting", imageSetId=X)
        journal.record("converged", imageSetId=X, version="2")
        assert objects(s3) == []  # ordinary records wait for the end-of-run upload
        journal.record("copy_submitting", imageSetId=X)
        assert events(s3, "journals/apply-steps.jsonl")[-1] == "copy_submitting"
        journal.record("converged", imageSetId=X, replacedBy="9" * 32)  # the end of a replacement
        assert events(s3, "journals/apply-steps.jsonl") == [r["event"] for r in read_journal(local)]
    assert warnings == []


def test_a_failed_upload_at_a_step_is_one_warning_and_the_journal_goes_on(env: Env, s3: Any, tmp_path: Path) -> None:
    local = tmp_path / "apply-x.jsonl"
    warnings: list[str] = []
    bucket = "s3://no-such-journal-bucket/journals/"
    uploader = StepUploader(local, bucket, Storage(S3), warnings.append, frozenset(STEPS))
    with Journal(local, on_record=uploader) as journal:
        journal.record("copy_submitting", imageSetId=X)
        journal.record("copy_submitted", imageSetId=X)
    assert [r["event"] for r in read_journal(local)] == ["copy_submitting", "copy_submitted"]
    (warning,) = warnings
    assert "cannot upload the journal to s3://no-such-journal-bucket/journals/" in warning


def test_history_reads_the_replacement_from_the_s3_journal_on_a_fresh_runner(env: Env, s3: Any) -> None:
    """``history --journal s3://...``: the journals under the prefix name the replacement, both ways."""
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--journal", PREFIX)
    assert code == 0, out + err
    new = assert_replaced(env)
    shutil.rmtree(env.root / ".reconciler")  # another runner: only S3 has the journal
    ds = ["--datastore-id", DS]
    code, out, err = env.cli("history", *ds, "--image-set-id", new, "--journal", PREFIX, "--format", "json")
    assert code == 0, err
    assert [r["imageSetId"] for r in json.loads(out)["replaces"]] == [X] and "warning" not in err
    code, out, err = env.cli("history", *ds, "--image-set-id", X, "--journal", PREFIX)
    assert code == 0, err
    assert f"Replaced by image set {new} at 20" in out
    # without the prefix, nothing names it: the service keeps no link
    assert "Replaces" not in env.cli("history", *ds, "--image-set-id", new)[1]
