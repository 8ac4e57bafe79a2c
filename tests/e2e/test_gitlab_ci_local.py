"""The shipped GitLab recipe (examples/ci/gitlab/gitlab-ci.yml) run by a real CI runner: gitlab-ci-local
(https://github.com/firecow/gitlab-ci-local, pinned by .ci/node-tools/package-lock.json, installed by
`make test`) with its shell executor, in a git repository of specs, against `emulator serve`, moto's S3
server and a stand-in for the GitLab API the recipe's note and merge-request look-ups talk to through
CI_API_V4_URL. The loop a team runs, once, in order:

1. a merge request pipeline: the plan job posts the note and saves the plan under the merge request and its
   head commit; the spec fixes a patient's name on a primary image set, so the plan is a replacement;
2. a second push: the note is updated in place and names the new commit, whose plan is saved beside the first;
3. the merge: the apply job applies the merged head's plan (not the first push's) and writes the drift state;
4. the scheduled drift job: exit 0, nothing lost or gained;
5. a change made outside the specs: the drift job fails with exit 2 and keeps the JSON report;
6. a spec edited after its plan: the apply job fails and nothing is written.

Only the job template changes for the runner: no container image (the shell executor) and, instead of the
install from the pinned tag, this checkout's reconciler on PATH; every job's own script is the recipe's.
Without Node, rsync or the installed runner the test is skipped, saying what to install, unless ``CI`` is
set: there it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import NewVersion, Store
from tests.support.backends import start_server
from tests.support.ci_recipes import GITLAB, SECRET_KEY, STATE_KEY
from tests.support.ci_runner import RUNNER, require_tool
from tests.support.gitlab_api import PROJECT, TOKEN, GitLab, gitlab_api
from tests.support.motos3 import bucket_client, moto_server
from tests.support.replaceenv import DS, NEW, OLD, STUDY, X, Y, by_id, seed, spec_text

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))  # read at import: each test starts without it (tests/conftest.py)
BUCKET = "my-reconciler-plans"  # the recipe's own PLAN_BUCKET: nothing of the recipe is changed
OUTSIDE = "QQOUTSIDE^ZZNAME"
GITIGNORE = ".gitlab-ci-local/\nplan.md\ndrift.json\n.reconciler/\n"


def runner_recipe() -> str:
    """The shipped recipe for the shell executor: the job template without its image and with this checkout's
    reconciler on PATH instead of the install; everything else, every job's script included, as shipped."""
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    shipped = json.loads(json.dumps(doc))
    template = doc[".reconciler"]
    assert template.pop("image") == "python:3.11"
    assert any("--require-hashes -r requirements.lock" in line for line in template["before_script"])
    template["before_script"] = ['export PATH="$RECONCILER_BIN:$PATH"']
    assert {k: v for k, v in doc.items() if k != ".reconciler"} == \
        {k: v for k, v in shipped.items() if k != ".reconciler"}
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


@dataclass
class Run:
    code: int
    log: str

    def job(self, name: str) -> str:
        """The job's lines of the log (gitlab-ci-local prefixes each with the job's name)."""
        return "\n".join(line for line in self.log.splitlines() if line.startswith(f"{name} "))


