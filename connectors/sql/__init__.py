"""Built-in connector plugin for SQL databases (SQL Server, PostgreSQL, MariaDB/MySQL, SQLite)."""

from __future__ import annotations

from agent.hookspecs import Register, hookimpl
from connectors.sql.connector import SqlConnector

__all__ = ["SqlConnector"]


@hookimpl
def register_connectors(register: Register) -> None:
    register(SqlConnector)
