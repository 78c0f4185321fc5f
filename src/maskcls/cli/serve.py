"""``maskcls serve``: the HTTP API and the live page over one model, with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve(
    model: Path = typer.Argument(..., help="Run folder, k-fold run (its folds averaged) or exported model.onnx."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest request body in MiB (413 beyond)."),
    detector: Optional[str] = typer.Option(
        None, "--detector", help="retinaface, mtcnn, haar or retinaface+mtcnn (default: the run's input.face_detector, retinaface)."),
    watch_config: Optional[Path] = typer.Option(
        None, "--watch-config", help="Tracking and decision settings of the webcam stream (/v1/watch), as for "
                                     "maskcls watch --config."),
) -> None:
    """Serve POST /v1/classify (every face: box, mask, gender, age band, probabilities), the WebSocket /v1/watch
    (webcam frames: people tracked, one decision each), /healthz, /v1/model, the OpenAPI docs at /docs and a page
    at / for uploads and the webcam."""
    from maskcls.cli.render import console
    from maskcls.serve.app import create_app
    from maskcls.watch.config import load_watch_config

    app = create_app(model, max_upload_mb=max_upload_mb, detector=detector,
                     watch_config=load_watch_config(watch_config) if watch_config else None)
    sock = listen(host, port)  # a busy port fails here, in one line, before anything says it started
    info = app.state.service.info
    console.print(f"model {info.name} ({info.engine}, {info.backbone}, crop={info.crop}, detector {info.detector}); "
                  f"page http://{host}:{port}/  docs http://{host}:{port}/docs", highlight=False, soft_wrap=True)
    run_server(app, sock)


def listen(host: str, port: int):
    """A socket bound to ``host:port`` and listening, for :func:`run_server`.

    Raises:
        MaskclsError: ``HOST:PORT: address already in use`` (or why else it cannot listen there).
    """
    import socket

    from maskcls.errors import MaskclsError

    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise MaskclsError(f"{host}: cannot listen on this address ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = " (another server? choose another --port)" if exc.errno == 98 else ""
        raise MaskclsError(f"{host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


def run_server(app, sock) -> None:
    """Serve ``app`` with uvicorn on a socket from :func:`listen` until Ctrl-C."""
    import uvicorn

    from maskcls.errors import MaskclsError

    server = uvicorn.Server(uvicorn.Config(app, log_level="info"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started and not server.should_exit:
        raise MaskclsError(f"{sock}: the server could not start (see the log above)")
