"""SQL Server's SQL for the write actions, without a server: every statement rectify,
suppress, restrict, anonymise and delete issue on a real (SQLite) database is captured and
rendered with the mssql dialect; person data is always a bound parameter."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mssql import pymssql

from agent.testing import plan_items
from tests.conftest import TestDatabase
from tests.sql_estate import builtin_detectors, make_connector, subject
from tests.test_sql_actions import TABLE_OPTIONS, _build

MSSQL = pymssql.dialect(paramstyle="pyformat")
NEW_EMAIL = "jane.new@example.com"
VALUES = ("jane.doe@example.com", NEW_EMAIL, "07700", "900123")


def test_write_statements_render_for_sql_server_with_values_bound(tmp_path):
    database = TestDatabase("sqlite", f"sqlite:///{tmp_path / 'crm.sqlite'}")
    engine = database.engine()
    _build(engine)
    engine.dispose()
    connector = make_connector(database, builtin_detectors(), exclude=["audit_notes"],
                               tables=TABLE_OPTIONS)
    captured: list[sa.sql.ClauseElement] = []

    def capture(conn: Any, clause: Any, *args: Any) -> None:
        if isinstance(clause, sa.sql.ClauseElement):
            captured.append(clause)

    findings = list(connector.search([subject("S", email="Jane.Doe@example.com",
                                              phone="07700 900123")]))
    assert findings
    sa.event.listen(connector.engine, "before_execute", capture)
    try:
        list(connector.rectify(plan_items(findings, "rectify", connector, fields=["email"]),
                               {"email": NEW_EMAIL}))
        list(connector.suppress(plan_items(findings, "suppress", connector)))
        list(connector.restrict(plan_items(findings, "restrict", connector)))
        list(connector.erase(plan_items(findings[:1], "anonymise", connector)))
        list(connector.erase(plan_items(findings, "delete", connector)))
    finally:
        sa.event.remove(connector.engine, "before_execute", capture)
        connector.close()
    kinds = {type(c).__name__ for c in captured}
    assert {"Delete", "Update", "Select"} <= kinds
    for clause in captured:
        compiled = clause.compile(dialect=MSSQL, compile_kwargs={"render_postcompile": True})
        sql = str(compiled).lower()
        assert not any(value in sql for value in VALUES), sql[:160]
        assert " limit " not in sql and "`" not in sql  # no other dialect's syntax
