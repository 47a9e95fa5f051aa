"""Snapshots over the admin plane: ``/_mock/snapshots`` (``mockksef snapshot …``).

* ``GET /_mock/snapshots`` – the directory and every snapshot in it;
* ``POST /_mock/snapshots`` ``{"name": N, "environments": [..], "overwrite": false}`` –
  save the state (all environments by default): 201 with its description;
* ``GET|DELETE /_mock/snapshots/{name}`` – describe it; delete it (204);
* ``POST /_mock/snapshots/{name}/load`` ``{"environments": [..]}`` – replace those
  environments (all the snapshot holds by default) with the snapshot's;
* ``GET|PUT /_mock/snapshots/{name}/file[?overwrite=true]`` – the file itself, to mail
  it; keep a mailed one (201), once it reads as a snapshot (else 400, nothing kept).

The Python twin is :class:`mockksef.persistence.snapshots.Snapshots`. The
directory is ``MockConfig.snapshot_dir``, else ``default_directory(data_dir)``.
Saving and loading take about a second per 20,000 invoices: they run off the
event loop (``run_heavy``). An upload is streamed to a temporary file under
``max_snapshot_bytes`` (the guard leaves that one body to this route) and
checked there before it takes the name.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from mockksef.admin.answers import json_object, refused
from mockksef.environments import Env
from mockksef.http.endpoint import mock_state
from mockksef.http.offload import run_heavy
from mockksef.persistence.database import StoreError
from mockksef.persistence.snapshots import SUFFIX, SnapshotError, Snapshots, default_directory
from mockksef.state import MockState

# The JSON bodies here are a name, a few environment names and a flag.
OPTIONS_BYTES = 4096


def snapshots_of(state: MockState) -> Snapshots:
    """The snapshots of a server: ``snapshot_dir``, else beside ``--data``, else the user's."""
    config = state.config
    if config.snapshot_dir:
        return Snapshots(Path(config.snapshot_dir).expanduser().resolve())
    return Snapshots(default_directory(config.data_dir))


def _refused(exc: Exception, status: int = 400) -> JSONResponse:
    """The admin plane's error shape; a snapshot error carries its own status."""
    return refused(str(exc), getattr(exc, "status", status))


async def _options(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON object of a small request body (none: ``{}``), its members checked."""
    if len(await request.body()) > OPTIONS_BYTES:
        raise SnapshotError(f"body is over {OPTIONS_BYTES} bytes; it holds a few options only")
    try:
        body = await json_object(request)
    except ValueError as exc:  # UnicodeDecodeError included
        raise SnapshotError(str(exc)) from None
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise SnapshotError(f"unknown member {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    environments = body.get("environments")
    if environments is not None and (
        not isinstance(environments, list)
        or not all(isinstance(e, str) for e in environments)
        or len(environments) > len(Env)
    ):
        raise SnapshotError('environments: a list of environment names, e.g. ["test"]')
    if not isinstance(body.get("overwrite", False), bool):
        raise SnapshotError("overwrite: true or false")
    if "name" in allowed and not isinstance(body.get("name"), str):
        raise SnapshotError('name: a string, e.g. {"name": "before-training"}')
    return body


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").strip().lower()
    if value not in ("1", "true", "yes", "0", "false", "no"):
        raise SnapshotError(f"?{name}= takes true or false, not {value!r}")
    return value in ("1", "true", "yes")


async def listing(request: Request) -> Response:
    mock = mock_state(request)
    snaps = snapshots_of(mock)
    if request.method == "GET":
        found = await run_heavy(snaps.list)
        return JSONResponse({"directory": str(snaps.directory), "snapshots": found})
    try:
        body = await _options(request, frozenset({"name", "environments", "overwrite"}))
        save = functools.partial(
            snaps.save,
            mock,
            body["name"],
            body.get("environments") or None,
            overwrite=body.get("overwrite", False),
        )
        described = await run_heavy(save)
    except SnapshotError as exc:
        return _refused(exc)
    except StoreError as exc:
        return _refused(exc, 500)
    return JSONResponse(
        described, status_code=201, headers={"Location": f"/_mock/snapshots/{body['name']}"}
    )


async def item(request: Request) -> Response:
    snaps = snapshots_of(mock_state(request))
    name = request.path_params["name"]
    try:
        if request.method == "DELETE":
            snaps.delete(name)
            return Response(status_code=204)
        return JSONResponse(await run_heavy(snaps.describe, name))
    except StoreError as exc:
        return _refused(exc)


async def load(request: Request) -> Response:
    mock = mock_state(request)
    snaps = snapshots_of(mock)
    name = request.path_params["name"]
    try:
        body = await _options(request, frozenset({"environments"}))
        report = await run_heavy(snaps.load, mock, name, body.get("environments") or None)
    except StoreError as exc:
        return _refused(exc)
    if not report["loaded"]:
        served = ", ".join(e.value for e in mock.environments)
        message = f"snapshot {name} holds none of the environments served here ({served})"
        return _refused(SnapshotError(f"{message}; nothing was loaded"))
    return JSONResponse({"name": name, **report})


async def file(request: Request) -> Response:
    snaps = snapshots_of(mock_state(request))
    name = request.path_params["name"]
    try:
        if request.method == "PUT":
            return await _upload(request, snaps, name)
        path = snaps.path(name)
        if not path.is_file():
            raise SnapshotError(f"no snapshot named {name} in {snaps.directory}", 404)
    except StoreError as exc:
        return _refused(exc)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{name}{SUFFIX}")


async def _upload(request: Request, snaps: Snapshots, name: str) -> Response:
    """Stream the body to a temporary file under the bound, then check it and keep it."""
    overwrite = _flag(request, "overwrite")
    limit = mock_state(request).config.max_snapshot_bytes
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise SnapshotError(f"a snapshot file is at most {limit} bytes (max_snapshot_bytes)", 413)
    temp: Path = snaps.incoming(name, overwrite=overwrite)
    try:
        size = 0
        with temp.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise SnapshotError(
                        f"a snapshot file is at most {limit} bytes (max_snapshot_bytes)", 413
                    )
                handle.write(chunk)
        if size == 0:
            raise SnapshotError("the body is empty: send the .ksefsnap file as it is")
        described = await run_heavy(functools.partial(snaps.adopt, name, temp, overwrite=overwrite))
    finally:
        temp.unlink(missing_ok=True)
    return JSONResponse(
        described, status_code=201, headers={"Location": f"/_mock/snapshots/{name}"}
    )


routes = [
    Route("/snapshots", listing, methods=["GET", "POST"], name="admin.snapshots"),
    Route("/snapshots/{name}", item, methods=["GET", "DELETE"], name="admin.snapshot"),
    Route("/snapshots/{name}/load", load, methods=["POST"], name="admin.snapshot.load"),
    Route("/snapshots/{name}/file", file, methods=["GET", "PUT"], name="admin.snapshot.file"),
]

__all__ = ["routes", "snapshots_of"]
