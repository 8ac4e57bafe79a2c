"""The CI recipes' apply step run for real: its own shell text in bash, the real `reconciler` against moto's
S3 in server mode and a local emulator store (and for GitLab the stand-in API that names the merge request
merged as the commit). The plan is saved to S3 by `reconciler plan --out` under the pull request and its
head commit, as the plan recipes do, then tampered with, made stale, left out, or saved for another commit.
Only a stale plan may lead to a re-plan that is applied without review; every apply writes the drift
state where the drift recipes read it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import Store
from tests.support import forked
from tests.support.applyenv import client
from tests.support.ci_recipes import RECIPES, STATE_KEY, apply_step, recorder, run_step
from tests.support.gitlab_api import GitLab, gitlab_api
from tests.support.motos3 import bucket_client, moto_server
from tests.support.planenv import DS, HEAD, IS, LIVE

BUCKET = "my-reconciler-plans"
SPEC = HEAD + "desired:\n  Study:\n    DICOM:\n      StudyDescription: CHEST CT\n"
FIRST_PUSH = "1" * 40  # an earlier head commit of the pull request


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture
def s3(endpoint: str) -> Any:
    """The plan bucket, emptied: each test starts without plans, journals or a drift state."""
    client = bucket_client(endpoint, BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return client


@pytest.fixture
def gitlab() -> Iterator[GitLab]:
    with gitlab_api() as api:
        yield api


@pytest.fixture
def runner(tmp_path: Path, endpoint: str, s3: Any) -> dict[str, str]:
    """A CI runner's checkout (specs/) and environment; `reconciler` records its calls."""
    Store(tmp_path / "store").ensure_datastore(DS, "ci")
    Store(tmp_path / "store").put_image_set(DS, IS, LIVE, is_primary=False)  # the specs change PatientName
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recorder(bindir, "reconciler", f'exec "{sys.executable}" -m reconciler "$@"')
    (tmp_path / "calls").touch()
    return {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), "HOME": str(tmp_path),
            "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true", "RECONCILER_LOCAL": str(tmp_path / "store")}


def description(env: dict[str, str]) -> str:
    return str(Store(Path(env["RECONCILER_LOCAL"])).get_document(DS, IS)["Study"]["DICOM"]["StudyDescription"])


def state_written(s3: Any) -> bool:
    return bool(s3.list_objects_v2(Bucket=BUCKET, Prefix=STATE_KEY).get("KeyCount"))


def calls(env: dict[str, str]) -> list[str]:
    return [line.split()[0] + " " + line.split()[1] for line in Path(env["CALLS"]).read_text().splitlines()]


def save_plan(runner: dict[str, str], s3: Any, key: str) -> None:
    """What the plan recipe does on the pull request: plan specs/ into S3."""
    planned = forked.run([*forked.PREFIX, "plan", "specs/", "--out", f"s3://{BUCKET}/{key}"],
                             env={**runner, "AWS_REGION": "us-east-1"}, cwd=Path(runner["CALLS"]).parent,
                             capture_output=True, text=True, timeout=120, check=False)
    assert planned.returncode == 0, planned.stderr
    assert "reconciler-sha256" in s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_plan_of_the_merged_head_is_applied_and_the_drift_state_written(
        recipe: str, runner: dict[str, str], s3: Any, gitlab: GitLab, tmp_path: Path) -> None:
    step = apply_step(recipe, "6", gitlab)
    save_plan(runner, s3, step.plan_key)
    save_plan(runner, s3, step.plan_key.replace(step.plan_key.split("/")[2], FIRST_PUSH))  # an earlier push's
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path(runner["CALLS"]).read_text().splitlines() == [
        f"reconciler apply s3://{BUCKET}/{step.plan_key} --journal s3://{BUCKET}/journals/ "
        f"--state s3://{BUCKET}/{STATE_KEY}"]
    assert description(runner) == "CHEST CT" and state_written(s3)


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_tampered_plan_fails_the_job_and_nothing_is_re_planned(recipe: str, runner: dict[str, str],
                                                                  s3: Any, gitlab: GitLab, tmp_path: Path) -> None:
    step = apply_step(recipe, "7", gitlab)
    save_plan(runner, s3, step.plan_key)
    obj = s3.get_object(Bucket=BUCKET, Key=step.plan_key)
    plan = json.loads(obj["Body"].read())
    plan["image_sets"][0]["versionId"] = "99"
    s3.put_object(Bucket=BUCKET, Key=step.plan_key, Body=json.dumps(plan).encode(), Metadata=obj["Metadata"],
                  ServerSideEncryption="AES256")
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "changed after it was saved" in done.stderr
    assert calls(runner) == ["reconciler apply"]
    assert "--auto-approve" not in Path(runner["CALLS"]).read_text()
    assert description(runner) == "CHEST " and not state_written(s3)


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_stale_plan_is_re_planned_and_applied(recipe: str, runner: dict[str, str], s3: Any, gitlab: GitLab,
                                                tmp_path: Path) -> None:
    step = apply_step(recipe, "8", gitlab)
    save_plan(runner, s3, step.plan_key)
    outside = b'{"SchemaVersion":"1.1","Patient":{"DICOM":{"PatientID":"OUTSIDE"}}}'
    client(Path(runner["RECONCILER_LOCAL"])).update_image_set_metadata(DS, IS, "1", updatable=outside)
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = Path(runner["CALLS"]).read_text().splitlines()
    assert calls(runner) == ["reconciler apply", "reconciler apply"]
    assert recorded[0].startswith(f"reconciler apply s3://{BUCKET}/{step.plan_key}")
    assert recorded[1] == (f"reconciler apply specs/ --auto-approve --journal s3://{BUCKET}/journals/ "
                           f"--state s3://{BUCKET}/{STATE_KEY}")
    assert description(runner) == "CHEST CT" and state_written(s3)


@pytest.mark.parametrize("recipe", RECIPES)
def test_no_plan_for_the_merged_head_fails_the_job_though_an_earlier_push_has_one(
        recipe: str, runner: dict[str, str], s3: Any, gitlab: GitLab, tmp_path: Path) -> None:
    """The newest push's plan job failed (or had not finished): the plan of the push before is never applied,
    and nothing is re-planned."""
    step = apply_step(recipe, "9", gitlab)
    earlier = step.plan_key.replace(step.plan_key.split("/")[2], FIRST_PUSH)
    save_plan(runner, s3, earlier)
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert Path(runner["CALLS"]).read_text().splitlines()[0].startswith(f"reconciler apply s3://{BUCKET}/{step.plan_key}")
    assert calls(runner) == ["reconciler apply"]
    assert "not applied (exit 1: missing" in done.stdout and step.plan_key in done.stderr
    assert description(runner) == "CHEST " and not state_written(s3)
