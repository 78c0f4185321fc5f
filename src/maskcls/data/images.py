"""Reading photos: every mode and orientation real archives hold becomes an upright RGB image."""

from __future__ import annotations

from pathlib import Path

from maskcls.errors import MaskclsError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageReadError(MaskclsError):
    """A photo that cannot be read; the message names the file and the reason."""


def is_image_name(name: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> bool:
    """Whether a file name has an image extension (any case)."""
    return Path(name).suffix.lower() in extensions


def is_hidden(name: str) -> bool:
    """Dot files and macOS ``._*`` resource forks, which archives carry and nobody means as data."""
    return name.startswith(".")


def not_a_photo_file(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a photo file, without opening it: a broken or looping symbolic link, a
    folder, a FIFO, socket or device, an unreadable or zero-byte file; ``None`` for a plain non-empty file."""
    import os
    import stat as st

    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"broken symbolic link (to {os.readlink(path)})"
        return "file not found"
    except OSError as exc:  # ELOOP, EACCES on a parent …
        if path.is_symlink() and exc.errno == 40:
            return "symbolic link loop"
        return exc.strerror or str(exc)
    if st.S_ISDIR(info.st_mode):
        return "a folder, not a file"
    if not st.S_ISREG(info.st_mode):
        kind = "FIFO" if st.S_ISFIFO(info.st_mode) else "socket" if st.S_ISSOCK(info.st_mode) else "device"
        return f"not a regular file (a {kind})"
    if info.st_size == 0:
        return "zero-byte file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def to_rgb(image):
    """Convert a PIL image of any mode to RGB; transparency is flattened onto white."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit and float greyscale: scale to 8 bits rather than clipping.
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        top = arr.max() or 1.0
        image = Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def load_rgb(path: str | Path):
    """Open a photo fully decoded, EXIF rotation applied, as RGB.

    Raises:
        ImageReadError: if the file is missing, empty, truncated or not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    reason = not_a_photo_file(path)
    if reason is not None:
        raise ImageReadError(f"{path}: {'empty file (0 bytes)' if reason == 'zero-byte file' else reason}")
    quiet_bomb_warnings()
    try:
        with Image.open(path) as image:
            check_pixels(path, image.size)
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image or unsupported format") from None
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise ImageReadError(f"{path}: too large to decode safely (over {limit:.0f} MP; a decompression bomb?)") from None
    except MemoryError:
        raise ImageReadError(f"{path}: too large to decode in the memory available") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{path}: corrupt image ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on hostile files (EXIF, struct …)
        raise ImageReadError(f"{path}: corrupt image ({type(exc).__name__}: {exc})") from None


def quiet_bomb_warnings() -> None:
    """Silence Pillow's raw ``DecompressionBombWarning`` (process-wide): :func:`check_pixels` says the same,
    naming the photo."""
    import warnings

    from PIL import Image

    if not any(f[0] == "ignore" and f[2] is Image.DecompressionBombWarning for f in warnings.filters):
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def check_pixels(path: str | Path, size: tuple[int, int]) -> None:
    """Refuse photos past Pillow's bomb limit and name the large ones it would only warn of, before decoding.

    Raises:
        ImageReadError: for more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` pixels.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    pixels = size[0] * size[1]
    if limit and pixels > 2 * limit:
        raise ImageReadError(f"{path}: {size[0]}x{size[1]} photo ({pixels / 1e6:.0f} MP) is too large to decode "
                             f"safely (limit {2 * limit / 1e6:.0f} MP; a decompression bomb?)")
    if limit and pixels > limit:
        _warn(path, f"very large photo ({size[0]}x{size[1]}, {pixels / 1e6:.0f} MP): decoding it needs a lot of memory")


_WARNED: set[tuple[str, str]] = set()


def _warn(path: str | Path, message: str) -> None:
    """One line on stderr naming the photo, once per photo and message."""
    import sys

    if (str(path), message) not in _WARNED:
        _WARNED.add((str(path), message))
        print(f"maskcls: warning: {path}: {message}", file=sys.stderr, flush=True)


def image_size(path: str | Path) -> tuple[int, int]:
    """Width and height as displayed (EXIF rotation applied), reading only the header."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
