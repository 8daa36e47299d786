"""The Wav2Lip renderer: the public generator over the avatar's face crops, batched, on cuda (fp16) or cpu."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from weakref import WeakKeyDictionary

import numpy as np

from avatars.base import Avatar, Box
from lipsync.audio_features import mel_windows, wav2lip_mel
from lipsync.base import Renderer, RenderJob, register
from lipsync.face_paste import crop_face, padded_box, paste_face, smooth_boxes
from lipsync.mouth_warp import clip_box
from lipsync.settings import LipsyncSettings

log = logging.getLogger(__name__)
FACE = 96


@register
class Wav2LipRenderer(Renderer):
    """Lip-synced faces from the public Wav2Lip weights (``lipsync.wav2lip_checkpoint``); never downloads."""

    name = "wav2lip"
    needs_device = True

    def __init__(self, settings: LipsyncSettings | None = None, device: str = "cpu", model=None) -> None:
        import torch  # noqa: PLC0415 - torch is only needed when this renderer is chosen

        from lipsync.wav2lip_checkpoint import load_wav2lip  # noqa: PLC0415

        self.settings = settings or LipsyncSettings()
        self.device = torch.device(device)
        self.dtype = torch.float16 if (self.device.type == "cuda" and self.settings.fp16) else torch.float32
        if self.device.type == "cpu" and self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        if model is None:
            model = load_wav2lip(self.settings.wav2lip_checkpoint, allow_pickle=self.settings.wav2lip_allow_pickle)
        self.model = model.eval().to(self.device, self.dtype)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        # Per avatar (weak keys: a replaced avatar's entries go with it): boxes, and whether the pack's crop fits.
        self._boxes: WeakKeyDictionary[Avatar, list[Box]] = WeakKeyDictionary()
        self._pack_crops: WeakKeyDictionary[Avatar, list[bool]] = WeakKeyDictionary()
        self._generation = 0

    def clear(self) -> None:
        # A render in progress stops before its next batch.
        self._generation += 1

    def boxes_for(self, avatar: Avatar) -> list[Box]:
        """Padded, temporally smoothed face boxes for every loop index of ``avatar`` (computed once per avatar).

        Packs with precomputed crops (``face_crop``/``face_crop_box``) give the boxes their crops were cut from;
        those are used as they are (already padded and smoothed at preparation), so crop and paste agree.
        """
        key = avatar
        if key not in self._boxes:
            pack_boxes = self._pack_crop_boxes(avatar)
            if pack_boxes is not None:
                boxes = [clip_box(b, avatar.width, avatar.height) for b in pack_boxes]
                self._pack_crops[key] = [tuple(b) == tuple(c) for b, c in zip(pack_boxes, boxes)]
            else:
                raw = [
                    padded_box(avatar.face_box(i), self.settings.face_pads, avatar.width, avatar.height)
                    for i in range(avatar.loop_length)
                ]
                boxes = smooth_boxes(raw, self.settings.box_smooth_frames)
            bad = [i for i, (_, _, w, h) in enumerate(boxes) if w < 8 or h < 8]
            if bad:
                raise ValueError(
                    f"avatar '{avatar.name}': face box of loop frame {bad[0]} is empty or tiny ({boxes[bad[0]]})"
                )
            self._boxes[key] = boxes
        return self._boxes[key]

    @staticmethod
    def _pack_crop_boxes(avatar: Avatar) -> list[Box] | None:
        crop_box = getattr(avatar, "face_crop_box", None)
        if not callable(crop_box) or not callable(getattr(avatar, "face_crop", None)):
            return None
        if getattr(avatar, "face_crop_size", FACE) not in (None, FACE):
            return None  # crops prepared for another model size: cut our own
        boxes = [crop_box(i) for i in range(avatar.loop_length)]
        return None if any(b is None for b in boxes) else boxes

    def _crop(self, avatar: Avatar, loop_index: int, frame: np.ndarray, box: Box) -> np.ndarray:
        usable = self._pack_crops.get(avatar)
        if usable is not None and usable[loop_index % len(usable)]:
            crop = avatar.face_crop(loop_index)
            if crop is not None and crop.shape == (FACE, FACE, 3):
                return np.ascontiguousarray(crop, dtype=np.uint8)
        return crop_face(frame, box, FACE)

    def infer(self, mels: np.ndarray, crops: np.ndarray) -> np.ndarray:
        """(B,80,16) mel windows + (B,96,96,3) BGR uint8 crops -> (B,96,96,3) float32 BGR faces in 0..255."""
        import torch  # noqa: PLC0415

        masked = crops.copy()
        masked[:, FACE // 2 :] = 0  # the lower half is what the model must draw from the audio
        faces = np.concatenate([masked, crops], axis=3)  # B,96,96,6: masked first, reference second (public order)
        with torch.inference_mode():
            face_t = torch.from_numpy(faces).to(self.device).permute(0, 3, 1, 2).to(self.dtype).div_(255.0)
            if self.device.type == "cuda":
                face_t = face_t.contiguous(memory_format=torch.channels_last)
            mel_t = torch.from_numpy(np.ascontiguousarray(mels)).to(self.device, self.dtype).unsqueeze(1)
            out = self.model(mel_t, face_t)
            return out.permute(0, 2, 3, 1).float().mul_(255.0).cpu().numpy()

    def _fade(self, k: int, n: int) -> float:
        # The generated face fades in at the start and out at the end, so idle <-> speech never pops.
        fade = self.settings.wav2lip_fade_frames
        if fade == 0:
            return 1.0
        return min(1.0, (k + 1) / (fade + 1), (n - k) / (fade + 1))

    def render(self, job: RenderJob) -> Iterator[np.ndarray]:
        generation = self._generation
        avatar = job.avatar
        n = len(job.loop_indices)
        if n == 0:
            return
        windows = mel_windows(wav2lip_mel(job.audio, job.sample_rate), job.fps, n)
        boxes = self.boxes_for(avatar)
        batch = self.settings.batch_size
        lower_only = self.settings.wav2lip_paste == "lower"
        for start in range(0, n, batch):
            if generation != self._generation:
                log.debug("wav2lip render cleared", extra={"frame": start})
                return
            indices: Sequence[int] = job.loop_indices[start : start + batch]
            frames = [avatar.frame(i) for i in indices]
            used = [boxes[i % len(boxes)] for i in indices]
            crops = np.stack([self._crop(avatar, i, f, b) for i, f, b in zip(indices, frames, used)])
            faces = self.infer(windows[start : start + len(indices)], crops)
            for k, (frame, box, face, crop) in enumerate(zip(frames, used, faces, crops), start=start):
                paste_face(
                    frame, box, face, self.settings.feather,
                    opacity=self._fade(k, n), lower_only=lower_only, original_crop=crop,
                )  # fmt: skip
                yield frame
