"""Prepare an image for sending: orient, downscale when very large, encode.

Policy (documented in docs/providers.md):

* Input: PNG, JPEG or WebP (any other format Pillow reads is accepted and sent as PNG).
  At most ``MAX_IMAGE_PIXELS`` pixels: a larger image is refused before it is decoded.
  (Pillow may warn about it first; silencing warnings is not thread-safe and this runs in
  the engine's threads. The plugin's images pass ``images.check_image`` at collection,
  which enforces the same limit without the warning, so they never get here oversized.)
* EXIF orientation is applied first (``ImageOps.exif_transpose``), so the model and the
  scorer both see the image upright; the "original" size is the upright size.
* Downscale: when the longer side exceeds ``max_side`` (default 2048 px) the image is
  resized so that side equals ``max_side``, keeping the aspect ratio, with LANCZOS.
  Images are never upscaled. ``max_side=None`` disables downscaling.
* Encoding: an image needing no change is sent byte-for-byte as read. Otherwise PNG
  stays PNG (lossless, for screenshots and documents), and photos (JPEG, WebP without
  alpha) are re-encoded as JPEG quality 90; anything with transparency becomes PNG.
* Boxes a model returns are in the pixels of the image *sent*; ``ImageInput.scale`` maps
  them back to the original image's pixels (the box parsers do).
"""

from __future__ import annotations

import base64
import io
import os
import re

from PIL import Image, ImageOps, UnidentifiedImageError

from pytest_visionevals.calls import ImageInput

DEFAULT_MAX_SIDE = 2048
JPEG_QUALITY = 90
# Pillow's default decompression-bomb threshold (about 89.5 megapixels, ~270 MB decoded as
# RGB), written out so that neither a Pillow upgrade nor another library resetting
# ``Image.MAX_IMAGE_PIXELS`` moves it. A larger image is refused before it is decoded.
MAX_IMAGE_PIXELS = 89_478_485
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


class ImageError(ValueError):
    """An image that cannot be used (resolved, read, decoded or sent); the message names it
    as written and, for a path, as resolved."""


def pixel_limit_problem(width: int, height: int) -> str | None:
    """Why an image of this size is refused, or None when it is within the limit."""
    if width * height <= MAX_IMAGE_PIXELS:
        return None
    return (
        f"is {width}x{height} = {width * height:,} pixels, over the pixel limit of "
        f"{MAX_IMAGE_PIXELS:,} (a decompression bomb?); scale it down"
    )


def bomb_problem(exc: Exception) -> str:
    """The message for Pillow's own refusal: ``Image.open`` raises it past twice Pillow's
    limit (and warns past it, an error under ``-W error``), before we see the size."""
    found = re.search(r"\((\d+) pixels\)", str(exc))  # "Image size (400000000 pixels) ..."
    size = f"{int(found.group(1)):,} pixels, " if found else ""
    return (
        f"is {size}over the pixel limit of {MAX_IMAGE_PIXELS:,} (a decompression bomb?); "
        "scale it down"
    )


def prepare_image(
    path_or_bytes: str | os.PathLike[str] | bytes,
    source: str | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> ImageInput:
    """Read, orient, downscale and encode one image (see the module docstring)."""
    if isinstance(path_or_bytes, bytes):
        raw = path_or_bytes
        label = source or "<bytes>"
    else:
        label = source or os.fspath(path_or_bytes)
        try:
            with open(path_or_bytes, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ImageError(f"{label}: cannot read image: {exc.strerror or exc}") from None
    if max_side is not None and max_side < 1:
        raise ImageError(f"{label}: max_side must be a positive number of pixels")
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            fmt = (opened.format or "").upper()
            too_big = pixel_limit_problem(*opened.size)
            if too_big:
                raise ImageError(f"{label}: image {too_big}")
            opened.load()
            rotated = _orientation(opened) not in (None, 1)
            upright = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}: image {bomb_problem(exc)}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(f"{label}: not a readable image ({exc})") from None

    orig_w, orig_h = upright.size
    target = _target_size(orig_w, orig_h, max_side)
    resized = target != (orig_w, orig_h)
    if not rotated and not resized and fmt in _MIME:
        return ImageInput(raw, _MIME[fmt], orig_w, orig_h, orig_w, orig_h, label)

    img = upright.resize(target, Image.Resampling.LANCZOS) if resized else upright
    data, mime = _encode(img, fmt)
    return ImageInput(data, mime, img.width, img.height, orig_w, orig_h, label)


def _orientation(img: Image.Image) -> int | None:
    value = img.getexif().get(0x0112)  # EXIF Orientation
    return int(value) if isinstance(value, int) else None


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    longer = max(width, height)
    if max_side is None or longer <= max_side:
        return width, height
    factor = max_side / longer
    return max(1, round(width * factor)), max(1, round(height * factor))


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _encode(img: Image.Image, fmt: str) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if fmt in ("JPEG", "WEBP") and not _has_alpha(img):
        img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return buf.getvalue(), "image/jpeg"
    if img.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue(), "image/png"


def to_data_url(image: ImageInput) -> str:
    """``data:<mime>;base64,...`` as both OpenAI APIs accept for images."""
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"
