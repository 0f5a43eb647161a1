"""Built-in connector plugin for S3 buckets and S3-compatible stores (boto3)."""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from connectors.s3.connector import S3Connector

__all__ = ["S3Connector"]


@hookimpl
def register_connectors(register: Register) -> None:
    register(S3Connector)
