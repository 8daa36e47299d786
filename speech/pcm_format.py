"""Engine audio (float mono, any rate) to the stream's format: int16 (samples, channels) via PyAV's resampler."""
from __future__ import annotations

import av
import numpy as np


class PcmFormatter:
    """Converts one utterance's chunks; call ``flush()`` at its end for the resampler's tail."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.sample_rate = sample_rate
        self.channels = channels
        self._resampler: av.AudioResampler | None = None
        self._src_rate: int | None = None

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.channels), dtype=np.int16)

    def _collect(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return self._empty()
        mono = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        # Duplicate mono ourselves: a resampler upmix would lower each channel by 3 dB.
        return np.repeat(mono[:, None], self.channels, axis=1) if self.channels > 1 else mono[:, None]

    def convert(self, samples: np.ndarray, src_rate: int) -> np.ndarray:
        """float32 mono in [-1, 1] at ``src_rate`` -> int16 (n, channels) at the stream rate."""
        if self._resampler is None or src_rate != self._src_rate:
            tail = self.flush() if self._resampler is not None else self._empty()
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.sample_rate)
            self._src_rate = src_rate
        else:
            tail = self._empty()
        x = np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1)
        if x.shape[1] == 0:
            return tail
        frame = av.AudioFrame.from_ndarray(x, format="flt", layout="mono")
        frame.sample_rate = src_rate
        out = self._collect(self._resampler.resample(frame))
        return np.concatenate([tail, out]) if len(tail) else out

    def flush(self) -> np.ndarray:
        """The samples still inside the resampler."""
        if self._resampler is None:
            return self._empty()
        out = self._collect(self._resampler.resample(None))
        self._resampler = None
        self._src_rate = None
        return out