@dataclass
class Loop:
    project: Path
    store: Path
    s3: Any
    gitlab: GitLab
    endpoints: dict[str, str]
    home: Path

    def git(self, *argv: str) -> str:
        done = subprocess.run(["git", "-C", str(self.project), *argv], capture_output=True, text=True, check=True,
                              env={**os.environ, "GIT_AUTHOR_NAME": "Radiology", "GIT_AUTHOR_EMAIL": "r@example.org",
                                   "GIT_COMMITTER_NAME": "Radiology", "GIT_COMMITTER_EMAIL": "r@example.org"})
        return done.stdout.strip()

    def commit(self, message: str, **files: str) -> str:
        for name, text in files.items():
            path = self.project / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def pipeline(self, source: str, **variables: str) -> Run:
        """One pipeline of SOURCE on the checked-out commit, as GitLab would start it."""
        given = {"CI_PIPELINE_SOURCE": source, "CI_API_V4_URL": self.gitlab.url, "GITLAB_API_TOKEN": TOKEN,
                 "RECONCILER_REDACTION_KEY": SECRET_KEY, "RECONCILER_BIN": str(Path(sys.executable).parent),
                 "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": os.devnull,
                 "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                 "AWS_ENDPOINT_URL_S3": self.endpoints["s3"],
                 "AWS_ENDPOINT_URL_MEDICAL_IMAGING": self.endpoints["medical-imaging"], **variables}
        argv = [str(RUNNER), "--no-color", "--no-evaluate-rule-changes", "--home", str(self.home)]
        for name, value in given.items():
            argv += ["--variable", f"{name}={value}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "LANG": "C.UTF-8"}
        done = subprocess.run(argv, cwd=self.project, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        return Run(done.returncode, done.stdout + done.stderr)

    def keys(self, prefix: str) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))

    def live(self) -> list[tuple[str, int, bool, str]]:
        """(image set, version, primary, patient name) of every image set of the datastore not deleted."""
        rows = Store(self.store).latest_documents(DS, now=time.time())
        return sorted((r.image_set_id, r.version, r.is_primary, d["Patient"]["DICOM"]["PatientName"])
                      for r, d in rows if r.deleted_at is None and r.workflow_status not in ("DELETING", "DELETED"))

    def artifact(self, job: str, name: str) -> Path:
        return self.project / ".gitlab-ci-local" / "artifacts" / job / name


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    require_tool(IN_CI)
    root = tmp_path_factory.mktemp("gitlab-ci-local")
    store = root / "store"
    seed(store)
    server, thread, url = start_server(store, EmulatorConfig(lock_seconds=0.05))
    s3_server = moto_server()
    try:
        endpoint = next(s3_server)
        with gitlab_api() as gitlab:
            project = root / "specs-repo"
            project.mkdir()
            (root / "home").mkdir()
            loop = Loop(project, store, bucket_client(endpoint, BUCKET), gitlab,
                        {"s3": endpoint, "medical-imaging": url}, root / "home")
            loop.git("init", "-q", "-b", "main")
            loop.commit("Add the CI recipe and the first spec", **{
                ".gitlab-ci.yml": runner_recipe(), ".gitignore": GITIGNORE,
                "specs/other-study.yaml": by_id(Y) + "desired:\n  Study:\n    DICOM:\n      StudyDescription: CHEST\n"})
            yield loop
    finally:
        s3_server.close()
        server.shutdown()
        server.server_close()
        thread.join()


