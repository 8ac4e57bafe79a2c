"""Which HealthImaging backend to talk to, and how hard: the options of ARCHITECTURE section 2.

A plain value built from the command line (or by tests) and handed to ``reconciler.aws``; it holds no
boto3 object, so the choice can be validated and shown before anything connects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from reconciler.errors import UsageError
from reconciler.ratelimit import DEFAULT_QUOTAS

DEFAULT_LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class BackendOptions:
    """Where requests go (real AWS, an endpoint URL, or the in-process emulator) and client limits."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    local_dir: str | None = None
    rates: dict[str, float] = field(default_factory=dict)
    bursts: dict[str, float] = field(default_factory=dict)  # from --rate OP=TPS:BURST; others default
    parallelism: int = 8
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @property
    def kind(self) -> str:
        """``local``, ``endpoint`` or ``aws``."""
        if self.local_dir:
            return "local"
        return "endpoint" if self.endpoint_url else "aws"

    def validate(self) -> BackendOptions:
        """Raise UsageError for contradictory or malformed options; return self for chaining."""
        if self.local_dir and self.endpoint_url:
            raise UsageError(
                "--local and --endpoint-url both given",
                hint="use one: --local DIR for the embedded emulator, --endpoint-url for a server",
            )
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url)
        if self.local_dir is not None and not self.local_dir.strip():
            raise UsageError("--local needs a directory")
        if self.parallelism < 1:
            raise UsageError(f"--parallelism {self.parallelism}: must be at least 1")
        if self.max_attempts < 1:
            raise UsageError("max attempts must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise UsageError("timeouts must be greater than 0")
        check_rate_names(self.rates)
        return self


def check_endpoint_url(url: str) -> None:
    """An endpoint must be an absolute http(s) URL with a host."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(
            f"--endpoint-url {url!r}: expected an http(s) URL such as http://127.0.0.1:4566",
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageError(f"--endpoint-url {url!r}: the port is not a number in range") from None


def check_rate_names(rates: dict[str, float]) -> None:
    """A --rate for an operation HealthImaging does not have is a typo, not a no-op."""
    for op, tps in rates.items():
        if op != "*" and op not in DEFAULT_QUOTAS:
            known = ", ".join(sorted(DEFAULT_QUOTAS))
            raise UsageError(f"--rate {op}={tps:g}: unknown operation", hint=f"one of {known}, or * for all")
        if tps <= 0:
            raise UsageError(f"--rate {op}={tps:g}: TPS must be greater than 0")
