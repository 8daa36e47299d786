"""Mouth shapes per video frame from loudness, spectrum and (when the TTS gives them) phoneme or word timings.

Opening follows the RMS envelope (linear above a noise gate, scaled to the utterance's loud level), shaped by
phoneme classes (lips shut on p/b/m, rounded on o/u/w, spread on i/e/s); an attack/release smoother keeps it from
jittering while letting it open within a frame; pauses, sentence ends and the end of the utterance close it.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avatars.base import CLOSED, MouthShape
from lipsync.audio_features import FrameFeatures
from lipsync.base import Timing
from lipsync.settings import VisemeSettings


@dataclass(frozen=True, slots=True)
class Viseme:
    """How a phoneme class shapes the mouth: a scale on the loudness opening, plus spread and rounding."""

    open_scale: float
    wide: float
    round: float


SILENT = Viseme(0.0, 0.0, 0.0)
BILABIAL = Viseme(0.12, 0.1, 0.0)  # p b m: lips pressed together
LABIODENTAL = Viseme(0.3, 0.3, 0.0)  # f v: lower lip under the teeth
ROUNDED = Viseme(0.75, 0.0, 0.85)  # o u w: pursed
SPREAD = Viseme(0.7, 0.8, 0.0)  # i e: lips spread
OPEN = Viseme(1.0, 0.25, 0.0)  # a: jaw down
MID = Viseme(0.8, 0.3, 0.1)  # schwa, unstressed vowels
SIBILANT = Viseme(0.35, 0.6, 0.0)  # s z sh ch: teeth close, lips spread
CONSONANT = Viseme(0.55, 0.2, 0.0)  # t d n l k g r h ...
# Frames no timing covers: usually silence (the loudness gate closes the mouth), but word timings from a
# remote TTS can be a little off, so sound there still moves the jaw, softly.
UNTIMED = Viseme(0.4, 0.1, 0.0)

_PAUSES = {"", "_", "__", ":", "sil", "sp", "spn", "pau", "#", "|", "||"} | set(",.!?;，。！？；、…")

# Ordered checks on espeak ASCII mnemonics, IPA and pinyin; the first that matches wins.
_RULES: list[tuple[re.Pattern[str], Viseme]] = [
    (re.compile(r"^[pbm]|^ɱ"), BILABIAL),
    (re.compile(r"^[fv]"), LABIODENTAL),
    (re.compile(r"^(t?[ʃɕʂ]|d?[ʒʑʐ]|tS|dZ|ts|dz|S|Z|s|z|x|q|j(?=[iy])|ch|sh|zh|c)"), SIBILANT),
    (re.compile(r"^(w|u|U|o|O|0|ʊ|ɔ|ɒ|ʏ|ø|y|ɵ|ɤ|ou|ao)"), ROUNDED),
    (re.compile(r"^(i|I|e|E|ɪ|ɛ|ɨ|ɯ|eI|ei|ie)"), SPREAD),
    (re.compile(r"^(a|A|æ|ɑ|ɐ|ʌ|aI|aU|ai|an|ang)"), OPEN),
    (re.compile(r"^(@|ə|ɚ|ɜ|3|V|er|en)"), MID),
]


_VOWELS = set("aeiouyɑɐəɛɪʊɔæʌɜɚɤɯøœɒAEIOUV@")


def viseme_for(text: str) -> Viseme:
    """Viseme of one phoneme (espeak mnemonic, IPA or pinyin initial/final); pauses map to SILENT."""
    token = text.strip().lstrip("'ˈˌ%=,")
    if token.lower() in _PAUSES or token.startswith("_"):  # espeak marks pauses as _, _: or _!
        return SILENT
    if len(token) >= 2 and token[0] in "iuy" and token[1] in _VOWELS:
        token = token[1:]  # Mandarin medial glide (ia, ua, uo, ie): the main vowel shapes the mouth
    for pattern, viseme in _RULES:
        if pattern.match(token):
            return viseme
    return CONSONANT


_LATIN_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)


def _word_viseme(text: str) -> Viseme:
    """A word's dominant mouth shape: pinyin finals for Chinese, the first vowel letter for Latin script."""
    word = text.strip()
    if not word or all(not ch.isalnum() for ch in word):
        return SILENT
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        from pypinyin import Style, lazy_pinyin  # noqa: PLC0415 - only Chinese words need it

        finals = [f for f in lazy_pinyin(word, style=Style.FINALS) if f]
        return viseme_for(finals[0]) if finals else MID
    match = _LATIN_VOWEL.search(word)
    return viseme_for(match.group(0).lower()) if match else CONSONANT


