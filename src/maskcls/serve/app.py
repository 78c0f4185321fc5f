"""The HTTP API and the live page of ``maskcls serve``.

``create_app`` loads the model and the face detector once, before the app exists, and every request shares
them: requests are decoded and detected concurrently in the server's thread pool, and the model calls are
serialised by one lock (a model call already uses every core, so running two at once would only make both slower).

At most as many photos as there are cores are decoded and detected at a time (more would not go faster, and
each holds a decoded photo in memory); other requests wait their turn with only their bytes.

Routes: ``POST /v1/classify`` (an image as a multipart ``file`` part or as the raw body → every face with its box
and prediction), the WebSocket ``/v1/watch`` (webcam frames → people tracked across frames, one decision each: see
:mod:`maskcls.serve.stream`), ``GET /healthz``, ``GET /v1/model``, the OpenAPI schema at ``/openapi.json`` with its docs at
``/docs``, and the page at ``/`` (upload or webcam, boxes and labels in Korean and English).

Errors answer ``{"detail": "<one line>"}``: 413 for a body over the cap (or a photo of too many pixels), 415 for
bytes that are no JPEG, PNG or WebP image, 422 for an empty body, a corrupt image or a multipart body without a
file part. A photo without a face is no error: its list of faces is empty.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from maskcls import __version__
from maskcls.errors import MaskclsError
from maskcls.serve.classify import CorruptImage, PhotoTooLarge, UnsupportedImage, classify_bytes
from maskcls.serve.schemas import ClassifyResponse, ErrorResponse, Health, ModelInfo

if TYPE_CHECKING:
    from maskcls.watch.config import WatchConfig

PAGES = Path(__file__).with_name("pages")
#: MIME types of a raw-body upload documented in the OpenAPI schema (the bytes decide, not the header).
RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")


class BadUpload(MaskclsError):
    """A request body that carries no image: a multipart body without a file part, or a malformed one (HTTP 422)."""


#: HTTP status of each expected error.
STATUS = {PhotoTooLarge: 413, UnsupportedImage: 415, CorruptImage: 422, BadUpload: 422}


class Service:
    """What every request shares: the engine, the detector, the lock around model calls, the slots of photos
    worked on at once and the upload cap.

    Attributes:
        engine: the inference engine (:func:`maskcls.serve.model.load_model`).
        detector: the face detector.
        info: what ``/v1/model`` answers.
        max_bytes: the largest request body accepted.
    """

    def __init__(self, engine, detector, info: ModelInfo, max_bytes: int) -> None:
        self.engine, self.detector, self.info, self.max_bytes = engine, detector, info, max_bytes
        self.bands = engine.cfg.data.bands()
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

    @classmethod
    def load(cls, model_path: str | Path, detector: str | None = None, max_upload_mb: float = 10) -> "Service":
        """Load the model and the detector (the run's own unless ``detector`` names one) and warm both up.

        Raises:
            MaskclsError: for a path that is no model, an unknown detector, or a cap that is not positive.
        """
        import numpy as np

        from maskcls.faces.detect import create_detector
        from maskcls.inference.contract import cache_spec
        from maskcls.serve.model import load_model, model_metrics
        from maskcls.serve.schemas import class_infos

        if not max_upload_mb > 0:
            raise MaskclsError(f"--max-upload-mb {max_upload_mb}: must be positive")
        engine = load_model(model_path)
        spec = cache_spec(engine)
        face_detector = create_detector(detector or spec.face_detector)
        face_detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # the first call builds the detector's session
        engine.probs(np.zeros((1, *spec.shape), dtype=np.uint8))
        cfg, bands = engine.cfg, engine.cfg.data.bands()
        info = ModelInfo(
            name=engine.name, path=str(model_path), engine="onnx" if Path(model_path).suffix == ".onnx" else "torch",
            members=len(getattr(engine, "members", [engine])), backbone=cfg.model.backbone, head=cfg.model.head,
            input_size=list(spec.size), crop=spec.crop, face_margin=spec.face_margin, detector=face_detector.name,
            age_thresholds=list(cfg.data.age_thresholds), age_bands=list(bands.names()), classes=class_infos(bands),
            metrics=model_metrics(model_path), max_upload_bytes=round(max_upload_mb * 1024 * 1024))
        return cls(engine, face_detector, info, info.max_upload_bytes)

    def classify(self, data: bytes, name: str = "upload") -> ClassifyResponse:
        """The response to one photo (runs in a worker thread)."""
        from maskcls.serve.schemas import face_out

        with self.slots:
            started = time.perf_counter()
            photo, faces = classify_bytes(data, self.engine, self.detector, self.lock, name)
        width, height = photo.size
        return ClassifyResponse(model=self.engine.name, width=width, height=height, format=photo.format,
                                faces=[face_out(face, self.bands) for face in faces],
                                milliseconds=round(1000 * (time.perf_counter() - started), 2))


def page_app(title: str, description: str, page: str, status: dict[type, int]) -> FastAPI:
    """An app serving ``pages/`` under ``/static`` and ``page`` at ``/``, with offline docs, whose
    :class:`MaskclsError` answers are ``{"detail": message}`` with the status of the error's type in ``status``
    (400 for others)."""
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None, description=description)
    app.mount("/static", StaticFiles(directory=PAGES), name="static")
    add_offline_docs(app)

    @app.exception_handler(MaskclsError)
    async def expected_error(_request: Request, exc: MaskclsError) -> JSONResponse:
        code = next((code for kind, code in status.items() if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(ClientDisconnect)
    async def gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # The client left mid-upload: nobody reads an answer, and it is no server error worth a traceback.
        return Response(status_code=400)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(PAGES / page)

    return app


def add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the assets of the installed ``swagger-ui-bundle``: FastAPI's default page
    loads them from a CDN and stays blank on an offline machine."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/swagger", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> object:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                                   swagger_js_url="/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/swagger/swagger-ui.css", swagger_favicon_url="data:,")


def create_app(model_path: str | Path, *, max_upload_mb: float = 10, detector: str | None = None,
               watch_config: "WatchConfig | None" = None) -> FastAPI:
    """The app of ``maskcls serve``, with the model and detector already loaded.

    Args:
        model_path: a run folder, a k-fold run (its folds averaged) or an exported ``.onnx`` file.
        max_upload_mb: largest request body, in MiB (answered with 413 beyond it).
        detector: face detector (``retinaface``, ``mtcnn``, ``haar`` or ``retinaface+mtcnn`` (MTCNN only where RetinaFace finds no face)); default the one the run was trained with
            (``input.face_detector``, retinaface unless changed), so ``crop=face`` runs get the crops they know.
        watch_config: tracking and decision settings of ``/v1/watch`` (default :class:`WatchConfig`'s).

    Raises:
        MaskclsError: as :meth:`Service.load`.
    """
    service = Service.load(model_path, detector, max_upload_mb)
    app = page_app("maskcls", "Mask status × gender × age band of every face in a photo.", "index.html", STATUS)
    app.state.service = service

    @app.get("/healthz", response_model=Health, summary="The service is up with its model loaded")
    def healthz() -> Health:
        return Health(status="ok", model=service.engine.name)

    @app.get("/v1/model", response_model=ModelInfo, summary="The loaded model: run, backbone, classes, metrics")
    def model() -> ModelInfo:
        return service.info

    @app.post(
        "/v1/classify", response_model=ClassifyResponse, summary="Every face of a photo with its prediction",
        description=f"Send a JPEG, PNG or WebP photo as a multipart `file` part or as the raw body (up to "
                    f"{service.max_bytes:,} bytes). A photo without a face answers an empty `faces` list.",
        responses={413: {"model": ErrorResponse, "description": "body over the size cap, or too many pixels"},
                   415: {"model": ErrorResponse, "description": "not a JPEG, PNG or WebP image"},
                   422: {"model": ErrorResponse, "description": "empty body, corrupt image, or no file part"}},
        openapi_extra={"requestBody": _request_body()})
    async def classify(request: Request) -> ClassifyResponse:
        data, name = await read_upload(request, service.max_bytes)
        return await run_in_threadpool(service.classify, data, name)

    from maskcls.watch.config import WatchConfig

    stream_cfg = watch_config or WatchConfig()

    @app.websocket("/v1/watch")
    async def watch(socket: WebSocket) -> None:
        from maskcls.serve.stream import StreamSession

        await socket.accept()
        session = StreamSession(service, stream_cfg)
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is None:
                    await socket.send_json({"frame": session.index, "error": "send each frame as a binary message "
                                                                             "(a JPEG, PNG or WebP image)"})
                    continue
                await socket.send_json(await run_in_threadpool(session.frame, message["bytes"]))
        except WebSocketDisconnect:
            return

    return app


def _request_body() -> dict:
    binary = {"type": "string", "format": "binary"}
    content = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                  "properties": {"file": binary}}}}
    content.update({kind: {"schema": binary} for kind in RAW_TYPES})
    return {"required": True, "content": content}


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The image bytes of a request and a name for messages: its multipart ``file`` part, or its raw body.

    The body is read in chunks and refused as soon as it passes ``limit`` bytes (at once when its
    ``Content-Length`` says so), so an oversized upload is never held in memory.

    Raises:
        PhotoTooLarge: over the cap.
        BadUpload: a malformed multipart body, or one without a file part.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PhotoTooLarge(f"upload: {int(declared):,} bytes is over the limit of {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PhotoTooLarge(f"upload: the body is over the limit of {limit:,} bytes")
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await _file_part(request, bytes(body), limit)
    return bytes(body), "upload"


async def _file_part(request: Request, body: bytes, limit: int) -> tuple[bytes, str]:
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream():
        yield body
        yield b""

    parser = MultiPartParser(request.headers, stream(), max_files=4, max_fields=16, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadUpload(f"upload: malformed multipart body ({exc})") from None
    try:
        files = [value for key, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            raise BadUpload("upload: the multipart body has no file part (send the image as the 'file' field)")
        chosen = next((f for key, f in form.multi_items() if key == "file" and isinstance(f, UploadFile)), files[0])
        return await chosen.read(), Path(chosen.filename or "upload").name[:120]
    finally:
        await form.close()
