"""`apply PLANFILE` without backend options uses the backend the plan recorded: the local store by its path, or
the endpoint with the region its requests were signed for. With other options it is refused, naming exactly the
options the plan needs; a recorded store that is not there is an error saying so."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.backends import isolate_aws, start_server
from tests.support.spectext import one_value_spec

DS = "1234567890abcdef1234567890abcdef"
IS = "c" * 32
SPEC = one_value_spec(DS, IS, "Study", "StudyDescription", "HEAD")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def make_store(path: Path) -> Path:
    store = Store(path)
    store.ensure_datastore(DS, "local")
    store.put_image_set(DS, IS, {"Study": {"DICOM": {"StudyDescription": "OLD"}}}, is_primary=False)
    return path


def versions(store: Path) -> int:
    return len(Store(store).list_versions(DS, IS, now=time.time()))


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_aws(tmp_path, monkeypatch, "AWS_REGION", "AWS_DEFAULT_REGION", "CI")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(SPEC)
    make_store(tmp_path / "store")
    return tmp_path


def test_a_local_plan_is_applied_to_its_store_without_options(cwd: Path) -> None:
    assert run("plan", "a.yaml", "--local", "store", "--out", "p.plan")[0] == 0
    code, out, err = run("apply", "p.plan")
    assert code == 0, err
    store = (cwd / "store").resolve()
    assert f"note: no backend options given: applying against the local emulator store {store}, which the plan " \
           "recorded" in err
    assert "1 converged" in out and versions(cwd / "store") == 2


def test_other_options_are_refused_naming_the_options_the_plan_needs(cwd: Path) -> None:
    assert run("plan", "a.yaml", "--local", "store", "--out", "p.plan")[0] == 0
    make_store(cwd / "other")
    code, out, err = run("apply", "p.plan", "--local", "other")
    store = (cwd / "store").resolve()
    assert code == 1 and "converged" not in out
    assert f"(apply it with `--local {store}` (or with no backend option" in err
    assert versions(cwd / "store") == 1 and versions(cwd / "other") == 1


def test_a_recorded_store_that_is_not_there_is_an_error_saying_so(cwd: Path) -> None:
    assert run("plan", "a.yaml", "--local", "store", "--out", "p.plan")[0] == 0
    store = (cwd / "store").resolve()
    shutil.move(cwd / "store", cwd / "moved")
    code, _out, err = run("apply", "p.plan")
    assert code == 1 and "Traceback" not in err
    assert (f"error: p.plan: the plan was made against the local emulator store {store}, and there is no store "
            f"there; nothing was sent (apply it where that store is (`--local {store}`)") in err
    assert not store.exists()  # nothing was created where the store was


def test_an_endpoint_plan_is_applied_to_its_endpoint_in_its_region(cwd: Path) -> None:
    """The server accepts only signatures for eu-west-2: the apply reaches it only with the recorded region."""
    server, thread, url = start_server(cwd / "store", EmulatorConfig(region="eu-west-2"))
    try:
        code, _out, err = run("plan", "a.yaml", "--endpoint-url", url, "--region", "eu-west-2", "--out", "p.plan")
        assert code == 0, err
        code, out, err = run("apply", "p.plan")
        assert code == 0, err
        assert f"note: no backend options given: applying against the endpoint {url}" in err
        assert "1 converged" in out
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert versions(cwd / "store") == 2


def test_an_aws_plan_sets_its_region_and_leaves_the_credentials_to_the_chain() -> None:
    """Real AWS cannot be reached here: the options apply derives from an AWS plan, before any client is made."""
    import argparse

    from reconciler.api import BackendIdentity
    from reconciler.commands import apply_cmd
    from reconciler.commands._common import Context
    from reconciler.plan.model import Plan

    args = argparse.Namespace(local=None, endpoint_url=None, region=None, profile=None)
    err = io.StringIO()
    plan = Plan((), backend=BackendIdentity("aws", "eu-central-1", "123456789012"))
    apply_cmd._use_recorded_backend(Context(args, Streams(out=io.StringIO(), err=err, inp=None)), plan, "p.plan")
    assert (args.region, args.local, args.endpoint_url, args.profile) == ("eu-central-1", None, None, None)
    assert "applying against AWS account 123456789012 in eu-central-1, which the plan recorded" in err.getvalue()
