"""The per-user redaction key: made on first use (0600, in the user's config folder), the same in every
later run, RECONCILER_REDACTION_KEY first; a run says nothing about its key unless none can be kept.
tests/conftest.py points HOME and XDG_CONFIG_HOME at a folder of the test session."""

from __future__ import annotations

import os
import pwd
import stat
import threading
from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.render.redact import ENV_KEY, Redactor
from reconciler.render.userkey import key_path, run_key, user_key
from tests.support.planenv import CHANGE, run, seed_env, write


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "reconciler" / "redaction.key"


def test_the_key_lives_in_the_xdg_config_folder_else_in_home_config(tmp_path: Path) -> None:
    assert key_path({"XDG_CONFIG_HOME": "/x/conf", "HOME": "/home/u"}) == Path("/x/conf/reconciler/redaction.key")
    # the XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored
    for env in ({"XDG_CONFIG_HOME": "conf", "HOME": "/home/u"}, {"HOME": "/home/u"}):
        assert key_path(env) == Path("/home/u/.config/reconciler/redaction.key")


def test_first_use_makes_a_private_key_that_later_runs_reuse(config: Path) -> None:
    assert not config.exists()
    first = run_key()
    assert first.key is not None and first.unkept is None
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert len(config.read_text().strip()) == 64
    assert run_key().key == first.key
    assert [p.name for p in config.parent.iterdir()] == ["redaction.key"]  # no draft left behind


def test_the_environment_key_wins_and_no_file_is_made(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "k" * 40)
    assert run_key().key == b"k" * 40
    assert not config.exists()


def test_processes_making_the_key_at_once_agree(config: Path) -> None:
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def make() -> None:
        barrier.wait()
        keys.append(user_key(config))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert keys[0] == config.read_text().strip().encode()


def test_a_key_others_can_read_or_a_short_one_is_refused_naming_the_file(config: Path) -> None:
    user_key(config)
    config.chmod(0o644)
    with pytest.raises(UsageError, match=r"can be read by other users \(mode 644\)") as refused:
        run_key()
    assert str(config) in str(refused.value) and "chmod 600" in (refused.value.hint or "")
    config.write_text("short\n")
    config.chmod(0o600)
    with pytest.raises(UsageError, match="is too short"):
        run_key()


def test_no_folder_for_the_key_means_a_run_key_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "file"))  # a file: no folder can be made in it
    found = run_key()
    assert found.key is None and found.unkept is not None
    assert str(tmp_path / "file" / "reconciler" / "redaction.key") in found.unkept


def test_two_plans_show_one_value_with_one_fingerprint_and_no_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    env = seed_env(tmp_path, monkeypatch)
    monkeypatch.delenv(ENV_KEY)
    specs = write(env, CHANGE)
    first, second = run("plan", specs), run("plan", specs)
    assert first[0] == second[0] == 0
    assert first[1] == second[1] and "<redacted:" in first[1]
    assert "note:" not in first[2] + second[2]
    assert Redactor(key=config.read_text().strip().encode()).token("NEW^NAME") in first[1]


def test_a_run_that_cannot_keep_a_key_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = seed_env(tmp_path, monkeypatch)
    monkeypatch.delenv(ENV_KEY)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "file"))
    code, _out, err = run("plan", write(env, CHANGE))
    assert code == 0
    assert err.count("use a key made for this run, since no key could be kept in") == 1


def test_the_suite_keeps_keys_out_of_the_real_home() -> None:
    real = Path(pwd.getpwuid(os.getuid()).pw_dir).resolve()
    assert Path(os.environ["HOME"]).resolve() != real
    assert not key_path().resolve().is_relative_to(real)
