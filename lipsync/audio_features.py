"""Audio features for lip-sync: Wav2Lip's mel spectrogram and a cheap per-video-frame loudness/spectrum path.

The mel spectrogram reproduces Wav2Lip's ``audio.melspectrogram`` (librosa 0.7 defaults, hparams of the public
repository) in numpy, so checkpoints see the features they were trained on without librosa or any download.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Wav2Lip hparams (hparams.py of the public repository).
SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16  # mel frames per video frame window (0.2 s)
MEL_FPS = SAMPLE_RATE / HOP  # 80 mel frames per second


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3.0
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(freq, min_log_hz) / min_log_hz) / logstep
    return np.where(freq >= min_log_hz, log_part, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3.0
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = min_log_hz * np.exp(logstep * (mels - min_log_mel))
    return np.where(mels >= min_log_mel, log_part, freqs)


@lru_cache(maxsize=4)
def mel_filterbank(
    sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float = FMAX
) -> np.ndarray:
    """Triangular Slaney-normalised mel filters, shape (n_mels, 1 + n_fft // 2), as librosa.filters.mel."""
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalisation: each filter has (approximately) constant energy per Hz.
    weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    # Periodic Hann (scipy.signal.get_window('hann', n, fftbins=True)), as librosa uses.
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def stft_magnitude(wav: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, win: int = WIN) -> np.ndarray:
    """|STFT| with librosa 0.7 defaults (centered, reflect padding), shape (1 + n_fft // 2, frames)."""
    wav = np.asarray(wav, dtype=np.float64)
    pad = n_fft // 2
    if len(wav) <= pad:  # reflect padding needs more samples than the pad; a few ms of audio is silence anyway
        wav = np.pad(wav, (0, pad + 1 - len(wav)))
    padded = np.pad(wav, pad, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset : offset + win] = _hann(win)
    return np.abs(np.fft.rfft(frames * window, axis=1)).T


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram of 16 kHz mono float audio: (80, frames) in [-4, 4]."""
    wav = np.asarray(wav, dtype=np.float64)
    emphasized = np.empty_like(wav)
    if len(wav):
        emphasized[0] = wav[0]
        emphasized[1:] = wav[1:] - PREEMPHASIS * wav[:-1]
    spec = stft_magnitude(emphasized)
    mel = mel_filterbank() @ spec
    min_level = np.exp(MIN_LEVEL_DB / 20.0 * np.log(10.0))
    db = 20.0 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    norm = (2.0 * MAX_ABS_VALUE) * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_windows(mel: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """One (80, 16) mel window per video frame: frame t starts at mel index int(80 * t / fps), as Wav2Lip.

    Windows running past the end take the last 16 mel frames (Wav2Lip's rule); shape (n_frames, 80, 16).
    """
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS_VALUE)
    out = np.empty((n_frames, mel.shape[0], MEL_STEP), dtype=np.float32)
    last = mel.shape[1] - MEL_STEP
    for t in range(n_frames):
        start = min(int(t * MEL_FPS / fps), last)
        out[t] = mel[:, start : start + MEL_STEP]
    return out


def to_mono_float(audio: np.ndarray) -> np.ndarray:
    """int16 (samples,) or (samples, channels) -> mono float32 in [-1, 1]."""
    audio = np.asarray(audio)
    scale = 32768.0 if audio.dtype == np.int16 else 1.0
    data = audio.astype(np.float32) / scale
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data


def resample_mono(wav: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample mono float32 audio with libswresample (PyAV); the result has exactly round(n * out / in) samples."""
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if rate_in == rate_out or len(wav) == 0:
        return wav.copy()
    import av  # noqa: PLC0415 - PyAV is heavy; only the resampling path needs it

    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_out)
    frame = av.AudioFrame.from_ndarray(wav[None, :], format="flt", layout="mono")
    frame.sample_rate = rate_in
    frame.pts = 0
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    out = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    expected = int(round(len(wav) * rate_out / rate_in))
    if len(out) < expected:
        out = np.pad(out, (0, expected - len(out)))
    return out[:expected].astype(np.float32, copy=False)


def wav2lip_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Job audio (int16, any rate and channel count) -> Wav2Lip mel spectrogram (80, frames)."""
    return melspectrogram(resample_mono(to_mono_float(audio), sample_rate))


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    """Per-video-frame audio cues for the viseme renderer (arrays of length n_frames)."""

    rms: np.ndarray  # linear RMS of the frame's audio, full scale = 1
    low: np.ndarray  # energy share 150-900 Hz (open vowels, rounded vowels)
    mid: np.ndarray  # energy share 900-2200 Hz (second formant of front vowels)
    high: np.ndarray  # energy share 2200-7000 Hz (sibilants, spread lips)


def frame_features(wav: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> FrameFeatures:
    """RMS and band-energy shares of each video frame's slice of mono float audio ([k/fps, (k+1)/fps))."""
    bounds = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    size = int(bounds[1] - bounds[0]) if n_frames else 0
    rms = np.zeros(n_frames, np.float32)
    low = np.zeros(n_frames, np.float32)
    mid = np.zeros(n_frames, np.float32)
    high = np.zeros(n_frames, np.float32)
    if n_frames == 0 or size == 0:
        return FrameFeatures(rms, low, mid, high)
    padded = np.zeros(int(bounds[-1]) + size, np.float32)
    n = min(len(wav), int(bounds[-1]))
    padded[:n] = wav[:n]
    starts = bounds[:-1]
    frames = np.stack([padded[s : s + size] for s in starts])
    rms[:] = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    total = spectrum[:, (freqs >= 150) & (freqs < 7000)].sum(axis=1) + 1e-12
    low[:] = spectrum[:, (freqs >= 150) & (freqs < 900)].sum(axis=1) / total
    mid[:] = spectrum[:, (freqs >= 900) & (freqs < 2200)].sum(axis=1) / total
    high[:] = spectrum[:, (freqs >= 2200) & (freqs < 7000)].sum(axis=1) / total
    return FrameFeatures(rms, low, mid, high)
