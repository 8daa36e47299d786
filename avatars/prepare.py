"""`avatar prepare`: turn a video clip (or one photo) into an avatar pack.

Two passes over the clip keep memory small whatever its length: pass 1 detects the face on every
frame (OpenCV's bundled Haar cascade, on a downscaled grey copy) and measures motion; then the
boxes are cleaned and smoothed and the loop segment is chosen; pass 2 decodes again and writes
the chosen frames, boxes, mouth regions and 96x96 face crops. The live path never runs detection.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatars.base import Box
from avatars.pack import (
    MANIFEST,
    FaceCropsSpec,
    FramesSpec,
    ImageSequenceWriter,
    LoopVideoWriter,
    PackManifest,
    video_frame_to_bgr,
    write_manifest,
)

log = logging.getLogger("avatars.prepare")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DETECT_WIDTH = 480  # detection runs on a copy this wide: fast, and faces stay well above Haar's 24 px
MOTION_WIDTH = 96
WAV2LIP_PADS = (0, 10, 0, 0)  # top, bottom, left, right: Wav2Lip's default chin room


class PrepareError(Exception):
    """Input that cannot become a pack, worded for the operator."""


@dataclass
class PrepareOptions:
    """What `avatar prepare` was asked to do."""

    source: Path
    name: str
    out_dir: Path
    box: Box | None = None
    max_seconds: float = 20.0
    min_seconds: float = 2.0
    max_height: int | None = 1080
    image_loop_seconds: float = 4.0
    fps: int = 25  # for photos (videos keep their own rate)
    gop: int = 10
    crf: int = 16
    face_size: int = 96
    frames_format: str = "video"  # "video" (loop.mp4) | "images" (PNG sequence)
    force: bool = False
    progress: bool = True


@dataclass
class _Scan:
    """What pass 1 learned about the clip."""

    fps: int
    size: tuple[int, int]  # output (w, h) after scaling and even-cropping
    n: int = 0
    faces: list[list[Box]] = field(default_factory=list)  # per frame, in output pixels
    motion: list[float] = field(default_factory=list)  # mean |grey[i+1] - grey[i]|


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------

def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise PrepareError(f"cannot read {path}: not an image OpenCV can decode (jpg, png, bmp, webp, tiff)")
    return img


_ROTATIONS = {90: "ROTATE_90_CLOCKWISE", 180: "ROTATE_180", 270: "ROTATE_90_COUNTERCLOCKWISE"}


class _VideoFrames:
    """Iterate BGR frames of a video file, upright and scaled to the output size, up to ``max_frames``.

    Phone clips are often stored sideways with a display rotation; like players (and ffmpeg's
    autorotate) the frames are turned upright, so the face detector sees an upright face.
    """

    def __init__(self, path: Path, max_seconds: float, max_height: int | None):
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
            first = next(self.container.decode(self.stream), None)
        except IndexError:
            raise PrepareError(f"cannot read {path}: it has no video stream") from None
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise PrepareError(f"cannot read {path}: {exc}") from None
        if first is None:
            raise PrepareError(f"cannot read {path}: no video frames could be decoded")
        self.container.close()
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        # PyAV reports the display matrix's counterclockwise angle (av_display_rotation_get); players
        # turn the picture by it, so we keep the clockwise equivalent (as ffmpeg's autorotate does).
        self.rotation = int(round(-float(getattr(first, "rotation", 0) or 0))) % 360
        if self.rotation not in (0, *_ROTATIONS):
            log.warning("unusual display rotation ignored", extra={"file": str(path), "rotation": self.rotation})
            self.rotation = 0
        rate = self.stream.average_rate or self.stream.guessed_rate or 25
        self.fps = max(1, int(round(float(rate))))
        self.max_frames = max(1, int(max_seconds * self.fps))
        w, h = first.width, first.height
        if self.rotation in (90, 270):
            w, h = h, w
        self.scale = 1.0
        if max_height and h > max_height:
            self.scale = max_height / h
        sw, sh = int(round(w * self.scale)), int(round(h * self.scale))
        self.size = (sw - sw % 2, sh - sh % 2)  # H.264 4:2:0 needs even sizes
        if min(self.size) < 16:
            raise PrepareError(f"cannot use {path}: its picture is only {w}x{h} pixels")
        total = self.stream.frames or 0
        self.expected = min(total, self.max_frames) if total else None

    def __iter__(self):
        import av
        import cv2

        count = 0
        turn = getattr(cv2, _ROTATIONS[self.rotation]) if self.rotation else None
        try:
            for frame in self.container.decode(self.stream):
                img = video_frame_to_bgr(frame)
                if turn is not None:
                    img = cv2.rotate(img, turn)
                if self.scale != 1.0:
                    img = cv2.resize(img, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
                yield np.ascontiguousarray(img[: self.size[1], : self.size[0]])
                count += 1
                if count >= self.max_frames:
                    break
        except av.FFmpegError as exc:
            if count == 0:
                raise PrepareError(f"cannot read {self.path}: {exc}") from None
            log.warning("video ends with a decode error; using the frames read so far",
                        extra={"file": str(self.path), "frames": count, "error": str(exc)})
        finally:
            self.container.close()


# ---------------------------------------------------------------------------------------------
# Face detection and smoothing
# ---------------------------------------------------------------------------------------------

def _cascade():
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        raise PrepareError(
            f"face detection needs OpenCV's Haar cascades, which OpenCV {cv2.__version__} no longer ships; "
            "install opencv-python-headless 4.x (pip install 'opencv-python-headless<5') "
            "or pass the face position with --box x,y,w,h"
        )
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise PrepareError(f"OpenCV's face cascade {path} is missing; reinstall opencv-python-headless or pass --box")
    return clf


def _detect(clf, img: np.ndarray) -> list[Box]:
    import cv2

    h, w = img.shape[:2]
    f = min(1.0, DETECT_WIDTH / w)
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else img
    grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    min_side = max(24, int(0.08 * min(grey.shape)))
    found = clf.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [tuple(int(round(v / f)) for v in b) for b in (found if len(found) else [])]


def _iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter or 1)


def track_face(faces: list[list[Box]], source: Path) -> np.ndarray:
    """One smoothed box per frame from raw detections; raises on no face / several faces.

    The presenter is the largest face; a second face at least half its size in more than a third of
    the frames is "several faces". Frames without a detection (or with an outlier) are filled in by
    interpolation, then centre and size are smoothed over ~9 frames so the crop does not jitter.
    """
    n = len(faces)
    primary: list[Box | None] = []
    multi = 0
    for boxes in faces:
        if not boxes:
            primary.append(None)
            continue
        boxes = sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)
        top = boxes[0]
        others = [b for b in boxes[1:] if b[2] * b[3] >= 0.5 * top[2] * top[3] and _iou(b, top) < 0.3]
        multi += bool(others)
        primary.append(top)
    seen = [b for b in primary if b is not None]
    if not seen or len(seen) < 0.4 * n:
        raise PrepareError(f"no face found in {source} ({len(seen)} of {n} frames had one); use a clip where the "
                           "presenter faces the camera, or pass the face position with --box x,y,w,h")
    if multi > n / 3:
        raise PrepareError(f"several faces found in {source} ({multi} of {n} frames); crop the clip to one "
                           "presenter, or pass the presenter's face with --box x,y,w,h")
    arr = np.array([b if b is not None else (np.nan,) * 4 for b in primary], np.float64)
    cx = arr[:, 0] + arr[:, 2] / 2
    cy = arr[:, 1] + arr[:, 3] / 2
    size = (arr[:, 2] + arr[:, 3]) / 2
    ok = ~np.isnan(cx)
    med_cx, med_cy, med_s = np.nanmedian(cx), np.nanmedian(cy), np.nanmedian(size)
    outlier = ok & ((np.hypot(cx - med_cx, cy - med_cy) > 0.6 * med_s) | (np.abs(size - med_s) > 0.4 * med_s))
    ok &= ~outlier
    idx = np.arange(n)
    series = [np.interp(idx, idx[ok], v[ok]) for v in (cx, cy, size)]
    smooth = [_moving_average(v, 9) for v in series]
    cx, cy, size = smooth
    return np.stack([cx - size / 2, cy - size / 2, size, size], axis=1)


def _moving_average(v: np.ndarray, window: int) -> np.ndarray:
    if len(v) < 3:
        return v
    window = min(window, len(v) - (1 - len(v) % 2))
    k = np.ones(window) / window
    pad = window // 2
    return np.convolve(np.pad(v, pad, mode="edge"), k, mode="valid")


def mouth_box_of(face: Box) -> Box:
    """The mouth region: the lower middle of a (Haar-style) face box."""
    x, y, w, h = face
    return (int(round(x + 0.2 * w)), int(round(y + 0.62 * h)), int(round(0.6 * w)), int(round(0.33 * h)))


def crop_box_of(face: Box, width: int, height: int, pads=WAV2LIP_PADS) -> Box:
    """Face box plus Wav2Lip padding, clipped to the frame."""
    x, y, w, h = face
    top, bottom, left, right = pads
    x0, y0 = max(0, x - left), max(0, y - top)
    x1, y1 = min(width, x + w + right), min(height, y + h + bottom)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _clip_box(b, width: int, height: int) -> Box:
    x, y, w, h = (int(round(v)) for v in b)
    x, y = max(0, min(x, width - 2)), max(0, min(y, height - 2))
    return (x, y, max(2, min(w, width - x)), max(2, min(h, height - y)))


# ---------------------------------------------------------------------------------------------
# Loop selection
# ---------------------------------------------------------------------------------------------

def choose_loop(motion: np.ndarray, n: int, min_frames: int) -> tuple[int, int]:
    """(start, end) inclusive: the longest-ish segment whose two ends are calm moments.

    A ping-pong turn reverses the motion, so it is invisible only where the picture is nearly
    still; the cost of a segment is the motion at its two turn points, with a small bonus for length.
    """
    if n <= min_frames:
        return 0, n - 1
    m = np.asarray(motion, np.float64)
    # Motion "at" frame k: mean of the steps into and out of it.
    at = np.empty(n)
    at[0], at[-1] = m[0], m[-1]
    at[1:-1] = (m[:-1] + m[1:]) / 2
    at = _moving_average(at, 3)
    typical = float(np.median(m)) + 1e-6
    ends = np.arange(n)
    best = (np.inf, 0, n - 1)
    for s in range(0, n - min_frames + 1):  # row by row: O(n) memory for long clips
        length = ends[s + min_frames - 1:] - s + 1
        cost = at[s] + at[s + min_frames - 1:] + 0.5 * typical * (1 - length / n)
        k = int(np.argmin(cost))
        if cost[k] < best[0]:
            best = (float(cost[k]), s, s + min_frames - 1 + k)
    return best[1], best[2]


def _motion_grey(img: np.ndarray) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    small = cv2.resize(img, (MOTION_WIDTH, max(1, int(MOTION_WIDTH * h / w))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

def prepare_pack(opts: PrepareOptions) -> Path:
    """Create the pack in ``opts.out_dir``; returns that directory. Raises PrepareError."""
    src = Path(opts.source)
    if not src.exists():
        raise PrepareError(f"cannot read {src}: no such file")
    if not src.is_file():
        raise PrepareError(f"cannot read {src}: not a file")
    out = Path(opts.out_dir)
    if (out / MANIFEST).exists() and not opts.force:
        raise PrepareError(f"{out} already holds an avatar pack; pass --force to replace it")
    out_tmp = out.with_name(out.name + ".partial")
    if out_tmp.exists():
        shutil.rmtree(out_tmp)
    out_tmp.mkdir(parents=True)
    try:
        if _is_image(src):
            manifest = _prepare_image(opts, src, out_tmp)
        else:
            manifest = _prepare_video(opts, src, out_tmp)
        write_manifest(out_tmp, manifest)
        if out.exists():
            shutil.rmtree(out)
        out_tmp.replace(out)
    except BaseException:
        shutil.rmtree(out_tmp, ignore_errors=True)
        raise
    log.info("avatar pack written", extra={"pack": str(out), "frames": manifest.loop_length, "fps": manifest.fps})
    return out


def _progress(total, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False, dynamic_ncols=True)


def _prepare_video(opts: PrepareOptions, src: Path, out: Path) -> PackManifest:
    video = _VideoFrames(src, opts.max_seconds, opts.max_height)
    scan = _Scan(fps=video.fps, size=video.size)
    clf = None if opts.box else _cascade()
    prev = None
    with _progress(video.expected, "scanning", opts.progress) as bar:
        for img in video:
            scan.faces.append(_detect(clf, img) if clf is not None else [])
            grey = _motion_grey(img)
            if prev is not None:
                scan.motion.append(float(np.mean(np.abs(grey - prev))))
            prev = grey
            scan.n += 1
            bar.update(1)
    if scan.n == 0:
        raise PrepareError(f"cannot read {src}: no video frames could be decoded")
    min_frames = max(2, int(round(opts.min_seconds * scan.fps)))
    if scan.n < min_frames:
        raise PrepareError(f"clip too short: {src} has {scan.n / scan.fps:.1f} s ({scan.n} frames); "
                           f"need at least {opts.min_seconds:g} s (--min-seconds)")
    w, h = scan.size
    if opts.box:
        _check_box(opts.box, w, h)
        boxes = np.tile(np.array(opts.box, np.float64), (scan.n, 1))
    else:
        boxes = track_face(scan.faces, src)
    start, end = choose_loop(np.array(scan.motion), scan.n, min_frames)
    log.info("loop chosen", extra={"start": start, "end": end, "frames": end - start + 1})
    writer, frames_spec = _writer(opts, out, w, h, scan.fps)
    faces, crops, kept = [], [], []
    second = _VideoFrames(src, opts.max_seconds, opts.max_height)
    with _progress(end - start + 1, "writing", opts.progress) as bar:
        for i, img in enumerate(second):
            if i < start:
                continue
            if i > end:
                break
            face = _clip_box(boxes[i], w, h)
            faces.append(face)
            crops.append(_crop(img, face, opts.face_size, w, h))
            kept.append(crop_box_of(face, w, h))
            writer.write(img)
            if i == start:
                _write_preview(out, img)
            bar.update(1)
    writer.close()
    if len(faces) != end - start + 1:
        raise PrepareError(f"cannot read {src}: the second pass got {len(faces)} of {end - start + 1} frames")
    np.save(out / "faces.npy", np.stack(crops))
    return PackManifest(
        name=opts.name, fps=scan.fps, width=w, height=h, loop_length=len(faces), frames=frames_spec,
        face_boxes=faces, mouth_boxes=[mouth_box_of(f) for f in faces],
        face_crops=FaceCropsSpec(file="faces.npy", size=opts.face_size, boxes=kept),
        source={"file": src.name, "start_frame": start, "end_frame": end, "detector": "box" if opts.box else "haar",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )


def _prepare_image(opts: PrepareOptions, src: Path, out: Path) -> PackManifest:
    """A still photo becomes a gentle breathing loop: a slow zoom about the chest, eased at both ends."""
    import cv2

    img = _read_image(src)
    h0, w0 = img.shape[:2]
    if opts.max_height and h0 > opts.max_height:
        f = opts.max_height / h0
        img = cv2.resize(img, (int(round(w0 * f)), opts.max_height), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
    h, w = img.shape[:2]
    if opts.box:
        _check_box(opts.box, w, h)
        face = tuple(float(v) for v in opts.box)
    else:
        found = _detect(_cascade(), img)
        if not found:
            raise PrepareError(f"no face found in {src}; use a photo where the presenter faces the camera, "
                               "or pass the face position with --box x,y,w,h")
        found.sort(key=lambda b: b[2] * b[3], reverse=True)
        if len(found) > 1 and found[1][2] * found[1][3] >= 0.5 * found[0][2] * found[0][3]:
            raise PrepareError(f"several faces found in {src} ({len(found)}); crop the photo to one presenter "
                               "or pass the presenter's face with --box x,y,w,h")
        face = tuple(float(v) for v in found[0])
    n = max(2, int(round(opts.image_loop_seconds * opts.fps)))
    fx, fy, fw, fh = face
    pivot = (fx + fw / 2, min(h - 1.0, fy + 2.2 * fh))  # the chest: breathing lifts the head a little
    writer, frames_spec = _writer(opts, out, w, h, opts.fps)
    faces, crops, kept = [], [], []
    with _progress(n, "writing", opts.progress) as bar:
        for i in range(n):
            t = i / (n - 1)
            breath = 0.5 - 0.5 * np.cos(2 * np.pi * t)  # one breath out and back; zero slope at both ends
            zoom = 1.0 + 0.012 * breath
            m = np.array([[zoom, 0, pivot[0] * (1 - zoom)], [0, zoom, pivot[1] * (1 - zoom) - 0.004 * h * breath]])
            frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            corners = np.array([[fx, fy], [fx + fw, fy + fh]]) @ m[:, :2].T + m[:, 2]
            box = _clip_box((corners[0, 0], corners[0, 1], corners[1, 0] - corners[0, 0], corners[1, 1] - corners[0, 1]), w, h)
            faces.append(box)
            crops.append(_crop(frame, box, opts.face_size, w, h))
            kept.append(crop_box_of(box, w, h))
            writer.write(frame)
            if i == 0:
                _write_preview(out, frame)
            bar.update(1)
    writer.close()
    np.save(out / "faces.npy", np.stack(crops))
    return PackManifest(
        name=opts.name, fps=opts.fps, width=w, height=h, loop_length=n, frames=frames_spec,
        face_boxes=faces, mouth_boxes=[mouth_box_of(f) for f in faces],
        face_crops=FaceCropsSpec(file="faces.npy", size=opts.face_size, boxes=kept),
        source={"file": src.name, "still": True, "detector": "box" if opts.box else "haar",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )


def _check_box(box: Box, w: int, h: int) -> None:
    x, y, bw, bh = box
    if bw < 8 or bh < 8 or x < 0 or y < 0 or x + bw > w or y + bh > h:
        raise PrepareError(f"--box {x},{y},{bw},{bh} is not inside the {w}x{h} frame (x,y,w,h in output pixels)")


def _writer(opts: PrepareOptions, out: Path, w: int, h: int, fps: int):
    if opts.frames_format == "images":
        pattern = "frames/%06d.png"
        return ImageSequenceWriter(out, pattern), FramesSpec(kind="images", pattern=pattern, gop=opts.gop)
    return (LoopVideoWriter(out / "loop.mp4", w, h, fps, gop=opts.gop, crf=opts.crf),
            FramesSpec(kind="video", file="loop.mp4", gop=opts.gop))


def _crop(img: np.ndarray, face: Box, size: int, w: int, h: int) -> np.ndarray:
    import cv2

    x, y, bw, bh = crop_box_of(face, w, h)
    return cv2.resize(img[y:y + bh, x:x + bw], (size, size), interpolation=cv2.INTER_AREA)


def _write_preview(out: Path, img: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(out / "preview.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
