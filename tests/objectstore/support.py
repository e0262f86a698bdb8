"""A real S3-compatible server for the object-storage tests: moto's standalone server (``moto[server]``)
in its own process on loopback, answering the S3 REST API over HTTP. Nothing is patched in the test
process: Airflow's ``ObjectStoragePath("s3://...")`` reaches it through the Amazon provider, s3fs and
aiobotocore, with an ``aws`` connection whose ``endpoint_url`` points at it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["S3Server", "s3_server"]

ACCESS_KEY = "AKIAMODELREDTEST0001"
SECRET_KEY = "modelred-test-s3-secret-0001"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def conn_id(self) -> str:
        """One Airflow connection id per server: Airflow caches an object store per (scheme, conn_id) for
        the life of the process, so a later server under the same id would be reached at the old port."""
        return "moto_s3_" + self.endpoint.rsplit(":", 1)[1]

    @property
    def conn_env(self) -> str:
        """The environment variable that defines :attr:`conn_id`."""
        return "AIRFLOW_CONN_" + self.conn_id.upper()

    def connection_json(self) -> str:
        """An Airflow ``aws`` connection (``AIRFLOW_CONN_...``) pointing at this server."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            }
        )

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_server(*buckets: str) -> Iterator[S3Server]:
    """Start the server, create ``buckets`` through its API, stop it on exit."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        server = S3Server(f"http://127.0.0.1:{port}")
        for bucket in buckets:
            server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
