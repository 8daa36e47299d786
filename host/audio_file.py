"""Read an audio file into the stream's PCM format (int16, (samples, channels)) with PyAV."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def read_audio(path: str | Path, sample_rate: int, channels: int) -> np.ndarray:
    """Decode any audio file PyAV can open and resample it to ``sample_rate`` / ``channels`` int16."""
    import av

    try:
        container = av.open(str(path))
    except (FileNotFoundError, av.error.FileNotFoundError):
        raise FileNotFoundError(f"audio file not found: {path}") from None
    except av.error.InvalidDataError:
        raise ValueError(f"not an audio file PyAV can read: {path}") from None
    blocks: list[np.ndarray] = []
    with container:
        if not container.streams.audio:
            raise ValueError(f"no audio stream in {path}")
        # Mono sources are duplicated rather than upmixed, which would cost 3 dB.
        mono_in = container.streams.audio[0].codec_context.layout.nb_channels == 1
        out_ch = 1 if mono_in else channels
        resampler = av.AudioResampler(format="s16", layout="mono" if out_ch == 1 else "stereo", rate=sample_rate)
        for frame in container.decode(audio=0):
            blocks.extend(out.to_ndarray().reshape(-1, out_ch) for out in resampler.resample(frame))
        blocks.extend(out.to_ndarray().reshape(-1, out_ch) for out in resampler.resample(None))
    if not blocks:
        return np.zeros((0, channels), dtype=np.int16)
    pcm = np.concatenate(blocks)
    if out_ch != channels:
        pcm = np.repeat(pcm, channels, axis=1)
    return np.ascontiguousarray(pcm, dtype=np.int16)
