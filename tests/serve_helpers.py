"""Helpers of the service tests: tiny servable run folders, image bytes, and a real uvicorn server in a thread."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

from PIL import Image


def make_run(folder: Path, *overrides: str) -> Path:
    """A servable run folder of an untrained ``test_efficientnet`` at 32 px (class18 head)."""
    import torch

    from maskcls.config import dump_config, load_config
    from maskcls.runs import save_checkpoint
    from maskcls.fileio import write_text
    from maskcls.models.classifier import build_classifier

    cfg = load_config(None, [f"name={folder.name}", "model.backbone=test_efficientnet", "model.pretrained=false",
                             "model.img_size=32", "model.head=class18", "train.loggers=[]", *overrides])
    torch.manual_seed(cfg.seed)
    model = build_classifier(cfg.model, tuple(cfg.data.age_thresholds))
    folder.mkdir(parents=True)
    write_text(folder / "config.yaml", dump_config(cfg))
    save_checkpoint(folder / "best.pt", {"model": model.state_dict(), "epoch": 2, "macro_f1": 0.25})
    write_text(folder / "metrics.csv", "epoch,phase,macro_f1,accuracy,mask_f1,gender_f1,age_f1\n"
                                       "1,train,0.2,0.3,0.4,0.5,0.6\n2,train,0.25,0.35,0.45,0.55,0.65\n")
    return folder


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """An image's file bytes in a format (``JPEG``, ``PNG``, ``WEBP``, …)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


class Server:
    """A real uvicorn server on 127.0.0.1 in a thread, on a free port."""

    def __init__(self, app) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def serve(app) -> Iterator[str]:
    """Run ``app`` for the length of a fixture and yield its base URL."""
    with Server(app) as server:
        yield server.url
