"""The architecture is checked, not hoped: the import-linter contracts of pyproject.toml hold, and they
keep covering every module (``exhaustive`` layers) and every package (the boto3 rule names the root)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def test_the_import_contracts_hold() -> None:
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports; "
                          "raise SystemExit(lint_imports())"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]


def test_the_layers_put_every_module_on_a_floor() -> None:
    layered = {c["containers"][0]: c for c in contracts() if c["type"] == "layers"}
    assert set(layered) == {"reconciler", "reconciler.commands"}
    assert all(c.get("exhaustive") is True for c in layered.values())


def test_boto3_is_forbidden_to_every_package_but_the_client() -> None:
    (rule,) = [c for c in contracts() if c["type"] == "forbidden" and "boto3" in c["forbidden_modules"]]
    assert rule["source_modules"] == ["reconciler"] and "botocore" in rule["forbidden_modules"]
    allowed = {line.split(" -> ")[0] for line in rule["ignore_imports"]}
    assert allowed == {"reconciler.client.**", "reconciler.emulator.inprocess"}


def test_the_plan_does_not_import_the_client() -> None:
    """Plans and drift states are persisted through reconciler.persist, whose S3 client the command makes."""
    assert any(c["type"] == "forbidden" and c["source_modules"] == ["reconciler.plan"]
               and c["forbidden_modules"] == ["reconciler.client"] for c in contracts())


def test_the_emulator_and_the_client_are_independent() -> None:
    assert any(c["type"] == "independence" and set(c["modules"]) == {"reconciler.client", "reconciler.emulator"}
               for c in contracts())


def test_comments_point_to_public_pages_not_to_documents_outside_the_repository() -> None:
    """Code and docs cite AWS and DICOM pages (or say it in place), never design notes kept elsewhere."""
    import re

    outside = re.compile("ARCHI" + "TECTURE|reference " + "section")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for folder in ("reconciler", "tests", "benchmarks", "schemas", "examples")
             for path in sorted((ROOT / folder).rglob("*")) if path.suffix in (".py", ".json", ".md", ".yml", ".yaml")
             for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1) if outside.search(line)]
    found += [f"README.md:{n}" for n, line in enumerate((ROOT / "README.md").read_text().splitlines(), start=1)
              if outside.search(line)]
    assert found == []
