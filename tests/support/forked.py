"""`python -m reconciler ARGV` as a process forked from the test process instead of a new interpreter.

A new interpreter pays its start-up on every run: Python itself, then importing boto3, botocore,
jsonschema and the package, about 0.3 s of CPU before the command does anything, and the suite starts
the CLI some hundreds of times. A fork of the test process (which has imported all of that already)
is the same program in a process of its own: its own pid, exit code, stdin, stdout and stderr pipes,
environment, working directory and signal dispositions, killed by SIGKILL or interrupted by SIGINT like
any process. ``ForkedReconciler`` is a ``subprocess.Popen`` whose child is such a fork, so that
``communicate``, ``wait``, timeouts and ``send_signal`` work unchanged; ``run`` is ``subprocess.run``
for it.

A command is started as a new interpreter when this process keeps open the SQLite database of the store
the command will open (``_store_kept``): SQLite's record of that file's locks must not be carried into a
fork.

What a fork does not repeat is the interpreter's start-up: the tests that are about start-up itself
(the console script, ``python -m reconciler`` on a clean interpreter) keep starting one, as do the
README tour and the CI recipes, which run the installed ``reconciler`` command through a shell.

The child does what a new interpreter would have done before running ``reconciler/__main__.py``
(https://docs.python.org/3/library/sys.html#sys.stdout, https://docs.python.org/3/library/signal.html):
fresh standard streams on fds 0-2 (buffered as PYTHONUNBUFFERED says), SIGINT raising
KeyboardInterrupt unless it was ignored, every other Python-level handler back to its default, the
default warning filters, no logging handlers of the test process, and on the way out the join of
non-daemon threads and the flush of the streams. Anything else that is not the new command's own
state (fds, objects) is left alone, as ``killing.killed_run`` does.
"""

from __future__ import annotations

import faulthandler
import gc
import inspect
import io
import locale
import logging
import os
import runpy
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PREFIX = (sys.executable, "-m", "reconciler")

# The parameters of CPython's POSIX ``Popen._execute_child`` this class overrides (3.11 and later); on any
# other signature the class falls back to the real exec, so a new Python can only make the suite slower.
_PARAMETERS = ("args", "executable", "preexec_fn", "close_fds", "pass_fds", "cwd", "env", "startupinfo",
               "creationflags", "shell", "p2cread", "p2cwrite", "c2pread", "c2pwrite", "errread", "errwrite",
               "restore_signals", "gid", "gids", "uid", "umask", "start_new_session", "process_group")
_FORKABLE = tuple(inspect.signature(subprocess.Popen._execute_child).parameters)[1:] == _PARAMETERS \
    and hasattr(os, "fork")


def reconciler(*argv: str) -> list[str]:
    """The command line of `python -m reconciler ARGV...` (what ``ForkedReconciler`` runs as a fork)."""
    return [*PREFIX, *argv]


