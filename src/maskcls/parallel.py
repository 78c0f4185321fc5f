"""Data building on every core: an ordered process pool whose workers load their detector/renderer once.

:func:`pool_map` runs ``setup(*args)`` once in each worker process (its initializer), which returns the function
applied to each item; results come back in the items' order, with progress (:mod:`maskcls.progress`). Workers
are spawned (never forked from a process that may hold torch's threads) and each does its torch, OpenCV and
ONNX Runtime work on one thread, so the output is the same whatever the number of workers: with ``workers=1``
the work runs in this process, on one thread too. ONNX Runtime sessions made with :func:`onnx_session` take
their thread count from :func:`session_threads` (one core each in a worker: two workers that each spun a
thread per core made the face-crop cache slower than one worker).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, Sequence, TypeVar

from maskcls.progress import track

T = TypeVar("T")
R = TypeVar("R")

_WORKER: dict[str, Callable[[Any], Any]] = {}
_one_thread = False  # in a pool worker, or inside one_thread(): ONNX Runtime sessions take one thread


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(workers: int | None) -> int:
    """``workers``, or every core for ``None`` or 0."""
    return cpu_count() if not workers else max(1, int(workers))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch, OpenCV and ONNX Runtime on one thread inside the block (restored after), as pool workers
    always do."""
    import sys

    global _one_thread
    torch = sys.modules.get("torch")
    cv2 = sys.modules.get("cv2")
    saved_torch = torch.get_num_threads() if torch is not None else None
    saved_cv2 = cv2.getNumThreads() if cv2 is not None else None
    _single_thread()
    was, _one_thread = _one_thread, True
    try:
        yield
    finally:
        _one_thread = was
        if torch is not None and saved_torch is not None:
            torch.set_num_threads(saved_torch)
        if cv2 is not None and saved_cv2 is not None:
            cv2.setNumThreads(saved_cv2)


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass


def session_threads() -> int:
    """Intra-op threads for ONNX Runtime work now: 1 in a pool worker or a :func:`one_thread` block, else every
    core."""
    return 1 if _one_thread else cpu_count()


def onnx_session(model: str | os.PathLike | bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation and ``threads`` intra-op threads.

    Args:
        model: an ``.onnx`` path or the model's bytes.
        threads: intra-op threads; default :func:`session_threads`. Operators run one after another
            (sequential mode, one inter-op thread): a CNN's graph is a chain, so parallelism inside operators is
            what pays.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or session_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model if isinstance(model, bytes) else os.fspath(model), options,
                                providers=["CPUExecutionProvider"])


def _initialize(setup: Callable[..., Callable[[Any], Any]], args: tuple) -> None:
    global _one_thread
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _single_thread()
    _one_thread = True
    _WORKER["work"] = setup(*args)


def _run(item: Any) -> Any:
    return _WORKER["work"](item)


def pool_map(setup: Callable[..., Callable[[T], R]], args: tuple, items: Sequence[T], workers: int | None,
             description: str, chunksize: int = 1) -> Iterator[R]:
    """``setup(*args)(item)`` for every item, in order, over ``workers`` processes (None: every core).

    Args:
        setup: a module-level function (it is pickled to the workers) loading what the work needs (a detector,
            a renderer) and returning the per-item function; called once per worker.
        args: its arguments (picklable).
        items: the work, picklable items.
        workers: processes; 1 runs in this process.
        description: the progress bar's text.
        chunksize: items sent to a worker at once (larger for many quick items).
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    count = min(worker_count(workers), max(1, len(items)))
    if count == 1:
        with one_thread():
            work = setup(*args)
            yield from track((work(item) for item in items), description, total=len(items))
        return
    from concurrent.futures.process import BrokenProcessPool

    from maskcls.errors import MaskclsError

    try:
        with ProcessPoolExecutor(count, mp_context=get_context("spawn"), initializer=_initialize,
                                 initargs=(setup, args)) as pool:
            yield from track(pool.map(_run, items, chunksize=chunksize), description, total=len(items))
    except BrokenProcessPool:
        raise MaskclsError(f"{description}: a worker process died (out of memory, killed, or a main script the "
                           "workers cannot re-import, e.g. code read from stdin); try --workers 1") from None
