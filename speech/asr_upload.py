"""The console's microphone path: an aiohttp handler that turns posted audio into ASR text events.

POST a recorded utterance as the request body (audio/wav, audio/webm, audio/ogg, or multipart form
with one file field) -> {"text": ...}; or stream raw microphone PCM with
``Content-Type: audio/L16; rate=16000; channels=1`` (add ``?end=1`` on the last piece) -> {"events": [...]}.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import numpy as np
from aiohttp import web

from speech.asr import ASR_RATE, AsrError, resample_frames
from speech.asr_source import AsrEvent, AsrSource

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _event_json(event: AsrEvent) -> dict:
    return {"text": event.text, "start": round(event.start, 3), "end": round(event.end, 3), "source": event.source}


def _pcm_to_asr(raw: bytes, rate: int, channels: int) -> np.ndarray:
    """Little-endian int16 interleaved PCM -> float32 mono at 16 kHz."""
    import av

    usable = len(raw) - len(raw) % (2 * channels)
    data = np.frombuffer(raw[:usable], dtype="<i2").reshape(1, -1)
    if rate == ASR_RATE and channels == 1:
        return data.reshape(-1).astype(np.float32) / 32768.0
    frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono" if channels == 1 else "stereo")
    frame.sample_rate = rate
    return resample_frames([frame])


def _content_type_params(header: str) -> dict[str, str]:
    """'audio/L16; rate=48000; channels=2' -> {'rate': '48000', 'channels': '2'}."""
    params: dict[str, str] = {}
    for item in header.split(";")[1:]:
        key, _, value = item.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"')
    return params


async def _read_blob(request: web.Request, limit: int) -> bytes:
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.filename or (part.headers.get("Content-Type", "").startswith("audio/")):
                data = await part.read(decode=False)
                if len(data) > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
                return bytes(data)
        raise web.HTTPBadRequest(text="multipart upload without an audio file field")
    data = await request.read()
    return data


def asr_upload_route(asr_source: AsrSource) -> Handler:
    """aiohttp handler for POSTed microphone audio; recognized text also goes to ``asr_source``'s events.

    Mount it with ``app.router.add_post('/api/asr', asr_upload_route(source))`` and give the app a
    ``client_max_size`` of at least speech.asr.max_upload_mb.
    """
    limit = int(asr_source.settings.max_upload_mb * 1024 * 1024)

    async def handle_asr_upload(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        source = request.query.get("source", "console")
        try:
            if request.content_type.lower() in ("audio/l16", "audio/pcm"):
                params = _content_type_params(request.headers.get("Content-Type", ""))
                try:
                    rate = int(params.get("rate", request.query.get("rate", ASR_RATE)))
                    channels = int(params.get("channels", request.query.get("channels", 1)))
                except ValueError:
                    raise web.HTTPBadRequest(text="rate and channels must be integers") from None
                if channels not in (1, 2) or not 8000 <= rate <= 192000:
                    raise web.HTTPBadRequest(text="audio/L16 needs channels 1|2 and a rate of 8000..192000")
                raw = await request.read()
                events = await asr_source.push_pcm(_pcm_to_asr(raw, rate, channels), source)
                if request.query.get("end") in ("1", "true"):
                    events += await asr_source.end_pcm(source)
                return web.json_response({"events": [_event_json(e) for e in events]})
            blob = await _read_blob(request, limit)
            if not blob:
                raise web.HTTPBadRequest(text="empty audio upload")
            event = await asr_source.transcribe_blob(blob, source)
        except AsrError as exc:
            asr_source.errors += 1
            log.warning("audio upload rejected", extra={"error": str(exc)})
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"text": event.text if event else "", "event": _event_json(event) if event else None})

    return handle_asr_upload
