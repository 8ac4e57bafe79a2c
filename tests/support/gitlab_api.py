"""A small local stand-in for the two GitLab REST endpoints the GitLab recipe calls through ``CI_API_V4_URL``:
the notes of a merge request (list, create, update:
https://docs.gitlab.com/ee/api/notes.html#merge-requests) and the merge requests of a commit
(https://docs.gitlab.com/ee/api/commits.html#list-merge-requests-associated-with-a-commit). Every request
must carry the ``PRIVATE-TOKEN`` header with the token it was made with; each one is recorded."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROJECT = "1217"  # CI_PROJECT_ID as the recipe's jobs see it (gitlab-ci-local's fallback project)
TOKEN = "glpat-stand-in-token"
_NOTES = re.compile(rf"/api/v4/projects/{PROJECT}/merge_requests/(\d+)/notes(?:/(\d+))?")
_COMMIT_MRS = re.compile(rf"/api/v4/projects/{PROJECT}/repository/commits/([0-9a-f]+)/merge_requests")


@dataclass
class GitLab:
    """What the stand-in holds: notes per merge request, the merge requests merged as each commit, and the
    requests it answered (method, path)."""

    url: str = ""  # CI_API_V4_URL
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    merged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # commit SHA -> merge requests
    requests: list[tuple[str, str]] = field(default_factory=list)
    _next_id: int = 100

    def merge(self, commit: str, iid: int, head: str) -> None:
        """Merge request IID, whose head commit is HEAD, was merged as COMMIT."""
        self.merged.setdefault(commit, []).append({"iid": iid, "sha": head, "state": "merged",
                                                   "merge_commit_sha": commit})

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path))
        route = path.split("?", 1)[0]
        commit = _COMMIT_MRS.fullmatch(route)
        if commit is not None and method == "GET":
            return 200, self.merged.get(commit.group(1), [])
        notes = _NOTES.fullmatch(route)
        if notes is None:
            return 404, {"message": "404 Not Found"}
        mine = self.notes.setdefault(int(notes.group(1)), [])
        if method == "GET" and notes.group(2) is None:
            return 200, mine
        text = json.loads(body)["body"]
        if method == "POST" and notes.group(2) is None:
            self._next_id += 1
            mine.append({"id": self._next_id, "body": text})
            return 201, mine[-1]
        if method == "PUT" and notes.group(2) is not None:
            note = next((n for n in mine if n["id"] == int(notes.group(2))), None)
            if note is None:
                return 404, {"message": "404 Note Not Found"}
            note["body"] = text
            return 200, note
        return 405, {"message": "405 Method Not Allowed"}


@contextmanager
def gitlab_api() -> Iterator[GitLab]:
    """The stand-in, served on 127.0.0.1 (a free port) until the block ends."""
    state = GitLab()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                    status, doc = 401, {"message": "401 Unauthorized"}
                else:
                    status, doc = state.answer(self.command, self.path, body)
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