class ForkedReconciler(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` of `python -m reconciler ...` whose child is a fork of this process.

    Any other command line (and a ``preexec_fn``, ``pass_fds`` or a change of user or group, which the
    suite does not use) is executed as usual."""

    def _execute_child(self, *args: Any) -> None:
        p = dict(zip(_PARAMETERS, args, strict=True)) if _FORKABLE else {}
        words = _words(p)
        # the store check last: it may run the collector
        if words is None or _store_kept(_store_of(words, p["cwd"], p["env"])):
            super()._execute_child(*args)  # type: ignore[misc]
            return
        pid = os.fork()
        if pid == 0:  # the child: never returns into the test
            code = 1
            try:
                _detach(p["p2cread"], p["p2cwrite"], p["c2pread"], p["c2pwrite"], p["errread"], p["errwrite"],
                        p["start_new_session"], p["process_group"])
                code = _run(words, p["cwd"], p["env"])
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        self.pid = pid
        self._child_created = True
        self._close_pipe_fds(p["p2cread"], p["p2cwrite"], p["c2pread"], p["c2pwrite"], p["errread"],  # type: ignore[attr-defined]
                             p["errwrite"])


def _words(params: dict[str, Any]) -> list[str] | None:
    """The arguments after `python -m reconciler` when PARAMS (``_execute_child``'s) can run as a fork, else None."""
    argv = params.get("args")
    if (not params or not isinstance(argv, list | tuple) or tuple(argv[:3]) != PREFIX or params["shell"]
            or params["preexec_fn"] is not None or params["pass_fds"]
            or params["executable"] not in (None, sys.executable)
            or any(params[k] is not None for k in ("gid", "gids", "uid")) or params["umask"] >= 0):
        return None
    return [str(a) for a in argv[3:]]


def _store_of(argv: list[str], cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> Path | None:
    """The emulator store folder a command line works on (``--local DIR`` or RECONCILER_LOCAL), if any."""
    local = None
    for i, word in enumerate(argv):
        if word == "--local" and i + 1 < len(argv):
            local = argv[i + 1]
        elif word.startswith("--local="):
            local = word.partition("=")[2]
    if local is None:
        local = (os.environ if env is None else env).get("RECONCILER_LOCAL")
    return Path(cwd or os.getcwd(), local).resolve() if local else None


def sqlite_open(store: Path) -> bool:
    """Whether this process has STORE's SQLite database open (the file, its WAL or its shared memory)."""
    database = str(store / "emulator.sqlite3")
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return True  # cannot tell: never risk it
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(database):
            return True
    return False


def _store_kept(store: Path | None) -> bool:
    """Whether this process keeps the database of STORE (the store the command will open) open.

    A child forked then would carry SQLite's per-process record of the locks and shared memory held on that
    file into a process that holds none of them, and the connections the child opens to it would trust that
    record: the parent closing its last connection could then checkpoint and delete the WAL the child still
    writes to (https://www.sqlite.org/howtocorrupt.html, "Carrying an open database connection across a
    fork()"). Connections nobody references any more are collected first (a Python 3.11 sqlite3 connection
    is in a reference cycle with its statement cache, so only the collector, or closing it, frees it)."""
    if store is None or not sqlite_open(store):
        return False
    for generation in (1, 2):  # the young generations first: a store the test just dropped is there, cheaply
        gc.collect(generation)
        if not sqlite_open(store):
            return False
    return True


def run(args: Sequence[str], *, input: str | bytes | None = None, timeout: float | None = None,
        check: bool = False, capture_output: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` with ``ForkedReconciler`` (same arguments, same result and exceptions)."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with ForkedReconciler(list(args), **kwargs) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            exc.output, exc.stderr = proc.communicate()
            raise
        except BaseException:
            proc.kill()
            raise
        code = proc.poll()
        assert code is not None
    if check and code:
        raise subprocess.CalledProcessError(code, proc.args, output=out, stderr=err)
    return subprocess.CompletedProcess(proc.args, code, out, err)


def _detach(p2cread: int, p2cwrite: int, c2pread: int, c2pwrite: int, errread: int, errwrite: int,
            new_session: bool, process_group: int) -> None:
    """The child's side of the pipes on fds 0-2, as ``_posixsubprocess`` arranges them before an exec."""
    if new_session:
        os.setsid()
    if process_group >= 0:
        os.setpgid(0, process_group)
    for fd in (p2cwrite, c2pread, errread):  # the parent's ends: a child holding them would never see EOF
        if fd != -1:
            os.close(fd)
    if c2pwrite == 0:
        c2pwrite = os.dup(c2pwrite)
    while errwrite in (0, 1):
        errwrite = os.dup(errwrite)
    for fd, target in ((p2cread, 0), (c2pwrite, 1), (errwrite, 2)):
        if fd not in (-1, target):
            os.dup2(fd, target)
    for fd in {p2cread, c2pwrite, errwrite}:
        if fd > 2:
            os.close(fd)


def _run(argv: list[str], cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> int:
    """Run `python -m reconciler ARGV` in this (forked) process and return its exit status."""
    if cwd is not None:
        os.chdir(cwd)
    if env is not None:
        os.environ.clear()
        os.environ.update({os.fsdecode(k): os.fsdecode(v) for k, v in env.items()})
    _fresh_signals()
    _fresh_streams()
    faulthandler.disable()
    warnings.resetwarnings()  # the interpreter's defaults (https://docs.python.org/3/library/warnings.html)
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    warnings.showwarning = _showwarning
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    module = sys.modules["reconciler"].__file__
    assert module is not None
    sys.argv = [os.path.join(os.path.dirname(module), "__main__.py"), *argv]
    try:
        try:
            runpy.run_module("reconciler", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc.code)
        except KeyboardInterrupt:
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # as Python ends on an uncaught KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)
            code = 130
        except BaseException:
            traceback.print_exc()
            code = 1
        for thread in threading.enumerate():  # the interpreter waits for non-daemon threads at exit
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    finally:
        _flush()
    return code


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _fresh_signals() -> None:
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if sig == signal.SIGINT:
            if handler is not signal.SIG_IGN:  # an ignored SIGINT stays ignored across an exec too
                signal.signal(sig, signal.default_int_handler)
        elif callable(handler):
            signal.signal(sig, signal.SIG_DFL)


def _fresh_streams() -> None:
    """New sys.stdin/stdout/stderr on fds 0-2, encoded and buffered as a new interpreter's would be."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding, _, errors = os.environ.get("PYTHONIOENCODING", "").partition(":")
    if not encoding:
        encoding = "utf-8" if os.environ.get("PYTHONUTF8") == "1" else locale.getpreferredencoding(False)

    def stream(fd: int, write: bool, errors_default: str) -> io.TextIOWrapper | None:
        try:
            os.fstat(fd)
        except OSError:
            return None
        raw = io.FileIO(fd, "w" if write else "r", closefd=False)
        tty = raw.isatty()
        buffered: Any = raw if (write and unbuffered) else (
            io.BufferedWriter(raw) if write else io.BufferedReader(raw))
        return io.TextIOWrapper(buffered, encoding=encoding, errors=errors or errors_default,
                                line_buffering=write and (tty or fd == 2), write_through=write and unbuffered)

    sys.stdin = sys.__stdin__ = stream(0, False, "strict")  # type: ignore[assignment,misc]
    sys.stdout = sys.__stdout__ = stream(1, True, "strict")  # type: ignore[assignment,misc]
    sys.stderr = sys.__stderr__ = stream(2, True, "backslashreplace")  # type: ignore[assignment,misc]


def _showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
    if sys.stderr is not None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
