"""Prometheus figures of the host (served by the console at /metrics).

Two kinds of figures, one registry:
- stream figures (frames, late frames, sinks, queue depths) are read from a HealthSnapshot at scrape
  time, so the real-time core never pays for metrics;
- event figures (LLM/TTS latency and errors, moderation verdicts, chat events, utterances, pipeline
  stage latency) are fed by the host as things happen through the ``observe_*``/``count_*`` methods.
Each HostMetrics has its own CollectorRegistry, so several hosts (or tests) in one process never clash.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from host.console.backend import HealthSnapshot

log = logging.getLogger("host.metrics")

SINK_STATES = ("idle", "connecting", "publishing", "reconnecting", "stopped", "failed")  # streamer/health.py
# Latency buckets from 25 ms to 30 s: first LLM tokens and TTS chunks live in 0.1-3 s.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class _SnapshotCollector(Collector):
    """Turns the host's HealthSnapshot into metric families at each scrape."""

    def __init__(self, prefix: str, read: Callable[[], HealthSnapshot | None]):
        self._p = prefix
        self._read = read

    def collect(self) -> Iterator[Metric]:
        p = self._p
        up = GaugeMetricFamily(f"{p}_health_up", "1 when the host's health snapshot could be read")
        try:
            snap = self._read()
        except Exception:  # a broken snapshot must not break the scrape of everything else
            log.exception("health snapshot failed")
            snap = None
        up.add_metric([], 1.0 if snap is not None else 0.0)
        yield up
        if snap is None:
            return
        yield _gauge(f"{p}_on_air", "1 while the stream engine is running", float(snap.on_air))
        yield _counter(f"{p}_frames", "video frames sent", snap.frames)
        yield _counter(f"{p}_late_frames", "frames whose content was late (idle/held frame sent)", snap.late_frames)
        yield _counter(f"{p}_held_frames", "frames repeated because rendering fell behind", snap.held_frames)
        yield _gauge(f"{p}_media_time_seconds", "pts of the last frame sent", snap.media_time_s)
        yield _gauge(f"{p}_uptime_seconds", "seconds since the stream engine started", snap.uptime_s)
        if snap.last_frame_age_s is not None:
            yield _gauge(f"{p}_last_frame_age_seconds", "seconds since the last frame went out", snap.last_frame_age_s)
        yield _gauge(f"{p}_paused", "1 while the director is paused by an admin", float(snap.paused))
        yield _gauge(f"{p}_speaking", "1 while an utterance is on air", float(bool(snap.speaking)))
        yield _gauge(f"{p}_muted_users", "viewers muted by admins", float(snap.muted_users))

        labels = ["sink", "kind"]
        state = GaugeMetricFamily(f"{p}_sink_state", "1 for the sink's current state", labels=labels + ["state"])
        sink_up = GaugeMetricFamily(f"{p}_sink_up", "1 while the sink is publishing", labels=labels)
        reconnects = CounterMetricFamily(f"{p}_sink_reconnects", "reconnect attempts of the sink", labels=labels)
        depth = GaugeMetricFamily(f"{p}_sink_queue_depth", "packets waiting in the sink's queue", labels=labels)
        dropped = CounterMetricFamily(f"{p}_sink_dropped_packets", "packets the sink dropped", labels=labels)
        sent = CounterMetricFamily(f"{p}_sink_bytes", "bytes the sink wrote", labels=labels)
        for sink in snap.sinks:
            key = [sink.name, sink.kind]
            for s in SINK_STATES if sink.state in SINK_STATES else (*SINK_STATES, sink.state):
                state.add_metric(key + [s], 1.0 if s == sink.state else 0.0)
            sink_up.add_metric(key, 1.0 if sink.state == "publishing" else 0.0)
            reconnects.add_metric(key, sink.reconnects)
            depth.add_metric(key, sink.queue_depth)
            dropped.add_metric(key, sink.dropped_packets)
            sent.add_metric(key, sink.bytes_out)
        yield from (state, sink_up, reconnects, depth, dropped, sent)

        queues = GaugeMetricFamily(f"{p}_queue_depth", "items waiting in the host's queues", labels=["queue"])
        for name, n in sorted(snap.queues.items()):
            queues.add_metric([name], float(n))
        yield queues

        # Further numeric engine figures (segments_interrupted, encode_ms_per_frame, clock_resyncs, ...).
        for key, value in sorted(snap.extra.items()):
            name = _METRIC_NAME.sub("_", key).strip("_")
            if name and isinstance(value, (int, float)) and not isinstance(value, bool):
                yield _gauge(f"{p}_stream_{name}", f"stream engine figure {key}", float(value))


class _DictCollector(Collector):
    """One labelled family read from a ``{label value: number}`` function at each scrape."""

    def __init__(self, name: str, read: Callable[[], dict], label: str, doc: str, counter: bool):
        self._name, self._read, self._label, self._doc, self._counter = name, read, label, doc, counter

    def collect(self) -> Iterator[Metric]:
        try:
            values = self._read() or {}
        except Exception:
            log.exception("metrics source failed", extra={"metric": self._name})
            return
        cls = CounterMetricFamily if self._counter else GaugeMetricFamily
        family = cls(self._name, self._doc, labels=[self._label])
        for key, value in sorted(values.items(), key=lambda kv: str(kv[0])):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                family.add_metric([str(key)], float(value))
        yield family


