"""espeak-ng 1.52 (from the espeakng-loader package) through ctypes, with word and phoneme (IPA) timings.

Mixed Chinese/English text is cut into script runs; each run is spoken with the voice for its language.
"""
from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lipsync.base import Timing
from speech.script_split import split_by_script
from speech.sentences import split_sentences
from speech.settings import EspeakSettings
from speech.tts_base import EngineAudio, EngineRequest, ThreadedEngine, TtsError, register_engine

log = logging.getLogger(__name__)

# espeak_AUDIO_OUTPUT, initialize options, synth flags, events and parameters from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_EV_LIST_TERMINATED, _EV_WORD, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 0, 1, 5, 6, 7
_PARAM_RATE, _PARAM_PITCH = 1, 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class EspeakLibrary:
    """The process-wide libespeak-ng (its state is global): one lock around every call."""

    _instance: EspeakLibrary | None = None
    _instance_lock = threading.Lock()

    def __init__(self, library: str, data_path: str) -> None:
        try:
            self.lib = ctypes.CDLL(library)
        except OSError as exc:
            raise TtsError(f"cannot load libespeak-ng from {library} (speech.espeak.library): {exc}") from None
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        # espeak-ng's data path is the folder *containing* espeak-ng-data, or that folder itself in 1.52.
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 200, data_path.encode(), _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        )
        if rate <= 0:
            raise TtsError(f"espeak_Initialize failed with data path {data_path} (speech.espeak.data_path)")
        self.sample_rate = int(rate)
        self.lock = threading.Lock()
        self._samples: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._cancel: threading.Event | None = None
        self._callback = _Callback(self._on_audio)  # kept referenced: espeak holds a raw pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls, settings: EspeakSettings) -> EspeakLibrary:
        """The shared instance, loaded on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                library, data_path = settings.library, settings.data_path
                if library is None or data_path is None:
                    try:
                        import espeakng_loader
                    except ImportError:
                        raise TtsError(
                            "espeak engine needs the espeakng-loader package (pip install espeakng-loader) "
                            "or speech.espeak.library and speech.espeak.data_path"
                        ) from None
                    library = library or espeakng_loader.get_library_path()
                    data_path = data_path or espeakng_loader.get_data_path()
                if not Path(data_path).is_dir():
                    raise TtsError(f"espeak-ng data folder not found: {data_path} (speech.espeak.data_path)")
                cls._instance = cls(library, data_path)
            return cls._instance

    def _on_audio(self, wav, count, events) -> int:  # noqa: ANN001 - ctypes callback
        if count > 0 and wav:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EV_WORD, _EV_PHONEME, _EV_END):
                name = ev.id.string.decode("utf-8", "replace") if ev.type == _EV_PHONEME else ""
                self._events.append((ev.type, ev.audio_position, ev.text_position, ev.length, name))
            i += 1
        return 1 if (self._cancel is not None and self._cancel.is_set()) else 0

    def set_voice(self, voice: str) -> bool:
        """Select ``voice``; False when espeak does not know it. Call with ``lock`` held."""
        return self.lib.espeak_SetVoiceByName(voice.encode()) == 0

    def synth(
        self, text: str, voice: str, rate_wpm: int, pitch: int, cancel: threading.Event
    ) -> tuple[np.ndarray, list[tuple[int, int, int, int, str]]]:
        """int16 samples and raw events (type, ms, char position, length, phoneme) for one run of text."""
        with self.lock:
            if not self.set_voice(voice):
                raise TtsError(f"espeak has no voice '{voice}' (speech.espeak.voice_zh / voice_en)")
            self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
            self._samples, self._events, self._cancel = [], [], cancel
            data = text.encode("utf-8") + b"\0"
            err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            samples, events = self._samples, self._events
            self._samples, self._events, self._cancel = [], [], None
        if err != 0 and not cancel.is_set():
            raise TtsError(f"espeak_Synth failed with error {err}")
        audio = np.concatenate(samples) if samples else np.zeros(0, dtype=np.int16)
        return audio, events


def _timings(
    text: str, events: list[tuple[int, int, int, int, str]], offset_s: float, duration_s: float
) -> list[Timing]:
    """Word and phoneme timings (seconds from utterance start) from espeak's events for one run."""
    out: list[Timing] = []
    phonemes = [(ms, name) for kind, ms, _, _, name in events if kind == _EV_PHONEME]
    for k, (ms, name) in enumerate(phonemes):
        end_ms = phonemes[k + 1][0] if k + 1 < len(phonemes) else duration_s * 1000
        if name.strip() and end_ms > ms:
            out.append(Timing(offset_s + ms / 1000, offset_s + end_ms / 1000, name.strip(), "phoneme"))
    words = [(ms, pos, length) for kind, ms, pos, length, _ in events if kind == _EV_WORD]
    ends = [ms for kind, ms, *_ in events if kind == _EV_END]
    for k, (ms, pos, length) in enumerate(words):
        nxt = [w[0] for w in words[k + 1 :]] + [e for e in ends if e > ms] + [duration_s * 1000]
        word = text[pos - 1 : pos - 1 + length].strip()
        end_ms = min(nxt)
        if word and end_ms > ms:
            out.append(Timing(offset_s + ms / 1000, offset_s + end_ms / 1000, word, "word"))
    return out


class EspeakEngine(ThreadedEngine):
    """Offline robotic voice for zh (cmn) and en; always available, so the last resort of the chain."""

    name = "espeak"
    languages = frozenset({"zh", "en"})

    def __init__(self, settings: EspeakSettings) -> None:
        super().__init__()
        self.settings = settings
        self.library = EspeakLibrary.get(settings)

    def default_voice(self, language: str) -> str:
        return self.settings.voice_zh if language == "zh" else self.settings.voice_en

    def accepts_voice(self, voice: str) -> bool:
        with self.library.lock:
            return self.library.set_voice(voice)

    def cache_tag(self) -> str:
        s = self.settings  # both voices: a mixed sentence uses the other language's voice for its other runs
        return f"rate={s.rate_wpm},pitch={s.pitch},zh={s.voice_zh},en={s.voice_en}"

    def _voice_for(self, run_language: str, request: EngineRequest) -> str:
        """The request's voice for runs in its own language; the configured one for the other script."""
        if run_language == request.language:
            return request.voice
        return self.default_voice(run_language)

    def synthesize_blocking(self, request: EngineRequest) -> Iterator[EngineAudio]:
        rate = self.library.sample_rate
        produced = 0
        for sentence in split_sentences(request.text):
            pieces: list[np.ndarray] = []
            timings: list[Timing] = []
            for run in split_by_script(sentence):
                offset_s = (produced + sum(len(p) for p in pieces)) / rate
                audio, events = self.library.synth(
                    run.text, self._voice_for(run.language, request), self.settings.rate_wpm, self.settings.pitch,
                    request.cancel,
                )
                if request.cancel.is_set():
                    return
                timings.extend(_timings(run.text, events, offset_s, len(audio) / rate))
                pieces.append(audio)
            if not pieces:
                continue
            audio = np.concatenate(pieces)
            produced += len(audio)
            timings.sort(key=lambda t: t.start)
            yield EngineAudio((audio.astype(np.float32) / 32768.0), rate, tuple(timings), self.name)


register_engine("espeak", lambda s: EspeakEngine(s.espeak))
