"""The identity of a backend, recorded in saved plans: a local store, an endpoint URL, or an AWS
account and region.

For real AWS the account comes from STS GetCallerIdentity
(https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html), which needs no
permission; it is asked only when a plan is saved or a saved plan applied, never for a plain plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reconciler.api import BackendIdentity
from reconciler.client import errors as errs


def local_identity(store_dir: str) -> BackendIdentity:
    """The emulator store in STORE_DIR, by its absolute path (the same store from any directory)."""
    return BackendIdentity("local", str(Path(store_dir).expanduser().resolve()))


def endpoint_identity(url: str, region: str | None = None) -> BackendIdentity:
    """An endpoint by its URL, normalised: scheme and host lower case, no trailing slash (and the REGION
    requests are signed for, kept beside it)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return BackendIdentity("endpoint", f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}", region=region)


def aws_identity(session: Any, region: str, config: Config) -> BackendIdentity:
    """AWS: the account of the credentials in SESSION (one STS call) and the client's REGION."""
    try:
        sts = session.client("sts", region_name=region, config=config)
        account = str(sts.get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as exc:
        raise errs.translate(exc, "GetCallerIdentity", "the AWS account of the credentials", "AWS STS", 1) from exc
    return BackendIdentity("aws", region, account=account)
