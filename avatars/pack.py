"""Avatar packs: a directory with ``avatar.json``, the loop (H.264 video or image sequence) and face data.

Layout (version 1)::

    avatar.json   name, fps, width, height, loop_length, per-frame face/mouth boxes, frames, face_crops
    loop.mp4      the idle loop, H.264 with a keyframe every ``frames.gop`` frames and no B-frames
                  (or frames/000000.png ... for an image sequence)
    faces.npy     optional (loop_length, 96, 96, 3) uint8 BGR face crops for Wav2Lip-style renderers
    preview.jpg   first frame, for people browsing the packs

``PackAvatar`` decodes lazily: the loop is split into chunks of ``gop`` frames (one GOP each, so a
chunk decodes from its own keyframe), a few chunks are kept in an LRU, and the chunk next in the
direction of play is decoded ahead on a worker thread. Memory is bounded by the chunk budget,
whatever the loop length, and playing backwards (ping-pong) costs one chunk decode per ``gop`` frames.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from avatars.base import Avatar, Box, MouthShape, OverlayData

log = logging.getLogger("avatars.pack")

MANIFEST = "avatar.json"
PACK_VERSION = 1


class FramesSpec(BaseModel):
    """Where the loop's pixels are."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["video", "images"] = "video"
    file: str | None = Field(None, description="video file, relative to the pack (kind=video)")
    pattern: str | None = Field(None, description="printf pattern of image files, e.g. frames/%06d.png (kind=images)")
    gop: int = Field(10, ge=1, le=600, description="frames per keyframe interval (the decode chunk)")

    @model_validator(mode="after")
    def _source_named(self) -> "FramesSpec":
        if self.kind == "video" and not self.file:
            raise ValueError("frames.file is required for kind 'video'")
        if self.kind == "images" and not self.pattern:
            raise ValueError("frames.pattern is required for kind 'images'")
        return self


class FaceCropsSpec(BaseModel):
    """Precomputed face crops (for Wav2Lip-style renderers) and the boxes they were cut from."""

    model_config = ConfigDict(extra="forbid")

    file: str = "faces.npy"
    size: int = Field(96, ge=16, le=1024)
    boxes: list[tuple[int, int, int, int]] = Field(description="per frame: the padded box each crop was cut from")


class PackManifest(BaseModel):
    """avatar.json. Boxes are (x, y, w, h) in pack pixels, one per loop frame."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(PACK_VERSION, ge=1, le=PACK_VERSION)
    name: str
    fps: int = Field(ge=1, le=120)
    width: int = Field(ge=16, multiple_of=2)
    height: int = Field(ge=16, multiple_of=2)
    loop_length: int = Field(ge=2)
    frames: FramesSpec
    face_boxes: list[tuple[int, int, int, int]]
    mouth_boxes: list[tuple[int, int, int, int]]
    face_crops: FaceCropsSpec | None = None
    source: dict = Field(default_factory=dict, description="how the pack was made (informational)")

    @model_validator(mode="after")
    def _one_box_per_frame(self) -> "PackManifest":
        for key, boxes in (("face_boxes", self.face_boxes), ("mouth_boxes", self.mouth_boxes)):
            if len(boxes) != self.loop_length:
                raise ValueError(f"{key} has {len(boxes)} entries, loop_length is {self.loop_length}")
        if self.face_crops and len(self.face_crops.boxes) != self.loop_length:
            raise ValueError(f"face_crops.boxes has {len(self.face_crops.boxes)} entries, loop_length is {self.loop_length}")
        return self


class PackError(ValueError):
    """A pack that cannot be used, worded for the operator (names the file and what to do)."""


def read_manifest(pack_dir: Path) -> PackManifest:
    """Read and validate ``pack_dir/avatar.json``; raises PackError naming the file and key."""
    path = Path(pack_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(f"{path} not found: {pack_dir} is not an avatar pack "
                        f"(create one with: python main.py avatar prepare --video FILE --name NAME)") from None
    except json.JSONDecodeError as exc:
        raise PackError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return PackManifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise PackError(f"{path}: bad key '{key}': {err['msg']}") from None


def write_manifest(pack_dir: Path, manifest: PackManifest) -> Path:
    """Write ``avatar.json`` atomically (temporary file + rename)."""
    path = Path(pack_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)  # a crash never leaves half a manifest
    return path


def video_frame_to_bgr(frame) -> np.ndarray:
    """Decoded PyAV frame -> BGR. yuv420p goes through OpenCV: swscale's default path darkens by ~1-3 levels."""
    import cv2

    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


