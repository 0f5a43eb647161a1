"""Built-in connector plugin for file shares: local folders, SFTP and SMB."""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from connectors.files.connector import FilesConnector

__all__ = ["FilesConnector"]


@hookimpl
def register_connectors(register: Register) -> None:
    register(FilesConnector)
