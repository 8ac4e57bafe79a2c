"""The redaction key of a run: ``RECONCILER_REDACTION_KEY`` when set (CI passes its secret), else the
user's own key, made on first use and kept in the user's config folder, so that the fingerprints one
machine prints are the same from run to run (a plan and its apply, today's drift and tomorrow's).

The folder follows the XDG Base Directory specification
(https://specifications.freedesktop.org/basedir-spec/latest/): ``$XDG_CONFIG_HOME/reconciler/``, or
``~/.config/reconciler/`` when XDG_CONFIG_HOME is unset or not absolute. The key file is
``redaction.key``, mode 0600 in a 0700 folder: whoever reads it can fingerprint guessed values.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.render.redact import MIN_KEY_LENGTH, env_key

KEY_FILE = "redaction.key"


def key_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the user's key is kept (see the module docstring)."""
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path(environ.get("HOME") or Path.home()) / ".config"
    return root / "reconciler" / KEY_FILE


@dataclass(frozen=True)
class RunKey:
    """The key of a run, or None with the reason no key could be kept (then the run makes its own)."""

    key: bytes | None
    unkept: str | None = None


def run_key(environ: Mapping[str, str] = os.environ) -> RunKey:
    """The operator's key, else the user's key (made if missing), else none and why."""
    operator = env_key()
    if operator is not None:
        return RunKey(operator)
    path = key_path(environ)
    try:
        return RunKey(user_key(path))
    except OSError as exc:
        return RunKey(None, f"no key could be kept in {path} ({exc.strerror or type(exc).__name__})")


def user_key(path: Path) -> bytes:
    """The key in PATH, made first when there is none. Two processes that make it at once agree: each
    writes a file of its own and links it into place, and the one that finds it there reads the other's."""
    if not path.exists():
        _make(path)
    return _read(path)


def _make(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile: theirs is kept
            os.link(draft, path)  # atomic, and never replaces an existing key
    finally:
        draft.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise UsageError(f"the redaction key {path} can be read by other users (mode {mode & 0o777:o})",
                         hint=f"make it private with `chmod 600 {path}`, or delete it and a new key is made")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < MIN_KEY_LENGTH:
        raise UsageError(f"the redaction key {path} is too short ({len(text)} characters, at least {MIN_KEY_LENGTH})",
                         hint="delete it: the next run makes a new one (fingerprints then change once)")
    return text.encode()