def bgr_to_video_frame(bgr: np.ndarray):
    """BGR (even size) -> yuv420p PyAV frame, converted by OpenCV (unbiased, and faster than swscale)."""
    import av
    import cv2

    return av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), format="yuv420p")


# ---------------------------------------------------------------------------------------------
# Frame sources: read one chunk (a GOP) of frames
# ---------------------------------------------------------------------------------------------

class VideoChunkReader:
    """Decodes chunk ``c`` (frames c*gop .. c*gop+gop-1) by seeking to its keyframe. One thread only."""

    def __init__(self, path: Path, fps: int, gop: int, loop_length: int):
        import av

        self.path, self.fps, self.gop, self.n = path, fps, gop, loop_length
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
        except (av.FFmpegError, IndexError) as exc:
            raise PackError(f"cannot decode the avatar loop {path}: {exc}") from None
        self.stream.thread_type = "AUTO"
        if self.stream.frames and self.stream.frames < loop_length:  # truncated copy: fail now, not on air
            raise PackError(f"{path} has {self.stream.frames} frames, avatar.json says {loop_length}; re-create the pack")
        first = next(self.container.decode(self.stream), None)
        if first is None:
            raise PackError(f"the avatar loop {path} has no video frames")
        self.t0 = float(first.time or 0.0)
        self.decoded = 0

    def _index(self, frame) -> int:
        return int(round((float(frame.time) - self.t0) * self.fps))

    def read(self, chunk: int) -> list[np.ndarray]:
        start, end = chunk * self.gop, min(self.n, (chunk + 1) * self.gop)
        tb = self.stream.time_base
        target = int((start / self.fps + self.t0) / tb)
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        out: list[np.ndarray] = []
        for frame in self.container.decode(self.stream):
            self.decoded += 1
            idx = self._index(frame)
            if idx < start:
                continue
            if idx >= end:
                break
            if idx != start + len(out):
                raise PackError(f"{self.path}: frame {start + len(out)} missing (got {idx}); re-create the pack")
            out.append(video_frame_to_bgr(frame))
            if len(out) == end - start:
                break
        if len(out) != end - start:
            raise PackError(f"{self.path}: has {start + len(out)} frames, avatar.json says {self.n}; re-create the pack")
        return out

    def close(self) -> None:
        self.container.close()


class ImageChunkReader:
    """Reads chunk ``c`` from an image sequence (PNG/JPEG), one file per frame."""

    def __init__(self, pack_dir: Path, pattern: str, gop: int, loop_length: int):
        self.dir, self.pattern, self.gop, self.n = pack_dir, pattern, gop, loop_length
        for i in (0, loop_length - 1):
            if not self._path(i).is_file():
                raise PackError(f"avatar frame {self._path(i)} not found (avatar.json: frames.pattern = '{pattern}')")
        self.decoded = 0

    def _path(self, i: int) -> Path:
        return self.dir / (self.pattern % i)

    def read(self, chunk: int) -> list[np.ndarray]:
        import cv2

        out = []
        for i in range(chunk * self.gop, min(self.n, (chunk + 1) * self.gop)):
            img = cv2.imread(str(self._path(i)), cv2.IMREAD_COLOR)
            if img is None:
                raise PackError(f"cannot read avatar frame {self._path(i)}")
            self.decoded += 1
            out.append(img)
        return out

    def close(self) -> None:
        pass


