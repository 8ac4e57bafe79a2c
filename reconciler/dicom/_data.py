"""Loads the JSON data tables shipped in ``reconciler/dicom/data`` (package data)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed JSON table ``data/NAME.json``; each table carries its ``source`` URL."""
    text = resources.files("reconciler.dicom").joinpath("data", f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
