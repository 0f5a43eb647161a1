"""`dsr request`: record, check, plan, approve, run and close data subject requests."""

from __future__ import annotations

import click

from agent.cli.request import (
    clock_cmd,
    execution_cmd,
    lifecycle_cmd,
    planning_cmd,
    review_cmd,
)

COMMANDS = (lifecycle_cmd.create, lifecycle_cmd.list_, lifecycle_cmd.show,
            clock_cmd.clock, clock_cmd.extend,
            planning_cmd.verify, planning_cmd.plan, planning_cmd.approve, planning_cmd.hold,
            execution_cmd.run, execution_cmd.signoff, execution_cmd.reapply,
            execution_cmd.refuse, execution_cmd.cancel,
            review_cmd.review, review_cmd.decide)


@click.group()
def request() -> None:
    """Data subject requests: create → verify → plan → approve → run (→ signoff).

    \b
    Exit codes of run: 0 done (or waiting for sign-off), 3 a system failed,
    4 verification found residual data or could not run.
    """


for _command in COMMANDS:
    request.add_command(_command)
