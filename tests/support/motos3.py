"""moto's S3 in server mode on 127.0.0.1, for the tests that save plans, journals and drift states in S3
through real HTTP (the subprocesses they start talk to it as to AWS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from moto.server import ThreadedMotoServer


def moto_server() -> Iterator[str]:
    """Run moto's S3 server for the duration of a fixture; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def bucket_client(endpoint: str, bucket: str) -> Any:
    """A boto3 S3 client for ENDPOINT, with BUCKET created if it is not there yet."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=bucket)
    return client
