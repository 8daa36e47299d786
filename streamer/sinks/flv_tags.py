"""Split an FLV byte stream into tags, and re-stamp tags for a viewer who joined late.

The HTTP-FLV preview lets FFmpeg's FLV muxer write the bytes (it knows how to pack avcC/ASC and
NAL units), then cuts its output at tag boundaries: a new viewer needs the file header, the
metadata and the two sequence-header tags, then tags from a keyframe on, and nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass

FLV_HEADER_LEN = 9 + 4  # "FLV" header + PreviousTagSize0
TAG_HEADER_LEN = 11
AUDIO, VIDEO, SCRIPT = 8, 9, 18


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One complete tag including its trailing PreviousTagSize field."""

    type: int
    timestamp: int  # ms
    raw: bytes

    @property
    def is_keyframe(self) -> bool:
        """A video keyframe carrying a picture (the AVC sequence header is not one)."""
        return (
            self.type == VIDEO
            and len(self.raw) > TAG_HEADER_LEN + 1
            and (self.raw[TAG_HEADER_LEN] >> 4) == 1
            and not self.is_sequence_header
        )

    @property
    def is_sequence_header(self) -> bool:
        """AVC or AAC sequence header (decoder configuration), which every viewer needs first."""
        if self.type not in (AUDIO, VIDEO) or len(self.raw) < TAG_HEADER_LEN + 2:
            return False
        first, packet_type = self.raw[TAG_HEADER_LEN], self.raw[TAG_HEADER_LEN + 1]
        if self.type == VIDEO:
            return (first & 0x0F) == 7 and packet_type == 0
        return (first >> 4) == 10 and packet_type == 0

    def restamped(self, timestamp: int) -> bytes:
        """The tag bytes with ``timestamp`` (ms) written in."""
        ts = max(0, timestamp) & 0xFFFFFFFF
        buf = bytearray(self.raw)
        buf[4:7] = (ts & 0xFFFFFF).to_bytes(3, "big")
        buf[7] = ts >> 24
        return bytes(buf)


class FlvTagSplitter:
    """Feed it bytes as the muxer writes them; it returns the file header once, then whole tags."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.header: bytes | None = None

    def feed(self, data: bytes) -> list[FlvTag]:
        self._buf += data
        tags: list[FlvTag] = []
        if self.header is None:
            if len(self._buf) < FLV_HEADER_LEN:
                return tags
            if self._buf[:3] != b"FLV":
                raise ValueError("not an FLV stream")
            offset = int.from_bytes(self._buf[5:9], "big")
            if len(self._buf) < offset + 4:
                return tags
            self.header = bytes(self._buf[: offset + 4])
            del self._buf[: offset + 4]
        pos = 0
        buf = self._buf
        while len(buf) - pos >= TAG_HEADER_LEN:
            size = int.from_bytes(buf[pos + 1 : pos + 4], "big")
            end = pos + TAG_HEADER_LEN + size + 4
            if len(buf) < end:
                break
            ts = int.from_bytes(buf[pos + 4 : pos + 7], "big") | (buf[pos + 7] << 24)
            tags.append(FlvTag(buf[pos] & 0x1F, ts, bytes(buf[pos:end])))
            pos = end
        del buf[:pos]
        return tags
