"""A local websocket peer speaking edge-tts's protocol (for tests and benchmarks; 127.0.0.1 only).

Protocol as the edge-tts client expects it (edge_tts/communicate.py): the client sends two text frames,
``Path:speech.config`` (JSON) and ``Path:ssml`` (SSML); the service answers with text frames
``Path:turn.start``, ``Path:audio.metadata`` (WordBoundary offsets/durations in 100-ns ticks) and
``Path:turn.end``, and binary frames of a 2-byte big-endian header length, the headers
(``Path:audio``, ``Content-Type:audio/mpeg``) and MP3 bytes (24 kHz mono, 48 kbit/s).
The audio is a tone per word, so tests can check durations and timings exactly.
"""
from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import unescape

import av
import numpy as np
from aiohttp import WSMsgType, web

PATH = "/consumer/speech/synthesize/readaloud/edge/v1"
TICKS = 10_000_000
RATE = 24000
WORD_S = 0.25
GAP_S = 0.05
LEAD_S = 0.1


def tone_mp3(words: int) -> tuple[bytes, float]:
    """MP3 (24 kHz mono 48 kbit/s) with a tone per word; returns the bytes and the PCM duration."""
    pieces = [np.zeros(int(LEAD_S * RATE), np.float32)]
    for k in range(words):
        t = np.arange(int(WORD_S * RATE)) / RATE
        pieces.append((0.3 * np.sin(2 * np.pi * (300 + 40 * (k % 8)) * t)).astype(np.float32))
        pieces.append(np.zeros(int(GAP_S * RATE), np.float32))
    pcm = np.concatenate(pieces)
    buf = io.BytesIO()
    # Raw MP3 frames like the service sends: no ID3 tag, no Xing header.
    with av.open(buf, "w", format="mp3", options={"id3v2_version": "0", "write_xing": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="mono")
        stream.bit_rate = 48000
        frame_size = 1152
        for start in range(0, len(pcm), frame_size):
            block = pcm[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue(), len(pcm) / RATE


def split_words(text: str) -> list[str]:
    """Whitespace words; Chinese characters count one each."""
    words: list[str] = []
    for token in text.split():
        words.extend(re.findall(r"[\u4e00-\u9fff]|[^\u4e00-\u9fff]+", token))
    return [w for w in words if w.strip()]


def _text_frame(request_id: str, path: str, body: str, content_type: str = "application/json; charset=utf-8") -> str:
    return f"X-RequestId:{request_id}\r\nContent-Type:{content_type}\r\nPath:{path}\r\n\r\n{body}"


def _audio_frame(request_id: str, data: bytes, with_type: bool = True) -> bytes:
    headers = f"X-RequestId:{request_id}\r\n" + ("Content-Type:audio/mpeg\r\n" if with_type else "") + "Path:audio\r\n"
    raw = headers.encode()
    return len(raw).to_bytes(2, "big") + raw + data


@dataclass
class SynthesisRequest:
    """What one client connection asked for."""

    query: dict[str, str]
    headers: dict[str, str]
    config: dict
    voice: str
    prosody: dict[str, str]
    text: str


@dataclass
class EdgeTtsServer:
    """``mode``: 'ok' | 'hang' (accept, never answer) | 'forbidden' (HTTP 403) | 'drop' (close after some audio)."""

    mode: str = "ok"
    chunk_bytes: int = 4096
    frame_delay_s: float = 0.0
    requests: list[SynthesisRequest] = field(default_factory=list)
    connections: int = 0
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        """The wss_url to configure (plain ws:// on 127.0.0.1)."""
        return f"ws://127.0.0.1:{self.port}{PATH}?TrustedClientToken=6A5AA1D4EAFF4E9FB37E23D68491D6F4"

    async def start(self) -> EdgeTtsServer:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._closing.clear()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0 -> real port
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        for key in ("TrustedClientToken", "ConnectionId", "Sec-MS-GEC", "Sec-MS-GEC-Version"):
            if key not in request.query:
                return web.Response(status=400, text=f"missing {key}")
        if self.mode == "forbidden":
            return web.Response(status=403, text="forbidden")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if self.mode == "hang":
            await self._closing.wait()
            return ws
        config: dict = {}
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            head, _, body = msg.data.partition("\r\n\r\n")
            headers = dict(line.split(":", 1) for line in head.split("\r\n") if ":" in line)
            if headers.get("Path") == "speech.config":
                config = json.loads(body)
            elif headers.get("Path") == "ssml":
                await self._answer(ws, request, headers, config, body)
                if self.mode == "drop":
                    break
        await ws.close()
        return ws

    async def _answer(self, ws: web.WebSocketResponse, request: web.Request, headers: dict, config: dict, ssml: str):
        voice = re.search(r"<voice name='([^']*)'>", ssml)
        prosody = re.search(r"<prosody pitch='([^']*)' rate='([^']*)' volume='([^']*)'>(.*)</prosody>", ssml, re.S)
        text = unescape(prosody.group(4)) if prosody else ""
        self.requests.append(
            SynthesisRequest(
                dict(request.query), dict(request.headers), config, voice.group(1) if voice else "",
                {"pitch": prosody.group(1), "rate": prosody.group(2), "volume": prosody.group(3)} if prosody else {},
                text,
            )
        )
        rid = headers.get("X-RequestId", uuid.uuid4().hex)
        words = split_words(text)
        mp3, _ = await asyncio.to_thread(tone_mp3, len(words))
        await ws.send_str(_text_frame(rid, "turn.start", '{"context":{"serviceTag":"local"}}'))
        wants_words = (
            config.get("context", {}).get("synthesis", {}).get("audio", {}).get("metadataoptions", {})
            .get("wordBoundaryEnabled") == "true"
        )
        if wants_words:
            for k, word in enumerate(words):
                offset = int((LEAD_S + k * (WORD_S + GAP_S)) * TICKS)
                meta = {"Metadata": [{"Type": "WordBoundary", "Data": {
                    "Offset": offset, "Duration": int(WORD_S * TICKS),
                    "text": {"Text": word, "Length": len(word), "BoundaryType": "WordBoundary"}}}]}
                await ws.send_str(_text_frame(rid, "audio.metadata", json.dumps(meta)))
        chunks = [mp3[i : i + self.chunk_bytes] for i in range(0, len(mp3), self.chunk_bytes)]
        for index, chunk in enumerate(chunks):
            if self.mode == "drop" and index >= max(1, len(chunks) // 2):
                return
            await ws.send_bytes(_audio_frame(rid, chunk))
            if self.frame_delay_s:
                await asyncio.sleep(self.frame_delay_s)
        await ws.send_bytes(_audio_frame(rid, b"", with_type=False))
        await ws.send_str(_text_frame(rid, "turn.end", "{}"))


async def main() -> None:
    """Run a server for manual checks: `python -m tests.edge_tts_server`."""
    server = await EdgeTtsServer().start()
    print(server.url, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
