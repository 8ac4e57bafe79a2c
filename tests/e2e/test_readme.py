"""The README's commands are what is tested: the ```console blocks of its first sections (the two commands
and the tour) run, in order, in one bash shell in a scratch copy of the project (local backend only),
and each command's exit code (0, or the `# exit N` written after it) and the output lines shown under
it are checked. The shell starts as a new one does: without the virtualenv on its PATH, so the tour
works only because it says `source .venv/bin/activate`.

The blocks under "Backends and credentials" need `reconciler emulator serve` running in a second
terminal: the test starts the README's serve command itself (on a free port instead of 4566), then runs
the other block in a shell that first runs `source .venv/bin/activate`, with the port substituted and
no AWS config file of the machine's user read.

Two adjustments, both about the test running inside the suite: `make test` runs as `make -n test`
(running the suite from inside itself would recurse), and make is told not to rebuild the virtualenv
stamps (`-o .venv/.installed -o .venv/.installed-runtime`), since the venv running this test is installed
by definition and a reinstall from a scratch copy would repoint it."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.demo import seed
from tests.support.harness import start_listening, stop_serve

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
TOUR = ("The two commands", "A tour on the local backend")
BACKENDS = "Backends and credentials"
ADT = "ADT feed"
ACTIVATE = "source .venv/bin/activate"
README_PORT = "4566"
needs_venv = pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "reconciler").exists(),
                                reason="needs the project's .venv")


@dataclass
class Step:
    command: str
    exit_code: int = 0
    expected: list[str] = field(default_factory=list)


def console_blocks(text: str) -> list[tuple[str, str]]:
    """(the `## ` section it is in, the block's text) of every ```console block, in order."""
    blocks = []
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        blocks += [(title, b) for b in re.findall(r"^```console\n(.*?)^```", section, flags=re.S | re.M)]
    return blocks


def steps_of(blocks: list[str]) -> list[Step]:
    steps: list[Step] = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("$ "):
                command = line[2:]
                code = _EXIT.search(command)
                steps.append(Step(_EXIT.sub("", command), int(code.group(1)) if code else 0))
            elif line.strip() and steps:
                steps[-1].expected.append(line.strip())
    return steps


def readme_steps(text: str, sections: tuple[str, ...] = TOUR) -> list[Step]:
    return steps_of([block for title, block in console_blocks(text) if title in sections])


def as_run(command: str) -> str:
    """The shell line the test runs for a README command (see the module docstring)."""
    if command.startswith("make "):
        target = command.split()[1]
        return f"make -o .venv/.installed -o .venv/.installed-runtime {'-n ' if target == 'test' else ''}{target}"
    return command


def scratch_project(tmp: Path) -> Path:
    """A copy of what the tour reads and writes; the virtualenv, the Makefile and what it names are linked."""
    for name in ("Makefile", ".venv", "pyproject.toml", ".ci"):  # .ci: the node tools `make test` names
        if (ROOT / name).exists():
            (tmp / name).symlink_to(ROOT / name)
    for name in ("specs", "schemas", "examples"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def new_shell_env() -> dict[str, str]:
    """The environment of a new shell: no AWS or reconciler settings, no virtualenv, no `reconciler` on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "RECONCILER_")) and k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if d and not (Path(d) / "reconciler").exists())
    assert shutil.which("reconciler", path=env["PATH"]) is None
    return env


def run_steps(steps: list[Step], cwd: Path, env: dict[str, str], *, prelude: tuple[str, ...] = ()) -> None:
    """Run STEPS in one bash shell (after PRELUDE); check each exit code and the output lines shown."""
    script = ["exec </dev/null", *prelude]
    for n, step in enumerate(steps):
        script += [f"echo '@@step {n}'", f"{as_run(step.command)} 2>&1", f"echo \"@@exit {n} $?\""]
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    outputs = re.split(r"^@@step \d+\n", done.stdout, flags=re.M)[1:]
    assert len(outputs) == len(steps), done.stdout[-2000:] + done.stderr[-2000:]
    for n, (step, output) in enumerate(zip(steps, outputs, strict=True)):
        body, _, status = output.rpartition(f"@@exit {n} ")
        assert int(status.strip()) == step.exit_code, f"$ {step.command}\n{body[-3000:]}"
        for line in step.expected:
            assert line in body, f"$ {step.command}: {line!r} not in its output:\n{body[-3000:]}"
        if step.command == "make test":
            assert "ruff check" in body and "mypy" in body and "pytest" in body


def test_the_readme_has_the_two_commands_first_and_a_tour() -> None:
    text = README.read_text(encoding="utf-8")
    steps = readme_steps(text)
    assert [s.command for s in steps[:2]] == ["make demo", "make test"]
    used = {s.command.split()[1] for s in steps if s.command.startswith("reconciler ")}
    assert {"validate", "plan", "apply", "drift", "import", "history", "revert"} <= used
    first_reconciler = next(n for n, s in enumerate(steps) if s.command.startswith("reconciler "))
    assert ACTIVATE in [s.command for s in steps[:first_reconciler]]
    assert steps[first_reconciler].command.startswith("reconciler init ")  # the tour starts by setting up a repo
    assert {title for title, _block in console_blocks(text)} == {*TOUR, BACKENDS, ADT}  # no block goes untested


@pytest.mark.slow
@needs_venv
def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    run_steps(readme_steps(README.read_text(encoding="utf-8")), scratch_project(tmp_path), new_shell_env())


@needs_venv
def test_the_readme_adt_merge_and_unmerge_run_as_written(tmp_path: Path) -> None:
    """The ADT feed's blocks, in order, on a freshly seeded demo store, in a shell set up as the tour's."""
    steps = readme_steps(README.read_text(encoding="utf-8"), (ADT,))
    assert [s.command.split()[1] for s in steps if s.command.startswith("reconciler ")] == [
        "emulator", "adt", "plan", "apply", "plan", "revert"]
    project = scratch_project(tmp_path)
    seed(str(project / ".demo" / "store"), io.StringIO())
    run_steps(steps, project, new_shell_env(), prelude=(ACTIVATE, "export RECONCILER_LOCAL=.demo/store"))


@needs_venv
def test_the_readme_aws_cli_example_runs_against_emulator_serve(tmp_path: Path) -> None:
    """The serve block (one command and the line it prints), then the AWS CLI block against that server."""
    serve_block, cli_block = [steps_of([b]) for title, b in console_blocks(README.read_text(encoding="utf-8"))
                              if title == BACKENDS]
    (serve,) = serve_block
    assert serve.command.startswith("reconciler emulator serve --local .demo/store")
    project = scratch_project(tmp_path)
    seed(str(project / ".demo" / "store"), io.StringIO())
    proc, url = start_listening(["bash", "-c", f"{ACTIVATE} && exec {serve.command} --port 0"],
                                cwd=project, env=new_shell_env())
    try:
        port = url.rsplit(":", 1)[1]
        assert [f"listening on {url}"] == [line.replace(README_PORT, port) for line in serve.expected]
        assert any("AWS_DISABLE_HOST_PREFIX_INJECTION=true" in s.command for s in cli_block)
        assert any(s.command.startswith("aws medical-imaging ") and f"127.0.0.1:{README_PORT}" in s.command
                   for s in cli_block)
        env = {**new_shell_env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        run_steps([Step(s.command.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}"), s.exit_code,
                        s.expected) for s in cli_block], project, env, prelude=(ACTIVATE,))
    finally:
        stop_serve(proc)
