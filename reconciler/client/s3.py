"""S3 for saved plans, drift states and apply journals (``reconciler.persist`` uses it): with the
HealthImaging client, the only place that uses boto3 (its sessions come from ``client.session``).
Credentials, region and endpoint come from boto3's standard chain and environment (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL_S3``, ...); botocore errors become ``reconciler.errors`` here and never escape.
"""

from __future__ import annotations

import os
from typing import Any

from botocore import exceptions as bce
from botocore.config import Config

from reconciler.client.session import boto3_session, botocore_session
from reconciler.errors import CredentialsError, EndpointError, PlanFileError, ReconcilerError, StorageNotFound
from reconciler.persist import S3Object

_CREDENTIAL_CODES = frozenset({"AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "ExpiredToken",
                               "SignatureDoesNotMatch", "InvalidToken"})


class S3:
    """put/get/list of whole small objects (plans, drift states, journals), errors translated: the
    ``reconciler.persist.ObjectStore`` of a run."""

    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
            try:
                # the process's loader and handlers: the S3 model (and the endpoint data) is parsed once
                # per process, not once per client
                session = boto3_session(botocore_session())
                client = session.client("s3", region_name=region or session.region_name or "us-east-1",
                                        config=Config(retries={"mode": "standard", "max_attempts": 5}))
            except bce.BotoCoreError as exc:
                raise ReconcilerError(f"cannot set up the S3 client ({type(exc).__name__})") from None
        self.client = client

    def put(self, url: str, bucket: str, key: str, data: bytes, *, metadata: dict[str, str],
            encryption: str, kms_key_id: str | None = None) -> str:
        """Write the object with server-side encryption requested; return its ETag (no quotes)."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": data, "Metadata": metadata,
                                  "ServerSideEncryption": encryption, "ContentType": "application/json"}
        if kms_key_id and encryption == "aws:kms":
            params["SSEKMSKeyId"] = kms_key_id
        resp = self._call("PutObject", url, lambda: self.client.put_object(**params))
        return str(resp.get("ETag", "")).strip('"')

    def get(self, url: str, bucket: str, key: str) -> S3Object:
        def fetch() -> S3Object:
            resp = self.client.get_object(Bucket=bucket, Key=key)
            return S3Object(resp["Body"].read(), str(resp.get("ETag", "")).strip('"'),
                            {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()},
                            resp.get("ServerSideEncryption"))

        found: S3Object = self._call("GetObject", url, fetch)
        return found

    def list(self, url: str, bucket: str, prefix: str, *, max_keys: int) -> tuple[list[str], bool]:
        """The keys under PREFIX in key order, at most MAX_KEYS of them, and whether more are there."""
        def fetch() -> tuple[list[str], bool]:
            keys: list[str] = []
            params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            while True:
                resp = self.client.list_objects_v2(**params, MaxKeys=min(1000, max_keys - len(keys) + 1))
                keys.extend(str(o["Key"]) for o in resp.get("Contents") or ())
                if len(keys) > max_keys:
                    return keys[:max_keys], True
                if not resp.get("IsTruncated") or not resp.get("NextContinuationToken"):
                    return keys, False
                params["ContinuationToken"] = resp["NextContinuationToken"]

        listed: tuple[list[str], bool] = self._call("ListObjectsV2", url, fetch)
        return listed

    @staticmethod
    def _call(op: str, url: str, fn: Any) -> Any:
        try:
            return fn()
        except bce.ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code") or "Unknown")
            if code in _CREDENTIAL_CODES:
                raise CredentialsError(f"S3 {op} {url}: {code}", code=code,
                                       hint="check the credentials and the S3 statement of the IAM policy") from None
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise StorageNotFound(f"{url}: not found in S3 ({code})") from None
            raise PlanFileError(f"S3 {op} {url} failed: {code}") from None
        except (bce.NoCredentialsError, bce.PartialCredentialsError, bce.CredentialRetrievalError) as exc:
            raise CredentialsError(f"S3 {op} {url}: no usable AWS credentials ({type(exc).__name__})",
                                   hint="configure credentials as for the AWS CLI") from None
        except (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError) as exc:
            raise EndpointError(f"S3 {op} {url}: endpoint unreachable ({type(exc).__name__})") from None
        except bce.BotoCoreError as exc:
            raise PlanFileError(f"S3 {op} {url} failed ({type(exc).__name__})") from None
