"""Resolve and validate the images a case names: local paths or http(s) URLs.

Local paths are relative to the eval file. URLs are fetched once (a timeout per network
operation, a deadline for the whole download, a size cap) into an on-disk cache keyed by
the URL's sha256, so re-runs and xdist workers do not refetch. Every image is decoded once
per process at collection so a broken file is a collection error, not a mid-run surprise;
an image over ``imageprep.MAX_IMAGE_PIXELS`` is refused before it is decoded. Dataset rows
are the exception (:class:`LazyImage`): ten thousand rows must collect in seconds, so their
images are only checked to exist, and are read (downloaded, or taken from the data file)
when the request is built; a broken one is an error outcome of that item.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from pytest_visionevals.imageprep import ImageError, bomb_problem, pixel_limit_problem

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DEFAULT_URL_TIMEOUT_S = 20.0  # each connect / read
DEFAULT_URL_DEADLINE_S = 60.0  # the whole download, however slowly the bytes arrive
DEFAULT_URL_MAX_BYTES = 20 * 1024 * 1024
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


@dataclass(frozen=True)
class ResolvedImage:
    source: str  # as written in the eval file
    path: Path  # local file (the cached download for URLs)
    width: int
    height: int
    format: str


@dataclass(eq=False)
class LazyImage:
    """An image of a dataset row: a local file known to exist, a URL, or bytes from the data
    file. Not decoded at collection; ``path`` gives a local file on first use (the URL
    download cache, or for bytes a content-addressed file under ``<work dir>/images``, so
    reports can show it and equal images are stored once)."""

    source: str  # as shown in messages: the path or URL as written, or "<data> row N ..."
    work_dir: Path
    file: Path | None = None
    url: str | None = None
    blob: Callable[[], bytes] | None = None
    _path: Path | None = field(default=None, init=False, repr=False)

    @property
    def path(self) -> Path:
        # Unlocked on purpose: two threads materialising the same image write the same
        # content-addressed file atomically, and a lock would serialise URL downloads.
        if self._path is None:
            if self.file is not None:
                self._path = self.file
            elif self.url is not None:
                self._path = fetch_url(
                    self.url,
                    self.work_dir,
                    timeout_s=DEFAULT_URL_TIMEOUT_S,
                    max_bytes=DEFAULT_URL_MAX_BYTES,
                    deadline_s=DEFAULT_URL_DEADLINE_S,
                )
            else:
                assert self.blob is not None
                try:
                    data = self.blob()
                except (OSError, ValueError) as exc:
                    raise ImageError(f"image {self.source} cannot be read: {exc}") from None
                self._path = store_bytes(data, self.work_dir)
        return self._path


def shown_path(image: ResolvedImage | LazyImage) -> str:
    """How results record an image: its URL, or its local file (posix)."""
    if is_url(image.source):
        return image.source
    try:
        return image.path.as_posix()
    except ImageError:  # recorded as written; the item's request reports the problem
        return image.source


_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


def store_bytes(data: bytes, cache_dir: Path) -> Path:
    """Keep image bytes as ``<cache_dir>/images/sha256-<hex><ext>`` (atomic, written once);
    the extension lets reports name the image type."""
    ext = next((e for magic, e in _MAGIC if data.startswith(magic)), "")
    if not ext and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        ext = ".webp"
    target = cache_dir / "images" / f"sha256-{hashlib.sha256(data).hexdigest()}{ext}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    return target


_checked: dict[tuple[str, float, int], ResolvedImage] = {}
# (eval file directory, reference) -> absolute path: thousands of cases share a handful
# of images, and Path.resolve() costs ~45 us of syscalls each time.
_local_paths: dict[tuple[Path, str], Path] = {}


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def resolve_image(
    ref: str,
    base_dir: Path,
    cache_dir: Path,
    *,
    timeout_s: float | None = None,
    max_bytes: int | None = None,
    deadline_s: float | None = None,
) -> ResolvedImage:
    if is_url(ref):
        path = fetch_url(
            ref,
            cache_dir,
            timeout_s=DEFAULT_URL_TIMEOUT_S if timeout_s is None else timeout_s,
            max_bytes=DEFAULT_URL_MAX_BYTES if max_bytes is None else max_bytes,
            deadline_s=DEFAULT_URL_DEADLINE_S if deadline_s is None else deadline_s,
        )
    else:
        known = _local_paths.get((base_dir, ref))
        if known is None:
            known = (base_dir / ref).resolve()
            if not known.is_file():
                why = (
                    "is a directory"
                    if known.is_dir()
                    else "is not a regular file"  # a device or FIFO: reading could block
                    if known.exists()
                    else "does not exist"
                )
                raise ImageError(f"image {ref!r} (resolved to {known}) {why}")
            _local_paths[base_dir, ref] = known
        path = known
    return check_image(ref, path)


def check_image(ref: str, path: Path) -> ResolvedImage:
    try:
        st = path.stat()
    except OSError as exc:
        raise ImageError(f"image {ref!r} (resolved to {path}) is unreadable: {exc}") from None
    key = (str(path), st.st_mtime, st.st_size)
    hit = _checked.get(key)
    if hit is not None:
        return ResolvedImage(ref, hit.path, hit.width, hit.height, hit.format)
    where = f"image {ref!r} (resolved to {path})"
    try:
        # Our pixel limit below says what is wrong; Pillow's bomb warning would only be
        # noise, or under ``-W error`` an exception. (Collection runs in the main thread.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format or "?"
                width, height = im.size
                too_big = pixel_limit_problem(width, height)
                if too_big:
                    raise ImageError(f"{where} {too_big}")
                im.load()  # a full decode: truncated files fail here, not mid-run
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{where} {bomb_problem(exc)}") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{where} is not a decodable image (supported: {', '.join(SUPPORTED_FORMATS)})"
        ) from None
    except ImageError:
        raise
    except Exception as exc:  # OSError, SyntaxError, EOFError, ...: decoders raise anything
        raise ImageError(f"{where} cannot be decoded: {exc}") from None
    if fmt not in SUPPORTED_FORMATS:
        raise ImageError(
            f"image {ref!r} (resolved to {path}) has unsupported format {fmt}; "
            f"supported: {', '.join(SUPPORTED_FORMATS)}"
        )
    resolved = ResolvedImage(ref, path, width, height, fmt)
    _checked[key] = resolved
    return resolved


class _Deadline:
    """Cuts the connection when a download outlives its deadline, in whatever phase it is
    blocked: a server can drip headers or body one byte at a time, each read well within
    the per-read timeout. Shutting the socket down wakes the blocked read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx2's ``trace`` extension: note every socket the request connects."""
        stream = info.get("return_value") if event.endswith(".complete") else None
        get_info = getattr(stream, "get_extra_info", None)
        sock = get_info("socket") if get_info is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                if self.expired:
                    _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def fetch_url(
    url: str,
    cache_dir: Path,
    *,
    timeout_s: float,
    max_bytes: int,
    deadline_s: float = DEFAULT_URL_DEADLINE_S,
) -> Path:
    """Download ``url`` once into ``cache_dir`` (atomic write); return the local path.

    ``timeout_s`` bounds each connect and read, ``deadline_s`` the whole download."""
    import httpx2  # the SDKs' own HTTP client; imported lazily to keep collection light

    target = cache_dir / "images" / hashlib.sha256(url.encode()).hexdigest()
    if target.is_file():
        return target
    chunks: list[bytes] = []
    size = 0
    too_slow = ImageError(
        f"image URL {url!r} took more than {deadline_s:g} s to download "
        "(a server sending too slowly?)"
    )
    try:
        with (
            _Deadline(deadline_s) as deadline,
            httpx2.Client(timeout=timeout_s, follow_redirects=True) as client,
            client.stream("GET", url, extensions={"trace": deadline.trace}) as resp,
        ):
            if resp.status_code != 200:
                raise ImageError(f"image URL {url!r} returned HTTP {resp.status_code}")
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ImageError(
                    f"image URL {url!r} is {int(declared)} bytes, over the {max_bytes}-byte cap"
                )
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ImageError(f"image URL {url!r} exceeds the {max_bytes}-byte cap")
                if deadline.expired:
                    raise too_slow
                chunks.append(chunk)
            if deadline.expired:  # the cut may read as a clean end of a body of no length
                raise too_slow
    except httpx2.HTTPError as exc:
        if deadline.expired:  # the cut shows as a timeout, a reset or a truncated body
            raise too_slow from None
        if isinstance(exc, httpx2.TimeoutException):
            raise ImageError(f"image URL {url!r} timed out after {timeout_s:g} s") from None
        raise ImageError(f"image URL {url!r} failed: {type(exc).__name__}: {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(chunks))
    os.replace(tmp, target)
    return target
