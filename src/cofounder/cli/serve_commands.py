"""`cofounder serve` runs the HTTP API; `cofounder token` manages who may call it."""

from __future__ import annotations

import errno
import json
import socket
from typing import Annotated

import typer

from cofounder.cli.common import EXIT_BAD_INPUT, DataDir, JsonFlag, err, fail, open_catalog, out

token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Only serve the API (enqueue and read); `cofounder worker` processes run builds.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Serve the HTTP API (and, unless --no-worker, a worker for the build queue)."""
    import uvicorn

    from cofounder.api.app import create_app
    from cofounder.cli.common import open_settings

    settings = open_settings(data_dir)
    listening = _listen(host, port)  # before anything starts: a taken port is bad input
    app = create_app(settings, worker=not no_worker)
    # Open event streams must not hold a shutdown forever.
    config = uvicorn.Config(
        app, host=host, port=port, timeout_graceful_shutdown=5, log_level="warning"
    )
    uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket, or exit 2 naming the address (uvicorn would start the worker first,
    then exit 3 with a bare errno line)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        fail(f"--host: cannot listen on {host!r}: {exc}", EXIT_BAD_INPUT)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        fail(f"cannot listen on {host}:{port}: {why} (choose another --port)", EXIT_BAD_INPUT)
    return sock


@token_app.command("create")
def create(
    owner: Annotated[str, typer.Argument(help="The owner the token acts for.")],
    admin: Annotated[bool, typer.Option("--admin", help="May see everyone's and top up.")] = False,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    if not owner or len(owner) > 100 or not all(c.isalnum() or c in "._-" for c in owner):
        fail(f"OWNER must be 1-100 letters, digits, '.', '_' or '-'; got {owner!r}", EXIT_BAD_INPUT)
    record, secret = open_catalog(data_dir).create_token(owner, admin=admin)
    if as_json:
        print(json.dumps({"id": record.id, "owner": owner, "admin": admin, "token": secret}))
        return
    print(secret)
    role = " (admin)" if admin else ""
    err().print(f"token {record.id} for {owner}{role}: keep it, it is not shown again")


@token_app.command("list")
def list_tokens(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List tokens (never their secrets)."""
    tokens = open_catalog(data_dir).tokens()
    if as_json:
        for t in tokens:
            print(t.model_dump_json())
        return
    for t in tokens:
        state = "revoked" if t.revoked_at else "live"
        role = "admin" if t.is_admin else "owner"
        out().print(f"{t.id}  {t.prefix}…  {t.owner}  {role}  {state}")


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `token list`).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token at once."""
    if not open_catalog(data_dir).revoke_token(token_id):
        fail(f"no live token with id {token_id!r}", EXIT_BAD_INPUT)
    out().print(f"revoked {token_id}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(token_app, name="token")
