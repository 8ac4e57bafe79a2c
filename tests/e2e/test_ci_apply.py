"""The CI recipes' apply step run for real: its own shell text in bash, the real `reconciler` and the real
AWS CLI (v1, from the venv) against moto's S3 in server mode and a local emulator store. The plan is
saved to S3 by `reconciler plan --out`, as the plan recipes do, then tampered with, made stale, or left
out. Only a stale or absent plan may lead to a re-plan that is applied without review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import Store
from tests.support.applyenv import client
from tests.support.ci_recipes import RECIPES, apply_step, recorder, run_step
from tests.support.motos3 import bucket_client, moto_server
from tests.support.planenv import DS, HEAD, IS, LIVE

BUCKET = "my-reconciler-plans"
SPEC = HEAD + "desired:\n  Study:\n    DICOM:\n      StudyDescription: CHEST CT\n"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture
def s3(endpoint: str) -> Any:
    return bucket_client(endpoint, BUCKET)


@pytest.fixture
def runner(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """A CI runner's checkout (specs/) and environment; `reconciler` and `aws` record their calls."""
    Store(tmp_path / "store").ensure_datastore(DS, "ci")
    Store(tmp_path / "store").put_image_set(DS, IS, LIVE, is_primary=False)  # the specs change PatientName
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recorder(bindir, "reconciler", f'exec "{sys.executable}" -m reconciler "$@"')
    recorder(bindir, "aws", f'exec "{BIN / "aws"}" "$@"')
    (tmp_path / "calls").touch()
    return {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), "HOME": str(tmp_path),
            "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true", "RECONCILER_LOCAL": str(tmp_path / "store")}


def description(env: dict[str, str]) -> str:
    return str(Store(Path(env["RECONCILER_LOCAL"])).get_document(DS, IS)["Study"]["DICOM"]["StudyDescription"])


def calls(env: dict[str, str]) -> list[str]:
    return [line.split()[0] + " " + line.split()[1] for line in Path(env["CALLS"]).read_text().splitlines()]


def save_plan(runner: dict[str, str], s3: Any, key: str) -> None:
    """What the plan recipe does on the pull request: plan specs/ into S3."""
    planned = subprocess.run([sys.executable, "-m", "reconciler", "plan", "specs/", "--out", f"s3://{BUCKET}/{key}"],
                             env={**runner, "AWS_REGION": "us-east-1"}, cwd=Path(runner["CALLS"]).parent,
                             capture_output=True, text=True, timeout=120, check=False)
    assert planned.returncode == 0, planned.stderr
    assert "reconciler-sha256" in s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_tampered_plan_fails_the_job_and_nothing_is_re_planned(recipe: str, runner: dict[str, str],
                                                                  s3: Any, tmp_path: Path) -> None:
    step = apply_step(recipe, "7")
    save_plan(runner, s3, step.plan_key)
    obj = s3.get_object(Bucket=BUCKET, Key=step.plan_key)
    plan = json.loads(obj["Body"].read())
    plan["image_sets"][0]["versionId"] = "99"
    s3.put_object(Bucket=BUCKET, Key=step.plan_key, Body=json.dumps(plan).encode(), Metadata=obj["Metadata"],
                  ServerSideEncryption="AES256")
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "changed after it was saved" in done.stderr
    assert calls(runner) == ["aws s3api", "reconciler apply"]
    assert "--auto-approve" not in Path(runner["CALLS"]).read_text()
    assert description(runner) == "CHEST "


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_stale_plan_is_re_planned_and_applied(recipe: str, runner: dict[str, str], s3: Any,
                                                tmp_path: Path) -> None:
    step = apply_step(recipe, "8")
    save_plan(runner, s3, step.plan_key)
    outside = b'{"SchemaVersion":"1.1","Patient":{"DICOM":{"PatientID":"OUTSIDE"}}}'
    client(Path(runner["RECONCILER_LOCAL"])).update_image_set_metadata(DS, IS, "1", updatable=outside)
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = Path(runner["CALLS"]).read_text().splitlines()
    assert calls(runner) == ["aws s3api", "reconciler apply", "reconciler apply"]
    assert recorded[1].startswith(f"reconciler apply s3://{BUCKET}/{step.plan_key}")
    assert recorded[2].startswith("reconciler apply specs/ --auto-approve")
    assert description(runner) == "CHEST CT"


@pytest.mark.parametrize("recipe", RECIPES)
def test_an_absent_plan_is_re_planned_without_trying_the_saved_one(recipe: str, runner: dict[str, str],
                                                                   s3: Any, tmp_path: Path) -> None:
    step = apply_step(recipe, "9")
    done = run_step(step, runner, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = Path(runner["CALLS"]).read_text().splitlines()
    assert recorded[0].startswith(f"aws s3api list-objects-v2 --bucket {BUCKET} --prefix {step.plan_key} ")
    assert recorded[1:] == [f"reconciler apply specs/ --auto-approve --journal s3://{BUCKET}/journals/"]
    assert description(runner) == "CHEST CT"
