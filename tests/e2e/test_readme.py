"""The README's commands are what is tested: every ```console block runs, in order, in one shell in a
scratch copy of the project (local backend only), and each command's exit code (0, or the `# exit N`
written after it) and the output lines shown under it are checked.

Two adjustments, both about the test running inside the suite: `make test` runs as `make -n test`
(running the suite from inside itself would recurse), and make is told not to rebuild the virtualenv
stamp (`-o .venv/.installed`), since the venv running this test is installed by definition and a
reinstall from a scratch copy would repoint it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")


@dataclass
class Step:
    command: str
    exit_code: int = 0
    expected: list[str] = field(default_factory=list)


def readme_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            if line.startswith("$ "):
                command = line[2:]
                code = _EXIT.search(command)
                steps.append(Step(_EXIT.sub("", command), int(code.group(1)) if code else 0))
            elif line.strip() and steps:
                steps[-1].expected.append(line.strip())
    return steps


def as_run(command: str) -> str:
    """The shell line the test runs for a README command (see the module docstring)."""
    if command.startswith("make "):
        target = command.split()[1]
        return f"make -o .venv/.installed {'-n ' if target == 'test' else ''}{target}"
    return command


def scratch_project(tmp: Path) -> Path:
    """A copy of what the tour reads and writes; the virtualenv and Makefile are linked, not copied."""
    for name in ("Makefile", ".venv", "pyproject.toml"):
        if (ROOT / name).exists():
            (tmp / name).symlink_to(ROOT / name)
    for name in ("specs", "schemas", "examples"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def test_the_readme_has_the_two_commands_first_and_a_tour() -> None:
    steps = readme_steps(README.read_text(encoding="utf-8"))
    assert [s.command for s in steps[:2]] == ["make demo", "make test"]
    used = {s.command.split()[1] for s in steps if s.command.startswith("reconciler ")}
    assert {"validate", "plan", "apply", "drift", "import", "history", "revert"} <= used


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "reconciler").exists(), reason="needs the project's .venv")
def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    steps = readme_steps(README.read_text(encoding="utf-8"))
    project = scratch_project(tmp_path)
    script = ["exec </dev/null"]
    for n, step in enumerate(steps):
        script += [f"echo '@@step {n}'", f"{as_run(step.command)} 2>&1", f"echo \"@@exit {n} $?\""]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECONCILER_"))}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=project, env=env, capture_output=True,
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
