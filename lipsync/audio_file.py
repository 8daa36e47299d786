"""Read an audio file into the stream's PCM format (int16, (samples, channels)) with PyAV."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def read_audio(path: str | Path, sample_rate: int, channels: int) -> np.ndarray:
    """Decode any audio file PyAV opens to int16 (samples, channels) at ``sample_rate``; clear errors otherwise."""
    import av  # noqa: PLC0415 - only the render command reads files

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise ValueError(f"not an audio file PyAV can read: {path}") from None
    with container:
        if not container.streams.audio:
            raise ValueError(f"no audio stream in {path}")
        # Mono sources are duplicated, not upmixed (libswresample's upmix costs 3 dB).
        mono_in = container.streams.audio[0].codec_context.layout.nb_channels == 1
        decode_ch = 1 if mono_in else channels
        layout = "mono" if decode_ch == 1 else "stereo"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        blocks = []
        for frame in container.decode(audio=0):
            blocks += [f.to_ndarray().reshape(-1, decode_ch) for f in resampler.resample(frame)]
        blocks += [f.to_ndarray().reshape(-1, decode_ch) for f in resampler.resample(None)]
    if not blocks:
        raise ValueError(f"no audio samples in {path}")
    pcm = np.concatenate(blocks)
    if decode_ch != channels:
        pcm = np.repeat(pcm, channels, axis=1)
    return np.ascontiguousarray(pcm, dtype=np.int16)
