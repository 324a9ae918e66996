"""`GET /metrics`: Prometheus text. One registry per server (tests run several in one process). Counters and
histograms are fed when a stream ends; active streams and cache hit rates are read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..contract import RequestMetrics

if TYPE_CHECKING:
    from ..engines.cache import LruCache

_TTFA_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
_RTF_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0)
_CANCEL_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Live(Collector):
    def __init__(self, active: Callable[[], int], caches: Callable[[], list[tuple[str, LruCache[Any]]]]) -> None:
        self.active = active
        self.caches = caches

    def collect(self) -> Iterator[Any]:
        active = GaugeMetricFamily("voicetrace_active_streams", "Streams being produced now")
        active.add_metric([], self.active())
        yield active
        ratio = GaugeMetricFamily("voicetrace_cache_hit_ratio", "Hits / lookups per engine cache",
                                  labels=["engine", "cache"])
        lookups = GaugeMetricFamily("voicetrace_cache_lookups", "Lookups per engine cache",
                                    labels=["engine", "cache"])
        for eid, cache in self.caches():
            if cache.lookups:
                ratio.add_metric([eid, cache.name], cache.hits / cache.lookups)
            lookups.add_metric([eid, cache.name], cache.lookups)
        yield ratio
        yield lookups


class ServerMetrics:
    def __init__(self, active: Callable[[], int], caches: Callable[[], list[tuple[str, LruCache[Any]]]]) -> None:
        """`active`: how many streams run now; `caches`: (engine id, cache) pairs — both read at scrape time."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("voicetrace_requests", "Streams by engine, transport and outcome",
                                ["engine", "transport", "outcome"], registry=r)
        self.rejected_total = Counter("voicetrace_rejected", "Requests refused before streaming",
                                      ["transport", "code"], registry=r)
        self.ttfa = Histogram("voicetrace_server_ttfa_seconds", "Request received → first chunk handed to "
                              "the transport", ["engine"], buckets=_TTFA_BUCKETS, registry=r)
        self.rtf = Histogram("voicetrace_rtf", "Engine compute time / audio produced, per stream", ["engine"],
                             buckets=_RTF_BUCKETS, registry=r)
        self.cancels = Counter("voicetrace_cancels", "Streams cancelled by their client", ["engine"], registry=r)
        self.cancel_idle = Histogram("voicetrace_cancel_to_idle_seconds", "Cancel received → engine idle",
                                     ["engine"], buckets=_CANCEL_BUCKETS, registry=r)
        self.started_total = Counter("voicetrace_streams_started", "Streams admitted", registry=r)
        r.register(_Live(active, caches))

    def started(self) -> None:
        self.started_total.inc()

    def rejected(self, transport: str, code: str) -> None:
        self.rejected_total.labels(transport, code).inc()

    def cancelled(self, engine: str, to_idle_s: float) -> None:
        self.cancels.labels(engine).inc()
        self.cancel_idle.labels(engine).observe(to_idle_s)

    def ended(self, engine: str, transport: str, outcome: str, record: RequestMetrics) -> None:
        """A stream ended (`outcome`: done | cancelled | aborted | failed) with this record."""
        self.requests.labels(engine, transport, outcome).inc()
        if record.first_chunk_ms is not None:  # the server's TTFA: the first chunk handed to the transport
            self.ttfa.labels(engine).observe(record.first_chunk_ms / 1000)
        if record.rtf is not None and outcome == "done":
            self.rtf.labels(engine).observe(record.rtf)

    def text(self) -> bytes:
        return bytes(generate_latest(self.registry))
