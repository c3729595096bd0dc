"""``mlvet serve``: run the server (organisation inventory, hub gateway, dashboard) with uvicorn."""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN


def register(group: click.Group) -> None:
    """Add ``serve`` to the group."""

    @group.command()
    @click.option("--host", default=None, help="Address to listen on (default 127.0.0.1: loopback only).")
    @click.option("--port", default=None, type=int, help="Port to listen on (default 8080).")
    @click.option("--db", default=None, help="SQLAlchemy database URL (default: MLVET_DB or the user's SQLite file).")
    @click.option("--hub-upstream", default=None, help="Hub the gateway forwards to (default https://huggingface.co).")
    @click.option("--cache-dir", default=None, type=click.Path(file_okay=False, path_type=str),
                  help="Content-addressed cache of files the gateway scanned.")
    @click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False, path_type=str),
                  help="Server config file (TOML; see the README section 'Server').")
    @click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
    def serve(host: str | None, port: int | None, db: str | None, hub_upstream: str | None, cache_dir: str | None,
              config_file: str | None, access_log: bool) -> int:
        """Serve the API, the hub gateway and the dashboard on the inventory database until interrupted.

        Settings come from --config, then MLVET_SERVER_* environment variables, then these options.
        Every route except /healthz needs a token: create one with `mlvet token create`.
        """
        import os
        import socket

        from mlvet.commands import _io
        from mlvet.errors import UsageError
        from mlvet.server.config import load_settings

        settings = load_settings(config_file, os.environ, {"host": host, "port": port, "db_url": db,
                                                             "hub_upstream": hub_upstream, "cache_dir": cache_dir})
        import uvicorn  # the serve extra: named by the missing-extra message when absent

        from mlvet.server.app import create_app

        app = create_app(settings)
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio sets TCP_NODELAY
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            sock.close()
            app.state.store.close()
            raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
        bound = sock.getsockname()[1]
        shown = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
        _io.note(f"serving on http://{shown}:{bound} (API docs at /docs, health at /healthz)")
        config = uvicorn.Config(app, log_level="info", access_log=access_log, timeout_graceful_shutdown=10,
                                server_header=False, proxy_headers=False, lifespan="on")
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
        return EXIT_CLEAN