def drift_report(loop: Loop) -> dict[str, Any]:
    path = loop.artifact("drift", "drift.json")
    assert path.exists(), "the drift job's JSON report was not kept as an artifact"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def test_the_gitlab_recipe_runs_the_gitops_loop_under_gitlab_ci_local(loop: Loop) -> None:
    # 1. a merge request: the spec fixes a patient's name on a primary image set (a replacement)
    loop.git("checkout", "-q", "-b", "fix-name")
    first = loop.commit("Fix the patient name", **{"specs/patient.yaml": spec_text()})
    run = loop.pipeline("merge_request_event", CI_MERGE_REQUEST_IID="7")
    assert run.code == 0, run.log
    assert "PASS" in run.log and "plan" in run.log and not run.job("apply") and not run.job("drift")
    assert loop.keys("plans/") == [f"plans/mr-7/{first}/plan.json"]
    (note,) = loop.gitlab.notes[7]
    assert note["body"].startswith(f"<!-- reconciler-plan -->\nPlan of commit {first}, saved as "
                                   f"`s3://{BUCKET}/plans/mr-7/{first}/plan.json`")
    assert "1 to replace" in note["body"] and NEW not in note["body"] and OLD not in note["body"]

    # 2. a second push: the note is updated in place, and names the new commit
    second = loop.commit("Fix the patient name, and describe the other study", **{
        "specs/other-study.yaml": by_id(Y) + "desired:\n  Study:\n    DICOM:\n      StudyDescription: CHEST CT\n"})
    run = loop.pipeline("merge_request_event", CI_MERGE_REQUEST_IID="7")
    assert run.code == 0, run.log
    assert loop.keys("plans/") == sorted([f"plans/mr-7/{first}/plan.json", f"plans/mr-7/{second}/plan.json"])
    (note,) = loop.gitlab.notes[7]  # one note, edited
    assert f"Plan of commit {second}" in note["body"] and first not in note["body"]
    assert [m for m, _ in loop.gitlab.requests].count("POST") == 1
    assert ("PUT", f"/api/v4/projects/{PROJECT}/merge_requests/7/notes/{note['id']}") in loop.gitlab.requests
    assert loop.live() == [(X, 1, True, OLD), (Y, 1, True, OLD)]  # planning wrote nothing

    # 3. the merge: apply takes the merged head's plan (the second push's), and writes the drift state
    loop.git("checkout", "-q", "main")
    loop.git("merge", "-q", "--no-ff", "fix-name", "-m", "Merge branch 'fix-name' into 'main'\n\nSee merge request !7")
    merged = loop.git("rev-parse", "HEAD")
    loop.gitlab.merge(merged, 7, second)
    run = loop.pipeline("push")
    assert run.code == 0, run.log
    assert f"applying the plan of !7 made from its head commit {second}" in run.job("apply")
    assert not run.job("plan") and not run.job("drift")
    (new, *_), *_ = [row for row in loop.live() if row[0] != Y]
    assert loop.live() == sorted([(new, 1, True, NEW), (Y, 2, True, OLD)]) and new != X
    assert loop.keys(STATE_KEY) == [STATE_KEY] and loop.keys("journals/")
    state_before = loop.s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()

    # 4. the scheduled drift job: in sync, the replacement recorded
    run = loop.pipeline("schedule")
    assert run.code == 0, run.log
    assert not run.job("apply") and not run.job("plan")
    report = drift_report(loop)
    assert report["summary"]["to_update"] == report["summary"].get("to_replace", 0) == 0
    assert "membership" not in report and report["state"]["status"] == "used"
    assert "reconciler drift exited 0" in run.job("drift")

    # 5. a change outside the specs: the drift job fails with exit 2, and its JSON report is kept
    def rename(doc: dict[str, Any]) -> NewVersion:
        doc["Patient"]["DICOM"]["PatientName"] = OUTSIDE
        return NewVersion(doc, "UPDATED")

    Store(loop.store).commit_update(DS, new, 1, rename, now=time.time(), lock_until=0.0)
    run = loop.pipeline("schedule")
    assert run.code != 0, run.log
    assert "reconciler drift exited 2" in run.job("drift")
    report = drift_report(loop)
    (drifted,) = [p for p in report["image_sets"] if p["action"] != "none"]
    assert drifted["imageSetId"] == new and drifted["changes"][0]["path"] == ["Patient", "DICOM", "PatientName"]
    text = loop.artifact("drift", "drift.json").read_text(encoding="utf-8")
    assert OUTSIDE not in text and NEW not in text and STUDY not in text  # PHI-safe

    # 6. a spec edited after its plan: the apply job fails, and nothing is written
    loop.git("checkout", "-q", "-b", "describe")
    head = loop.commit("Describe the other study as a head CT", **{
        "specs/other-study.yaml": by_id(Y) + "desired:\n  Study:\n    DICOM:\n      StudyDescription: HEAD CT\n"})
    run = loop.pipeline("merge_request_event", CI_MERGE_REQUEST_IID="8")
    assert run.code == 0, run.log
    assert loop.keys("plans/mr-8/") == [f"plans/mr-8/{head}/plan.json"]
    loop.git("checkout", "-q", "main")
    loop.commit("Name the patient spec's reviewer", **{"specs/patient.yaml": spec_text() + "# reviewed by A. B.\n"})
    loop.git("merge", "-q", "--no-ff", "describe", "-m", "Merge branch 'describe' into 'main'")
    loop.gitlab.merge(loop.git("rev-parse", "HEAD"), 8, head)
    live, state, journals = loop.live(), loop.s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read(), \
        loop.keys("journals/")
    run = loop.pipeline("push")
    assert run.code != 0, run.log
    apply_log = run.job("apply")
    assert f"the plan of !8 (commit {head}) was not applied (exit 1" in apply_log
    assert "specs/patient.yaml" in apply_log and "--auto-approve" not in apply_log
    assert loop.live() == live  # nothing sent: Y keeps its description's version
    assert loop.s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read() == state != state_before
    assert loop.keys("journals/") == journals
