"""``dsr serve``: the HTTP API (docs/api.md) under uvicorn."""

from __future__ import annotations

import click

from agent.cli.context import AppContext, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; put TLS in front for anything but localhost.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@pass_app
def serve(app: AppContext, host: str, port: int) -> None:
    """Serve the request API: create, verify, plan, approve, run, receipts, exports."""
    import uvicorn  # the API's dependencies load only when serving

    from agent.api.app import create_app
    from agent.sar.retention import purge_exports

    config = app.config()
    purged = purge_exports(config)  # exports past [agent] export_retention_days
    if purged:
        click.echo(f"removed {purged} export file(s) past their retention", err=True)
    api = create_app(config, pm=app.plugin_manager)
    # uvicorn's access log shows paths (request ids only), never bodies
    uvicorn.run(api, host=host, port=port, log_level="info")
