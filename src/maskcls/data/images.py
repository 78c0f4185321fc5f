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
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image or unsupported format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: corrupt image ({exc})") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """Width and height as displayed (EXIF rotation applied), reading only the header."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
