"""Loading MediaPipe's legacy solutions, an optional extra that the core of maskcls never needs.

``mediapipe==0.10.21`` carries its models (selfie segmentation, face mesh) inside the wheel, so nothing is
downloaded. Its declared requirements (``numpy<2``, ``protobuf<5``, jax, …) clash with the rest of the
environment, so it is installed without them (``make install`` does it)::

    pip install --no-deps mediapipe==0.10.21 && pip install 'maskcls[mediapipe]'

The legacy solutions used here run on numpy 2 and on the protobuf that onnx and tensorboard need (6.31 and
later); see :mod:`maskcls.faces.mesh` for the one call that protobuf 7 forbids and how it is avoided.
"""

from __future__ import annotations

import contextlib
import io
import threading
from types import ModuleType

from maskcls.errors import MaskclsError

#: The version the background and face-mesh code was measured with.
MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = f"pip install --no-deps mediapipe=={MEDIAPIPE_VERSION} && pip install 'maskcls[mediapipe]'"
_IMPORT_LOCK = threading.Lock()


def mediapipe_available() -> bool:
    """Whether MediaPipe's legacy solutions can be imported here."""
    try:
        require_mediapipe("mediapipe")
    except MaskclsError:
        return False
    return True


def require_mediapipe(purpose: str) -> ModuleType:
    """The ``mediapipe`` module, imported once.

    Args:
        purpose: what needs it, for the error message (e.g. ``input.background=remove``).

    Raises:
        MaskclsError: naming the missing package and the command that installs it.
    """
    with _IMPORT_LOCK:
        try:
            # Its bindings print a harmless AttributeError from newer protobufs at import; keep it off the screen.
            with contextlib.redirect_stderr(io.StringIO()):
                import mediapipe
                from mediapipe.python import solution_base  # noqa: F401 - the legacy solutions must be there
        except ImportError as exc:
            raise MaskclsError(f"{purpose}: needs the optional package mediapipe=={MEDIAPIPE_VERSION} ({exc}); "
                               f"install it with: {INSTALL_HINT}") from None
    return mediapipe