_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class HostMetrics:
    """The host's Prometheus registry: bind a health reader once, feed events as they happen."""

    def __init__(
        self,
        health: Callable[[], HealthSnapshot | None] | None = None,
        *,
        prefix: str = "livehost",
        process: bool = True,
    ):
        self.registry = CollectorRegistry(auto_describe=True)
        self._health = health
        self._prefix = prefix
        self.registry.register(_SnapshotCollector(prefix, self._read_health))
        if process:  # RSS, CPU seconds, open fds: what a month-long soak watches
            ProcessCollector(registry=self.registry)
        p, r = prefix, self.registry
        self.llm_first_token = Histogram(
            f"{p}_llm_first_token_seconds", "request to first streamed token", ["provider"], registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.llm_total = Histogram(
            f"{p}_llm_response_seconds", "request to last token", ["provider"], registry=r, buckets=LATENCY_BUCKETS
        )
        self.llm_errors = Counter(f"{p}_llm_errors", "LLM requests that failed", ["provider", "error"], registry=r)
        self.tts_first_chunk = Histogram(
            f"{p}_tts_first_chunk_seconds", "text to first audio chunk", ["engine"], registry=r, buckets=LATENCY_BUCKETS
        )
        self.tts_errors = Counter(f"{p}_tts_errors", "TTS requests that failed", ["engine", "error"], registry=r)
        self.stage_latency = Histogram(
            f"{p}_stage_seconds", "time spent per pipeline stage of an answer", ["stage"], registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.moderation = Counter(
            f"{p}_moderation_verdicts", "moderation verdicts by outcome and reason", ["verdict", "reason"], registry=r
        )
        self.chat_events = Counter(f"{p}_chat_events", "chat events received", ["kind", "source"], registry=r)
        self.chat_skipped = Counter(
            f"{p}_chat_skipped", "malformed or unknown chat messages skipped", ["source", "reason"], registry=r
        )
        self.utterances = Counter(f"{p}_utterances", "utterances by priority and outcome", ["priority", "outcome"],
                                  registry=r)
        self.admin_commands = Counter(f"{p}_admin_commands", "admin commands run", ["action", "ok"], registry=r)
        self.queue_gauge = Gauge(f"{p}_event_queue_depth", "queue depths set by the host as they change",
                                 ["queue"], registry=r)

    def bind_health(self, health: Callable[[], HealthSnapshot | None]) -> None:
        """Set (or replace) the function read at each scrape for the stream figures."""
        self._health = health

    def add_counters(self, name: str, read: Callable[[], dict], *, label: str = "key", doc: str = "") -> None:
        """Export counters the host already keeps, read at each scrape: ``read() -> {label value: number}``.

        E.g. ``add_counters("chat_pipeline", lambda: chat.counts, label="outcome")`` gives
        ``livehost_chat_pipeline_total{outcome="skipped:ad"}``. Non-numeric values are left out.
        """
        self.registry.register(_DictCollector(f"{self._prefix}_{name}", read, label, doc or name, counter=True))

    def add_gauges(self, name: str, read: Callable[[], dict], *, label: str = "key", doc: str = "") -> None:
        """Like add_counters, for values that go up and down (queue depths, viewers online)."""
        self.registry.register(_DictCollector(f"{self._prefix}_{name}", read, label, doc or name, counter=False))

    def _read_health(self) -> HealthSnapshot | None:
        return self._health() if self._health is not None else None

    # ---- event feeders (cheap; call from anywhere, prometheus_client is thread-safe) ---------------

    def observe_llm(self, provider: str, *, first_token_s: float | None = None, total_s: float | None = None,
                    error: str | None = None) -> None:
        """One LLM request: its latencies when it worked, or the error class name when it failed."""
        if error is not None:
            self.llm_errors.labels(provider, error).inc()
        if first_token_s is not None:
            self.llm_first_token.labels(provider).observe(first_token_s)
        if total_s is not None:
            self.llm_total.labels(provider).observe(total_s)

    def observe_tts(self, engine: str, *, first_chunk_s: float | None = None, error: str | None = None) -> None:
        """One TTS request: first-chunk latency, or the error (a fallback engine then reports its own)."""
        if error is not None:
            self.tts_errors.labels(engine, error).inc()
        if first_chunk_s is not None:
            self.tts_first_chunk.labels(engine).observe(first_chunk_s)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Latency breakdown of an answer: queue, llm, tts, render, encode (names are free)."""
        self.stage_latency.labels(stage).observe(seconds)

    def count_moderation(self, allowed: bool, reason: str) -> None:
        self.moderation.labels("allowed" if allowed else "blocked", reason or "ok").inc()

    def count_chat_event(self, kind: str, source: str) -> None:
        self.chat_events.labels(kind, source).inc()

    def count_chat_skipped(self, source: str, reason: str) -> None:
        self.chat_skipped.labels(source, reason).inc()

    def count_utterance(self, priority: str, outcome: str) -> None:
        """outcome: done | interrupted | dropped (stale)."""
        self.utterances.labels(priority, outcome).inc()

    def count_admin(self, action: str, ok: bool) -> None:
        self.admin_commands.labels(action, "true" if ok else "false").inc()

    def set_queue_depth(self, queue: str, depth: int) -> None:
        self.queue_gauge.labels(queue).set(depth)

    # ---- exposition -----------------------------------------------------------------------------

    content_type = CONTENT_TYPE_LATEST

    def exposition(self) -> bytes:
        """The Prometheus text format of every figure."""
        return generate_latest(self.registry)
