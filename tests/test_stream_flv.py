"""FLV tag splitting and the preview fan-out, on bytes from FFmpeg's real FLV muxer."""
from __future__ import annotations

import io

import av
import numpy as np

from streamer.sinks.flv_tags import AUDIO, SCRIPT, VIDEO, FlvTag, FlvTagSplitter
from streamer.sinks.http_flv_sink import VIEWER_MAX_TAGS, PreviewHub


def flv_bytes(frames: int = 60, fps: int = 25) -> bytes:
    """A small real FLV (H.264 GOP of 25 + AAC) written by FFmpeg."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="flv") as out:
        v = out.add_stream("libx264", rate=fps, options={"g": "25", "bf": "0", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        rng = np.random.default_rng(1)
        for n in range(frames):
            img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts = n
            out.mux(v.encode(f))
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1920 * 2), np.int16), format="s16", layout="stereo")
            af.sample_rate, af.pts = 48000, n * 1920
            out.mux(a.encode(af))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    return buf.getvalue()


def test_splitter_cuts_whole_tags_whatever_the_write_sizes():
    data = flv_bytes()
    whole = FlvTagSplitter()
    tags = whole.feed(data)
    assert whole.header[:3] == b"FLV" and len(whole.header) == 13
    assert tags[0].type == SCRIPT
    assert sum(len(t.raw) for t in tags) + len(whole.header) == len(data)
    dribble = FlvTagSplitter()
    pieces = []
    for i in range(0, len(data), 7):
        pieces += dribble.feed(data[i : i + 7])
    assert [t.raw for t in pieces] == [t.raw for t in tags]
    video = [t for t in tags if t.type == VIDEO and not t.is_sequence_header]
    keys = [t.timestamp for t in video if t.is_keyframe]
    assert keys[:3] == [keys[0], keys[0] + 1000, keys[0] + 2000]
    seq = [t for t in tags if t.is_sequence_header]
    assert sorted(t.type for t in seq) == [AUDIO, VIDEO]
    restamped = FlvTag(video[30].type, 0, video[30].restamped(123456789))
    assert FlvTagSplitter().feed(whole.header + restamped.raw)[0].timestamp == 123456789


def test_a_late_viewer_starts_at_a_keyframe_from_zero_and_a_stuck_one_resyncs():
    splitter = FlvTagSplitter()
    tags = splitter.feed(flv_bytes(frames=75))
    hub = PreviewHub()
    early = hub.subscribe()  # before the header: greeted when it arrives
    hub.publish(splitter.header, tags[:40])
    late = hub.subscribe()  # mid-GOP
    hub.publish(None, tags[40:])
    for viewer in (early, late):
        got = FlvTagSplitter()
        out = got.feed(viewer.read(0.1))
        assert got.header == splitter.header
        assert out[0].type == SCRIPT and all(t.is_sequence_header for t in out[1:3])
        media = out[3:]
        assert media[0].type == VIDEO and media[0].is_keyframe and media[0].timestamp == 0
        assert all(b.timestamp >= 0 for b in media)
    # a viewer that never reads loses tags up to the next keyframe instead of growing without bound
    stuck = hub.subscribe()
    keyframe = next(t for t in tags if t.is_keyframe)
    filler = next(t for t in tags if t.type == VIDEO and not t.is_keyframe and not t.is_sequence_header)
    hub.publish(None, [keyframe] + [filler] * (VIEWER_MAX_TAGS + 5))
    assert stuck.dropped > 0 and stuck.base_ts is None
    hub.publish(None, [keyframe])
    assert stuck.base_ts == keyframe.timestamp
    stuck.close()
    assert stuck not in hub.viewers
    assert stuck.read(0) and stuck.read(0) is None  # what was queued, then the end
