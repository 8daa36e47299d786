"""Wav2Lip mel features (values, not just shapes), resampling and the per-frame loudness path."""
from __future__ import annotations

import numpy as np
import pytest

from lipsync import audio_features as af


def _tone(freq: float, seconds: float = 1.0, amp: float = 0.5, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def _mel_centres() -> np.ndarray:
    return af.mel_to_hz(np.linspace(af.hz_to_mel(af.FMIN), af.hz_to_mel(af.FMAX), af.N_MELS + 2))[1:-1]


def test_slaney_scale_known_points() -> None:
    # Linear below 1 kHz (200/3 Hz per mel), 27 mels per factor 6.4 above it.
    assert af.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert af.hz_to_mel(200.0 / 3.0) == pytest.approx(1.0)
    assert af.hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)
    freqs = np.array([55.0, 440.0, 999.0, 1000.0, 3000.0, 7600.0])
    np.testing.assert_allclose(af.mel_to_hz(af.hz_to_mel(freqs)), freqs, rtol=1e-12)


def test_filterbank_properties() -> None:
    fb = af.mel_filterbank()
    assert fb.shape == (80, 401)
    assert (fb >= 0).all()
    freqs = np.linspace(0, 8000, 401)
    # Nothing below fmin or above fmax; each filter peaks near its centre frequency, in increasing order.
    assert fb[:, freqs < af.FMIN].sum() == 0
    assert fb[:, freqs > af.FMAX].sum() == 0
    peaks = freqs[fb.argmax(axis=1)]
    assert (np.diff(peaks) >= 0).all()
    np.testing.assert_allclose(peaks[20:], _mel_centres()[20:], atol=20.0)
    # Slaney normalisation: every triangle has unit area in Hz (up to sampling of narrow low filters).
    areas = fb.sum(axis=1) * (8000 / 400)
    np.testing.assert_allclose(areas[30:], 1.0, rtol=0.03)
    # Triangles overlap half-way: the sum of neighbouring filters is smooth, no holes between fmin and fmax.
    inside = (freqs > 120) & (freqs < 7400)
    assert (fb[:, inside].sum(axis=0) > 0).all()


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0, 5000.0])
def test_pure_tone_peaks_in_its_mel_bin(freq: float) -> None:
    mel = af.melspectrogram(_tone(freq))
    assert mel.shape == (80, 1 + 16000 // 200)
    peak = int(np.argmax(mel[:, 5:-5].mean(axis=1)))
    expected = int(np.argmin(np.abs(_mel_centres() - freq)))
    assert abs(peak - expected) <= 1


def test_silence_is_minus_four_and_range_is_clipped() -> None:
    silent = af.melspectrogram(np.zeros(3200))
    assert silent.shape == (80, 17)
    assert np.all(silent == -4.0)
    loud = af.melspectrogram(np.clip(np.random.default_rng(0).normal(0, 3.0, 16000), -1, 1))
    assert loud.min() >= -4.0 and loud.max() <= 4.0
    assert loud.dtype == np.float32


def test_level_scaling_matches_the_db_formula() -> None:
    # Doubling the amplitude adds 20*log10(2) dB = 8 * 6.02 / 100 normalised units (inside the unclipped range).
    a = af.melspectrogram(_tone(1000.0, amp=0.05))
    b = af.melspectrogram(_tone(1000.0, amp=0.1))
    peak = int(np.argmax(a[:, 10].astype(np.float64)))
    assert -4 < a[peak, 10] < 3.5
    assert b[peak, 10] - a[peak, 10] == pytest.approx(8 * 20 * np.log10(2) / 100, abs=1e-3)


def test_stft_matches_a_direct_dft() -> None:
    rng = np.random.default_rng(1)
    wav = rng.normal(0, 0.1, 1000)
    mag = af.stft_magnitude(wav)
    padded = np.pad(wav, 400, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 800)
    frame = padded[600:1400] * window  # frame 3 starts at 3 * hop
    k = np.arange(401)[:, None]
    direct = np.abs((frame[None, :] * np.exp(-2j * np.pi * k * np.arange(800)[None, :] / 800)).sum(axis=1))
    np.testing.assert_allclose(mag[:, 3], direct, rtol=1e-9, atol=1e-9)


def test_mel_windows_follow_wav2lip_indexing() -> None:
    mel = np.tile(np.arange(100, dtype=np.float32), (80, 1))  # column index as value
    windows = af.mel_windows(mel, fps=25, n_frames=40)
    assert windows.shape == (40, 80, 16)
    for t in (0, 1, 7, 20):
        assert windows[t, 0, 0] == int(80 * t / 25)
        assert windows[t, 0, 15] == int(80 * t / 25) + 15
    # Past the end: the last 16 mel frames.
    assert windows[39, 0, 0] == 84
    short = af.mel_windows(np.zeros((80, 5), np.float32), fps=25, n_frames=2)
    assert short.shape == (2, 80, 16) and short[0, 0, -1] == -4.0


def test_resample_48k_stereo_to_16k_mono() -> None:
    t = np.arange(48000) / 48000
    left = 0.4 * np.sin(2 * np.pi * 440 * t)
    stereo = (np.stack([left, left], axis=1) * 32767).astype(np.int16)
    mono = af.to_mono_float(stereo)
    out = af.resample_mono(mono, 48000)
    assert out.shape == (16000,) and out.dtype == np.float32
    ref = 0.4 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(out[200:-200] - ref[200:-200]).max() < 2e-3  # no delay, no gain change
    # A 10 kHz tone cannot exist at 16 kHz: it is filtered, not aliased to 6 kHz.
    alias = af.resample_mono((0.5 * np.sin(2 * np.pi * 10000 * t)).astype(np.float32), 48000)
    assert np.sqrt(np.mean(alias[200:-200] ** 2)) < 0.02


def test_wav2lip_mel_from_job_audio() -> None:
    audio = np.zeros((48000 // 2, 2), np.int16)
    mel = af.wav2lip_mel(audio, 48000)
    assert mel.shape == (80, 1 + 8000 // 200)
    assert np.all(mel == -4.0)


def test_frame_features_rms_and_bands() -> None:
    sr, fps = 48000, 25
    low = 0.5 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)
    high = 0.25 * np.sin(2 * np.pi * 4000 * np.arange(sr) / sr)
    wav = np.concatenate([low, np.zeros(sr // 2), high]).astype(np.float32)
    feats = af.frame_features(wav, sr, fps, 70)  # 2.8 s of frames for 2.5 s of audio: the tail reads as silence
    assert feats.rms.shape == (70,)
    np.testing.assert_allclose(feats.rms[2:20], 0.5 / np.sqrt(2), rtol=1e-3)
    assert np.all(feats.rms[27:36] == 0)
    np.testing.assert_allclose(feats.rms[40:60], 0.25 / np.sqrt(2), rtol=1e-3)
    assert np.all(feats.rms[63:] == 0)
    assert feats.low[10] > 0.95 and feats.high[10] < 0.01
    assert feats.high[50] > 0.95 and feats.low[50] < 0.01