class ChunkCache:
    """LRU of decoded chunks with read-ahead in the direction of play, on one worker thread."""

    def __init__(self, reader, n_chunks: int, max_chunks: int, transform=None):
        self.reader, self.n_chunks = reader, n_chunks
        self.max_chunks = max(2, max_chunks)
        self.transform = transform
        self._lock = threading.Lock()
        self._chunks: OrderedDict[int, Future] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="avatar-decode")
        self._last_chunk: int | None = None
        self._direction = 1
        self.peak_frames = 0

    def _load(self, c: int) -> list[np.ndarray]:
        frames = self.reader.read(c)
        if self.transform is not None:
            frames = [self.transform(f) for f in frames]
        return frames

    def _submit(self, c: int) -> Future:
        fut = self._chunks.get(c)
        if fut is None:
            fut = self._chunks[c] = self._pool.submit(self._load, c)
        return fut

    def get(self, chunk: int) -> list[np.ndarray]:
        """Frames of ``chunk``; decodes it (or waits for its read-ahead) when not cached."""
        from concurrent.futures import CancelledError

        while True:
            with self._lock:
                if self._last_chunk is not None and chunk != self._last_chunk:
                    self._direction = 1 if chunk > self._last_chunk else -1
                fut = self._submit(chunk)
                self._chunks.move_to_end(chunk)
                ahead = chunk + self._direction
                if 0 <= ahead < self.n_chunks and ahead not in self._chunks:
                    self._submit(ahead)
                    self._chunks.move_to_end(chunk)  # the chunk in use stays the most recent
                self._evict(keep={chunk, ahead})
                self._last_chunk = chunk
            try:
                frames = fut.result()
            except CancelledError:  # evicted by another caller before it ran: ask again
                continue
            self.peak_frames = max(self.peak_frames, self.cached_frames())
            return frames

    def _evict(self, keep: set[int]) -> None:
        while len(self._chunks) > self.max_chunks:
            victim = next((c for c in self._chunks if c not in keep), None)
            if victim is None:
                break
            fut = self._chunks.pop(victim)
            fut.cancel()

    def cached_frames(self) -> int:
        """Decoded frames held now (finished chunks)."""
        with self._lock:
            futs = list(self._chunks.values())
        return sum(len(f.result()) for f in futs if f.done() and not f.cancelled() and f.exception() is None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._chunks.clear()
        self.reader.close()


# ---------------------------------------------------------------------------------------------
# The avatar
# ---------------------------------------------------------------------------------------------

class PackAvatar(Avatar):
    """An avatar pack on disk, decoded lazily; the mouth is left to a renderer (draws_mouth=False).

    ``size`` (w, h) rescales to the stream's size (cover + centre crop, done on the decode thread).
    """

    draws_mouth = False

    def __init__(self, pack_dir: str | Path, *, size: tuple[int, int] | None = None, max_cached_frames: int = 40,
                 font_path: str | None = None):
        self.path = Path(pack_dir)
        m = self.manifest = read_manifest(self.path)
        self.name, self.fps, self.loop_length = m.name, m.fps, m.loop_length
        self.gop = m.frames.gop
        if m.frames.kind == "video":
            video = self.path / m.frames.file
            if not video.is_file():
                raise PackError(f"avatar loop {video} not found (avatar.json: frames.file)")
            reader = VideoChunkReader(video, m.fps, self.gop, m.loop_length)
        else:
            reader = ImageChunkReader(self.path, m.frames.pattern, self.gop, m.loop_length)
        self.width, self.height = size if size else (m.width, m.height)
        scale, ox, oy = _cover(m.width, m.height, self.width, self.height)
        self._scale, self._offset = scale, (ox, oy)
        transform = None
        if (self.width, self.height) != (m.width, m.height):
            transform = self._resize
        n_chunks = -(-m.loop_length // self.gop)
        self._cache = ChunkCache(reader, n_chunks, max(2, max_cached_frames // self.gop), transform)
        self._face = [self._map_box(b) for b in m.face_boxes]
        self._mouth = [self._map_box(b) for b in m.mouth_boxes]
        self._crops = None
        if m.face_crops is not None:
            crops_path = self.path / m.face_crops.file
            if not crops_path.is_file():
                raise PackError(f"face crops {crops_path} not found (avatar.json: face_crops.file)")
            self._crops = np.load(crops_path, mmap_mode="r")  # paged in on demand, never all in memory
            if self._crops.shape[0] != m.loop_length:
                raise PackError(f"{crops_path}: {self._crops.shape[0]} crops, loop_length is {m.loop_length}")
        self._font_path = font_path
        self._overlay = None
        self._last_good: np.ndarray | None = None
        self._failed_chunks: set[int] = set()
        self.decode_errors = 0
        # Decode the first chunk now (and read the next one ahead), so going on air costs no decode wait;
        # a loop that cannot be decoded at all fails here, at start-up.
        self._last_good = self._cache.get(0)[0]

    def _resize(self, img: np.ndarray) -> np.ndarray:
        import cv2

        s = self._scale
        w, h = int(round(img.shape[1] * s)), int(round(img.shape[0] * s))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        big = cv2.resize(img, (w, h), interpolation=interp)
        ox, oy = self._offset
        return np.ascontiguousarray(big[oy:oy + self.height, ox:ox + self.width])

    def _map_box(self, b) -> Box:
        x, y, w, h = b
        s = self._scale
        ox, oy = self._offset
        return (int(round(x * s - ox)), int(round(y * s - oy)), int(round(w * s)), int(round(h * s)))

    def _index(self, loop_index: int) -> int:
        return int(loop_index) % self.loop_length

    def frame(self, loop_index: int, mouth: MouthShape | None = None) -> np.ndarray:
        """The loop frame; if its chunk cannot be decoded (file damaged on disk), the last good frame."""
        i = self._index(loop_index)
        chunk = i // self.gop
        try:
            frames = self._cache.get(chunk)
        except Exception as exc:  # the stream must go on: hold a frame, count, log once per chunk
            self.decode_errors += 1
            if chunk not in self._failed_chunks:
                self._failed_chunks.add(chunk)
                log.error("avatar loop chunk cannot be decoded; holding the last good frame",
                          extra={"pack": str(self.path), "chunk": chunk, "error": str(exc)})
            if self._last_good is None:
                return np.zeros((self.height, self.width, 3), np.uint8)
            return self._last_good.copy()
        self._last_good = frames[i % self.gop]
        return self._last_good.copy()

    def face_box(self, loop_index: int) -> Box:
        return self._face[self._index(loop_index)]

    def mouth_box(self, loop_index: int) -> Box:
        return self._mouth[self._index(loop_index)]

    @property
    def face_crop_size(self) -> int | None:
        return self.manifest.face_crops.size if self.manifest.face_crops else None

    def face_crop(self, loop_index: int) -> np.ndarray | None:
        """Precomputed face crop (size x size BGR) at pack resolution, or None when the pack has none."""
        if self._crops is None:
            return None
        return np.array(self._crops[self._index(loop_index)])

    def face_crop_box(self, loop_index: int) -> Box | None:
        """Box (stream pixels) the face crop was cut from (face box plus chin padding)."""
        if self.manifest.face_crops is None:
            return None
        return self._map_box(self.manifest.face_crops.boxes[self._index(loop_index)])

    @property
    def cached_frames(self) -> int:
        """Decoded frames held in memory now."""
        return self._cache.cached_frames()

    @property
    def peak_cached_frames(self) -> int:
        return self._cache.peak_frames

    @property
    def frames_decoded(self) -> int:
        """Frames decoded so far (a measure of decode work, e.g. for ping-pong)."""
        return self._cache.reader.decoded

    def draw_overlay(self, frame: np.ndarray, overlay: OverlayData) -> None:
        if self._overlay is None:
            from avatars.overlay_text import OverlayPainter
            from avatars.presenter_art import StudioLayout, draw_overlay_panels

            layout = StudioLayout(self.width, self.height)
            self._overlay = OverlayPainter(layout, font_path=self._font_path, panels=draw_overlay_panels(layout))
        self._overlay.draw(frame, overlay)

    def close(self) -> None:
        self._cache.close()


def _cover(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, int, int]:
    """Scale so the source covers the destination, and the centre-crop offset."""
    s = max(dst_w / src_w, dst_h / src_h)
    ox = int(round((src_w * s - dst_w) / 2))
    oy = int(round((src_h * s - dst_h) / 2))
    return s, ox, oy


# ---------------------------------------------------------------------------------------------
# Writing the loop
# ---------------------------------------------------------------------------------------------

class LoopVideoWriter:
    """Writes BGR frames as H.264 (yuv420p, no B-frames, a keyframe every ``gop`` frames) for PackAvatar."""

    def __init__(self, path: Path, width: int, height: int, fps: int, *, gop: int = 10, crf: int = 16,
                 preset: str = "medium"):
        import av

        self.path = Path(path)
        self.container = av.open(str(self.path), "w")
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        # Fixed GOP without scene-cut keyframes: chunk c always starts at a keyframe (PackAvatar seeks there).
        self.stream.options = {"crf": str(crf), "preset": preset, "g": str(gop), "keyint_min": str(gop),
                               "sc_threshold": "0", "bf": "0"}
        self.count = 0

    def write(self, bgr: np.ndarray) -> None:
        frame = bgr_to_video_frame(np.ascontiguousarray(bgr))
        frame.pts = self.count
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class ImageSequenceWriter:
    """Writes frames as numbered PNG files (lossless, larger than H.264)."""

    def __init__(self, pack_dir: Path, pattern: str = "frames/%06d.png"):
        self.dir, self.pattern = Path(pack_dir), pattern
        (self.dir / pattern).parent.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def write(self, bgr: np.ndarray) -> None:
        import cv2

        path = self.dir / (self.pattern % self.count)
        if not cv2.imwrite(str(path), bgr):
            raise OSError(f"cannot write {path}")
        self.count += 1

    def close(self) -> None:
        pass


# The loader lives in avatars/loader.py (it also builds the built-in avatar); importable from here too.
from avatars.loader import load_avatar  # noqa: E402,F401