def timing_visemes(timings: Sequence[Timing], fps: float, n_frames: int) -> list[Viseme] | None:
    """The viseme active at each frame's centre, or None when there are no timings; gaps are UNTIMED."""
    if not timings:
        return None
    phonemes = [t for t in timings if t.kind == "phoneme"]
    use = phonemes or list(timings)
    out: list[Viseme] = [UNTIMED] * n_frames
    # A bad timing from an engine (NaN, reversed) is skipped, never a failed render.
    use = [t for t in use if math.isfinite(t.start) and math.isfinite(t.end) and t.end > t.start]
    if not use:
        return None
    for timing in sorted(use, key=lambda t: t.start):
        viseme = viseme_for(timing.text) if timing.kind == "phoneme" else _word_viseme(timing.text)
        first = max(0, math.ceil(timing.start * fps - 0.5))
        last = min(n_frames - 1, math.ceil(timing.end * fps - 0.5) - 1)
        for k in range(first, last + 1):
            out[k] = viseme
    return out


def _coefficient(tau_s: float, fps: float) -> float:
    # One-pole smoothing factor per frame for a time constant; tau 0 means "follow the target".
    return 1.0 if tau_s <= 0 else 1.0 - math.exp(-1.0 / (fps * tau_s))


def smooth_attack_release(target: np.ndarray, fps: float, attack_s: float, release_s: float) -> np.ndarray:
    """Asymmetric one-pole smoother: rises with ``attack_s``, falls with ``release_s``."""
    up, down = _coefficient(attack_s, fps), _coefficient(release_s, fps)
    out = np.empty_like(target, dtype=np.float64)
    value = 0.0
    for k, goal in enumerate(target):
        value += (up if goal > value else down) * (goal - value)
        out[k] = value
    return out


def mouth_track(
    features: FrameFeatures,
    fps: float,
    settings: VisemeSettings,
    timings: Sequence[Timing] = (),
) -> list[MouthShape]:
    """One MouthShape per frame; frames of silence are exactly CLOSED."""
    n = len(features.rms)
    if n == 0:
        return []
    rms = features.rms.astype(np.float64)
    floor = 10.0 ** (settings.gate_db / 20.0)
    voiced = rms[rms > floor]
    if voiced.size == 0:
        return [CLOSED] * n
    loud = float(np.percentile(voiced, 90))
    gate = max(floor, settings.relative_gate * loud)
    if loud <= gate:
        loud = gate * 2.0
    # Linear in RMS above the gate: the jaw follows loudness, syllable by syllable.
    level = np.clip((rms - gate) / (loud - gate), 0.0, 1.0)

    visemes = timing_visemes(timings, fps, n)
    if visemes is not None:
        scale = np.array([v.open_scale for v in visemes])
        wide = np.array([v.wide for v in visemes])
        rnd = np.array([v.round for v in visemes])
    else:
        # Spectral cues: energy above 2.2 kHz spreads the lips (i, e, s); low-heavy spectra round them (o, u).
        scale = np.ones(n)
        wide = np.clip((features.high + 0.5 * features.mid - 0.25) / 0.4, 0.0, 1.0)
        rnd = np.clip((features.low - 0.65) / 0.25, 0.0, 1.0) * (1.0 - wide)
    open_target = level * scale * settings.max_open
    # Lips move a little ahead of the sound: blend in half of the next frame's opening (coarticulation).
    ahead = np.append(open_target[1:], 0.0)
    open_target = np.maximum(open_target, 0.5 * ahead)

    opening = smooth_attack_release(open_target, fps, settings.attack_s, settings.release_s)
    wide_s = smooth_attack_release(wide, fps, settings.release_s, settings.release_s)
    round_s = smooth_attack_release(rnd, fps, settings.release_s, settings.release_s)
    if settings.end_taper_frames:
        # The utterance hands back to the idle loop with a closed mouth even when the audio stops abruptly.
        taper = np.clip((n - 1 - np.arange(n)) / settings.end_taper_frames, 0.0, 1.0)
        opening *= taper
    opening[opening < 0.02] = 0.0
    # Spread/rounding only show while the lips are apart, so a shut mouth is exactly CLOSED.
    presence = np.clip(opening / 0.1, 0.0, 1.0)
    wide_s *= presence
    round_s *= presence
    return [
        CLOSED if o == 0.0 else MouthShape(open=float(o), wide=float(w), round=float(r))
        for o, w, r in zip(opening, wide_s, round_s)
    ]
