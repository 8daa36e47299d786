"""One loudness target for every engine: gain from the RMS of voiced audio, with a peak ceiling."""
from __future__ import annotations

import math

import numpy as np

_FRAME_S = 0.02
_GATE_DBFS = -50.0  # 20 ms frames quieter than this are pauses, not voice
_MAX_GAIN_DB = 30.0
_MIN_GAIN_DB = -30.0


def dbfs(value: float) -> float:
    """Amplitude ratio (1.0 = full scale) to dBFS."""
    return 20.0 * math.log10(max(value, 1e-10))


def voiced_rms(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """RMS over the 20 ms frames above the -50 dBFS gate, and the seconds of such frames (float in, full scale 1)."""
    x = samples.astype(np.float32, copy=False).reshape(-1)
    frame = max(1, int(sample_rate * _FRAME_S))
    n = len(x) // frame
    if n == 0:
        return 0.0, 0.0
    energy = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    gate = 10 ** (_GATE_DBFS / 10)
    voiced = energy[energy > gate]
    if voiced.size == 0:
        return 0.0, 0.0
    return float(np.sqrt(np.mean(voiced))), voiced.size * frame / sample_rate


class LoudnessLeveler:
    """Per-engine gain toward ``target_dbfs`` (voiced RMS), never letting peaks pass ``peak_dbfs``.

    The level estimate is kept across utterances and moves with each chunk in proportion to its voiced
    length, so short streamed chunks do not pump while a new engine settles on its first sentence.
    """

    def __init__(self, target_dbfs: float = -20.0, peak_dbfs: float = -1.0, settle_s: float = 2.0) -> None:
        self.target_dbfs = target_dbfs
        self.peak = 10 ** (peak_dbfs / 20)
        self.settle_s = settle_s
        self.level_dbfs: float | None = None

    def process(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Return the chunk scaled toward the target (float32, clipped to the peak ceiling)."""
        x = samples.astype(np.float32, copy=False)
        rms, voiced_s = voiced_rms(x, sample_rate)
        if voiced_s > 0:
            level = dbfs(rms)
            if self.level_dbfs is None:
                self.level_dbfs = level
            else:
                weight = min(1.0, voiced_s / self.settle_s)
                self.level_dbfs += weight * (level - self.level_dbfs)
        if self.level_dbfs is None:
            return x
        gain_db = min(_MAX_GAIN_DB, max(_MIN_GAIN_DB, self.target_dbfs - self.level_dbfs))
        gain = 10 ** (gain_db / 20)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak * gain > self.peak:
            gain = self.peak / peak
        return np.clip(x * gain, -self.peak, self.peak).astype(np.float32, copy=False)
