"""A real S3 endpoint over HTTP on loopback (moto's standalone server) for the s3 tests.

Use it as a plugin: ``pytest_plugins = ["tests.s3_server"]`` in a test module, and import its
types only under ``TYPE_CHECKING`` (so pytest still rewrites its asserts).

- ``s3_server`` (session): one ``moto_server`` process on 127.0.0.1 at a free port, started
  on first use and stopped at the end of the session. boto3 reaches it through
  ``endpoint_url`` over HTTP, exactly as it would reach MinIO or Ceph; nothing in the
  connector knows it is an emulator.
- ``make_bucket(versioned=False, object_lock=False, prefix="")`` (function): a fresh bucket
  with a unique name, and a ``Bucket`` handle: ``name``, ``client`` (boto3, for the test's
  own writes), ``url`` (``s3://name/prefix``), ``put(key, data, **kwargs)``,
  ``entry(name, **options)`` (a ``[[systems]]`` table; an option set to None is removed) and
  ``system(name, **options)`` (the SystemConfig the agent builds from it).
- ``dedicated_s3_server()`` (function): a server of the test's own, which it may kill to
  see a connection drop (``server.kill()``).

Credentials reach configurations as ``${DSR_TEST_S3_KEY}`` / ``${DSR_TEST_S3_SECRET}``, as a
user's would; any value works against the emulator.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.config import SystemConfig, config_from_dict

REGION = "eu-west-2"
KEY_ENV, SECRET_ENV = "DSR_TEST_S3_KEY", "DSR_TEST_S3_SECRET"
START_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_command() -> list[str]:
    here = Path(sys.executable).parent / "moto_server"
    found = str(here) if here.exists() else shutil.which("moto_server")
    if not found:
        pytest.fail("moto_server is not installed: pip install -e '.[test]' installs it")
    return [found]


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=os.environ[KEY_ENV], aws_secret_access_key=os.environ[SECRET_ENV],
            config=Config(retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=5, read_timeout=30))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(folder: Path) -> S3Server:
    port = _free_port()
    log_path = folder / f"moto-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*_moto_command(), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = S3Server(port, process, log_path)
    deadline = time.monotonic() + START_SECONDS
    while True:  # bounded: the server answers within a few seconds or the test fails
        if process.poll() is not None:
            pytest.fail(f"moto_server exited at start: {server.log()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", port), timeout=1):
            return server
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"moto_server did not listen on 127.0.0.1:{port} within "
                        f"{START_SECONDS:.0f} s")
        time.sleep(0.1)


@dataclass
class Bucket:
    name: str
    client: Any
    server: S3Server
    prefix: str = ""
    versioned: bool = False
    object_lock: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}" if self.prefix else f"s3://{self.name}"

    def put(self, key: str, data: bytes | str, **kwargs: Any) -> dict[str, Any]:
        body = data.encode("utf-8") if isinstance(data, str) else data
        return dict(self.client.put_object(Bucket=self.name, Key=key, Body=body, **kwargs))

    def get(self, key: str, version: str | None = None) -> bytes:
        extra = {"VersionId": version} if version else {}
        return bytes(self.client.get_object(Bucket=self.name, Key=key, **extra)["Body"].read())

    def versions(self, key: str | None = None) -> list[dict[str, Any]]:
        """Every version and delete marker (of one key, or of the bucket), newest first."""
        out: list[dict[str, Any]] = []
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.name, **({"Prefix": key} if key else {}))
        for page in pages:
            for kind in ("Versions", "DeleteMarkers"):
                for item in page.get(kind, []):
                    if key is None or item["Key"] == key:
                        out.append({**item, "kind": kind})
        return sorted(out, key=lambda v: v["LastModified"], reverse=True)

    def entry(self, name: str = "bucket", **options: Any) -> dict[str, Any]:
        table: dict[str, Any] = {
            "name": name, "connector": "s3", "url": self.url,
            "endpoint_url": self.server.endpoint, "region": REGION,
            "access_key_id": f"${{{KEY_ENV}}}", "secret_access_key": f"${{{SECRET_ENV}}}",
            **self.extra}
        for key, value in options.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return table

    def system(self, name: str = "bucket", **options: Any) -> SystemConfig:
        config = config_from_dict({"systems": [self.entry(name, **options)]})
        return config.systems[0]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    os.environ.setdefault(KEY_ENV, "dsr-test-key")
    os.environ.setdefault(SECRET_ENV, "dsr-test-secret-" + secrets.token_hex(4))
    server = start_server(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def make_bucket(s3_server: S3Server) -> Iterator[Callable[..., Bucket]]:
    made: list[Bucket] = []

    def make(*, versioned: bool = False, object_lock: bool = False, prefix: str = "",
             server: S3Server | None = None) -> Bucket:
        target = server or s3_server
        client = target.client()
        name = f"dsr-test-{secrets.token_hex(6)}"
        create: dict[str, Any] = {"Bucket": name, "CreateBucketConfiguration": {
            "LocationConstraint": REGION}}
        if object_lock:
            create["ObjectLockEnabledForBucket"] = True
        client.create_bucket(**create)
        if versioned and not object_lock:  # object lock turns versioning on by itself
            client.put_bucket_versioning(Bucket=name,
                                         VersioningConfiguration={"Status": "Enabled"})
        bucket = Bucket(name, client, target, prefix, versioned or object_lock, object_lock)
        made.append(bucket)
        return bucket

    yield make
    for bucket in made:  # buckets are per test; the server goes with the session
        if bucket.server.process.poll() is None:
            _empty(bucket)


def _empty(bucket: Bucket) -> None:
    with contextlib.suppress(Exception):
        for item in bucket.versions():
            bucket.client.delete_object(Bucket=bucket.name, Key=item["Key"],
                                        VersionId=item["VersionId"],
                                        BypassGovernanceRetention=True)
        bucket.client.delete_bucket(Bucket=bucket.name)


@pytest.fixture
def dedicated_s3_server(tmp_path: Path, s3_server: S3Server) -> Iterator[Callable[[], S3Server]]:
    started: list[S3Server] = []

    def start() -> S3Server:
        server = start_server(tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
