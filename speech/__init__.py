"""Speech: TTS engines behind a fallback chain (speech.tts.build_tts), text normalization, and ASR (speech.asr_source)."""
