"""Image preparation: EXIF orientation, downscale policy, encodings, box mapping."""

from __future__ import annotations

import base64
import io
import warnings
from typing import TYPE_CHECKING, Literal

import pytest
from malformed_corpus import png_of_zeros
from PIL import Image

from pytest_visionevals import images
from pytest_visionevals.imageprep import (
    DEFAULT_MAX_SIDE,
    MAX_IMAGE_PIXELS,
    ImageError,
    prepare_image,
    to_data_url,
)

if TYPE_CHECKING:
    from pathlib import Path


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rotated_jpeg() -> bytes:
    """A 300x100 (w x h) stored image with EXIF Orientation=6 (rotate 90 CW to view).

    The left third is red in storage; upright it must be the top third, and the
    upright size is 100 x 300.
    """
    img = Image.new("RGB", (300, 100), "blue")
    img.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", exif=exif, quality=95)


def test_exif_orientation_is_applied() -> None:
    out = prepare_image(rotated_jpeg(), source="phone.jpg")
    assert (out.orig_width, out.orig_height) == (100, 300)
    assert (out.width, out.height) == (100, 300)
    assert out.mime_type == "image/jpeg"
    assert out.source == "phone.jpg"
    sent = Image.open(io.BytesIO(out.data))
    assert sent.size == (100, 300)
    assert sent.getexif().get(0x0112) in (None, 1)  # no double rotation downstream
    top = sent.convert("RGB").getpixel((50, 20))
    bottom = sent.convert("RGB").getpixel((50, 280))
    assert top is not None
    assert bottom is not None
    # The red band must be on top once upright, blue below.
    assert top[0] > 200  # type: ignore[index]
    assert top[2] < 60  # type: ignore[index]
    assert bottom[2] > 200  # type: ignore[index]
    assert bottom[0] < 60  # type: ignore[index]


def test_small_png_is_sent_byte_for_byte(tmp_path: Path) -> None:
    raw = encode(Image.new("RGB", (64, 48), "white"), "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(raw)
    out = prepare_image(path)
    assert out.data == raw
    assert (out.mime_type, out.width, out.height, out.scale) == ("image/png", 64, 48, (1.0, 1.0))
    assert out.source == str(path)


def test_large_png_is_downscaled_keeping_aspect_and_format() -> None:
    raw = encode(Image.new("RGB", (4096, 1024), "white"), "PNG")
    out = prepare_image(raw, source="wide.png")
    assert (out.width, out.height) == (DEFAULT_MAX_SIDE, 512)
    assert (out.orig_width, out.orig_height) == (4096, 1024)
    assert out.mime_type == "image/png"
    assert out.scale == (2.0, 2.0)
    assert Image.open(io.BytesIO(out.data)).size == (2048, 512)


def test_large_jpeg_is_reencoded_as_jpeg() -> None:
    raw = encode(Image.new("RGB", (3000, 2000), "green"), "JPEG")
    out = prepare_image(raw, source="p.jpg", max_side=1500)
    assert (out.width, out.height) == (1500, 1000)
    assert out.mime_type == "image/jpeg"
    assert Image.open(io.BytesIO(out.data)).format == "JPEG"


def test_never_upscales_and_none_disables() -> None:
    raw = encode(Image.new("RGB", (100, 50)), "PNG")
    assert prepare_image(raw, max_side=4000).width == 100
    big = encode(Image.new("RGB", (3000, 10)), "PNG")
    assert prepare_image(big, max_side=None).width == 3000


def test_webp_in() -> None:
    raw = encode(Image.new("RGB", (40, 30), "red"), "WEBP")
    out = prepare_image(raw, source="x.webp")
    assert out.mime_type == "image/webp"
    assert out.data == raw
    resized = prepare_image(raw, source="x.webp", max_side=20)
    assert (resized.mime_type, resized.width, resized.height) == ("image/jpeg", 20, 15)


def test_webp_with_alpha_resized_becomes_png() -> None:
    raw = encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "WEBP", lossless=True)
    out = prepare_image(raw, max_side=10)
    assert out.mime_type == "image/png"
    assert Image.open(io.BytesIO(out.data)).mode == "RGBA"


def test_other_formats_become_png() -> None:
    raw = encode(Image.new("RGB", (10, 10)), "BMP")
    out = prepare_image(raw, source="x.bmp")
    assert out.mime_type == "image/png"


def test_bad_input_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"broken\.png: not a readable image"):
        prepare_image(b"not an image", source="broken.png")
    with pytest.raises(ImageError, match=r"missing\.png: cannot read image"):
        prepare_image(tmp_path / "missing.png")


# Over Pillow's warning threshold (100 Mpx) and over twice it (its error, 400 Mpx), with
# warnings as warnings and as errors (-W error): always our error with the size, never
# Pillow's DecompressionBombWarning / DecompressionBombError.
@pytest.mark.parametrize("side", [10_000, 20_000])
@pytest.mark.parametrize("warnings_as", ["default", "error"])
def test_decompression_bomb_is_refused_before_decoding(
    tmp_path: Path, side: int, warnings_as: Literal["default", "error"]
) -> None:
    assert side * side > MAX_IMAGE_PIXELS
    data = png_of_zeros(side, side)
    (tmp_path / "bomb.png").write_bytes(data)
    size = rf"{side * side:,} pixels, over the pixel limit of {MAX_IMAGE_PIXELS:,}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter(warnings_as)
        with pytest.raises(ImageError, match=rf"^bomb\.png: image is .*{size}"):
            prepare_image(data, source="bomb.png")
        caught.clear()  # prepare_image may let Pillow warn (see its docstring); collection not:
        with pytest.raises(images.ImageError, match=rf"^image 'bomb\.png' .* is .*{size}"):
            images.check_image("bomb.png", tmp_path / "bomb.png")
        assert not caught


def test_images_up_to_the_pixel_limit_are_read(tmp_path: Path) -> None:
    (tmp_path / "tall.png").write_bytes(png_of_zeros(8, MAX_IMAGE_PIXELS // 8))
    assert images.check_image("tall.png", tmp_path / "tall.png").height == MAX_IMAGE_PIXELS // 8


def test_box_mapping_back_to_original() -> None:
    raw = encode(Image.new("RGB", (4000, 3000)), "JPEG")
    out = prepare_image(raw, max_side=1000)
    assert (out.width, out.height) == (1000, 750)
    # The box parsers map sent-image pixels back with these factors.
    assert out.scale == (4.0, 4.0)


def test_data_url() -> None:
    raw = encode(Image.new("RGB", (2, 2)), "PNG")
    url = to_data_url(prepare_image(raw))
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == raw
