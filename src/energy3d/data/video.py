"""Images and videos as streams of RGB frames: one photo, a folder of frames, or a video file.

Videos are decoded with PyAV (FFmpeg's libraries, bundled in its wheels: MP4/H.264, AVI/MJPEG,
MOV, MKV, WebM ...; ``pip install 'energy3d[detect]'``), one frame at a time, so memory does not grow
with the video's length. Photos and frame folders are read with Pillow. Frames are ``(H, W, 3)``
uint8 RGB arrays, pixels x right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from energy3d.data.images import load_rgb
from energy3d.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "FrameSource", "open_frames", "media_kind"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")
DEFAULT_FOLDER_FPS = 30.0
"""Frame rate assumed for a folder of frames (``--fps`` overrides)."""


def media_kind(path: str | Path) -> str | None:
    """``"image"``, ``"video"``, ``"frames"`` (a folder holding images) or ``None`` (not media: keypoints)."""
    p = Path(path)
    if p.is_dir():
        return "frames" if any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()) else None
    s = p.suffix.lower()
    return "image" if s in IMAGE_SUFFIXES else "video" if s in VIDEO_SUFFIXES else None


@dataclass
class FrameSource:
    """A stream of frames.

    Attributes:
        path: the photo, folder or video.
        kind: ``"image"``, ``"frames"`` or ``"video"``.
        fps: frames per second (``None`` for one photo).
        count: number of frames if known in advance (a video's container may not say), else ``None``.
        names: frame names (file names for images; ``"frame_000123"`` for video frames) — filled as read.
    """

    path: Path
    kind: str
    fps: float | None
    count: int | None

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(name, rgb (H, W, 3) uint8)`` frame by frame."""
        if self.kind == "image":
            yield self.path.stem, load_rgb(self.path)
        elif self.kind == "frames":
            for f in _frame_files(self.path):
                yield f.stem, load_rgb(f)
        else:
            yield from _decode_video(self.path)


def _frame_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)


def _import_av():
    try:
        import av
    except ImportError:
        raise InputError("reading videos needs PyAV: pip install 'energy3d[detect]' (or pip install av)") from None
    return av


def _decode_video(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    av = _import_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable video ({type(e).__name__}: {e})") from None
    n = 0
    try:
        if not container.streams.video:
            raise InputError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield f"frame_{n:06d}", frame.to_ndarray(format="rgb24")
                n += 1
        except av.FFmpegError as e:
            if n == 0:
                raise InputError(f"{path}: no decodable frames ({type(e).__name__}: {e})") from None
            # a damaged tail: keep what was decoded (the caller sees fewer frames than the container said)
    finally:
        container.close()
    if n == 0:
        raise InputError(f"{path}: the video has no decodable frames")


def open_frames(path: str | Path, *, fps: float | None = None) -> FrameSource:
    """Open a photo, a folder of frames or a video file as a :class:`FrameSource`.

    Args:
        path: ``.jpg``/``.png``/... photo, a folder of such frames (sorted by name), or a video file.
        fps: frame rate to assume (folders: default :data:`DEFAULT_FOLDER_FPS`; videos: the stream's).

    Raises:
        InputError: missing or empty path, an unknown file type, a video without a video stream or
            without decodable frames (when iterated), a missing PyAV.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    kind = media_kind(p)
    if kind is None:
        raise InputError(f"{p}: not an image, a folder of images or a video "
                         f"(images: {', '.join(IMAGE_SUFFIXES)}; videos: {', '.join(VIDEO_SUFFIXES)})")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"--fps must be a positive number, got {fps}")
    if kind == "image":
        if p.stat().st_size == 0:
            raise InputError(f"{p}: the file is empty")
        return FrameSource(p, kind, fps, 1)
    if kind == "frames":
        return FrameSource(p, kind, fps or DEFAULT_FOLDER_FPS, len(_frame_files(p)))
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    av = _import_av()
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise InputError(f"{p}: the file has no video stream")
            s = c.streams.video[0]
            rate = float(s.average_rate) if s.average_rate else None
            count = int(s.frames) if s.frames else None
    except (av.FFmpegError, OSError, ValueError) as e:
        raise InputError(f"{p}: not a readable video ({type(e).__name__}: {e})") from None
    return FrameSource(p, kind, fps or rate or DEFAULT_FOLDER_FPS, count)
