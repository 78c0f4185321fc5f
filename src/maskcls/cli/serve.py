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
        None, "--detector", help="retinaface, mtcnn or haar (default: the run's train.face_detector, retinaface)."),
    watch_config: Optional[Path] = typer.Option(
        None, "--watch-config", help="Tracking and decision settings of the webcam stream (/v1/watch), as for "
                                     "maskcls watch --config."),
) -> None:
    """Serve POST /v1/classify (every face: box, mask, gender, age band, probabilities), the WebSocket /v1/watch
    (webcam frames: people tracked, one decision each), /healthz, /v1/model, the OpenAPI docs at /docs and a page
    at / for uploads and the webcam."""
    import uvicorn

    from maskcls.cli.render import console
    from maskcls.serve.app import create_app
    from maskcls.watch.config import load_watch_config

    app = create_app(model, max_upload_mb=max_upload_mb, detector=detector,
                     watch_config=load_watch_config(watch_config) if watch_config else None)
    info = app.state.service.info
    console.print(f"model {info.name} ({info.engine}, {info.backbone}, crop={info.crop}, detector {info.detector}); "
                  f"page http://{host}:{port}/  docs http://{host}:{port}/docs", highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
