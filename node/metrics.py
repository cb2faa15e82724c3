"""``GET /metrics``: the running node in Prometheus text format (docs/operators.md §metrics).

Counters kept in memory since the node started (rates come from Prometheus' ``rate()``):
events stored by origin, rejections by reason code, duplicates, quarantined. Gauges read at
scrape time from the store: events by kind, records by status, tombstones, and per peer the
persisted sync state (last success, consecutive failures, lag, in sync, traffic).

The endpoint takes the same bearer token as the local API; point Prometheus at it with
``authorization: {credentials_file: HOME/api.token}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from node import __version__
from node.federation.peers import inbound_states, peer_states
from node.service import NodeService
from node.storage import Outcome, OutcomeStatus, Store
from protocol import Event, Level

__all__ = ["IngestMeter", "install", "render"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class IngestMeter:
    """Counts what the running node's store does with events, for the counters above."""

    def __init__(self) -> None:
        self.stored: Counter[str] = Counter()  # origin ("peer" or "local") → events
        self.stored_by_kind: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()  # reason code → events
        self.duplicate = 0
        self.quarantined = 0

    def on_commit(self, events: list[Event], origin: bytes | None) -> None:
        self.stored["peer" if origin is not None else "local"] += len(events)
        self.stored_by_kind.update(event.kind for event in events)

    def on_outcomes(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status is OutcomeStatus.REJECTED:
                self.rejected[outcome.code.value if outcome.code else "unknown"] += 1
            elif outcome.status is OutcomeStatus.DUPLICATE:
                self.duplicate += 1
            elif outcome.status is OutcomeStatus.QUARANTINED:
                self.quarantined += 1

    def attach(self, store: Store) -> None:
        """Listen to commits, and see every ingest's outcomes.

        The store has no outcome hook (yet), so its ``ingest`` is wrapped on this instance:
        every path events arrive by (peer rounds, push streams, pushes to us, bundles
        imported by this process) goes through it, and nothing else changes.
        """
        store.add_listener(self.on_commit)
        original = store.ingest

        async def counted(wires: Sequence[bytes], origin: bytes | None = None) -> list[Outcome]:
            outcomes = await original(wires, origin)
            self.on_outcomes(outcomes)
            return outcomes

        store.ingest = counted  # type: ignore[method-assign]  # see the docstring


METER = web.AppKey("aidnode.meter", IngestMeter)


# key in the per-peer values, family, metric name (after aidnode_peer_), help text
_PEER_METRICS: tuple[tuple[str, type[GaugeMetricFamily | CounterMetricFamily], str, str], ...] = (
    ("up", GaugeMetricFamily, "up", "1 if the last round with the peer succeeded."),
    ("in_sync", GaugeMetricFamily, "in_sync", "1 if the last round ended with equal event sets."),
    (
        "last_success",
        GaugeMetricFamily,
        "last_success_timestamp_seconds",
        "When a round with the peer last succeeded (0: never).",
    ),
    ("failures", GaugeMetricFamily, "failures", "Consecutive failed rounds."),
    (
        "lag",
        GaugeMetricFamily,
        "lag_seconds",
        "Time since the peer was last known in sync (0: in sync now).",
    ),
    ("backoff", GaugeMetricFamily, "backoff_seconds", "Current retry backoff."),
    ("stream", GaugeMetricFamily, "stream_open", "1 if our push stream to the peer is open."),
    ("rounds", CounterMetricFamily, "rounds", "Sync rounds attempted."),
    ("events_in", CounterMetricFamily, "events_received", "Events received in rounds."),
    ("events_out", CounterMetricFamily, "events_sent", "Events sent in rounds."),
    ("bytes_in", CounterMetricFamily, "received_bytes", "Bytes received in rounds."),
    ("bytes_out", CounterMetricFamily, "sent_bytes", "Bytes sent in rounds."),
    ("rejected", CounterMetricFamily, "rejected_events", "Events from the peer we refused."),
)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


async def render(
    store: Store, meter: IngestMeter, now_ms: int, *, name: str, org: str, started_ms: int,
    streams: dict[str, bool],
    accepted: dict[str, int], frames_sent: int, inbound_streams: int,
) -> bytes:  # fmt: skip
    """The Prometheus text exposition of the node's state now."""
    families: list[Metric] = []
    info = GaugeMetricFamily(
        "aidnode_info",
        "This node: its name, org key and version.",
        labels=["name", "org", "version"],
    )
    info.add_metric([name, org, __version__], 1)
    families.append(info)
    families.append(
        _gauge("aidnode_start_time_seconds", "When the node started.", started_ms / 1000)
    )

    counts = await store.counts()
    events = GaugeMetricFamily("aidnode_events", "Events stored, by kind.", labels=["kind"])
    for kind, count in sorted(counts.events_by_kind.items()):
        events.add_metric([kind], count)
    families.append(events)
    records = GaugeMetricFamily(
        "aidnode_records", "Needs and offers, by status.", labels=["status"]
    )
    for status, count in sorted(counts.records_by_status.items()):
        records.add_metric([status], count)
    families.append(records)
    families.append(
        _gauge("aidnode_tombstones", "Purged events kept as tombstones.", counts.tombstones)
    )

    stored = CounterMetricFamily(
        "aidnode_events_stored",
        "Events stored since start, by origin (peer: from another node; local: this node's "
        "operator). rate() of this is the ingest rate.",
        labels=["origin"],
    )
    for origin in ("local", "peer"):
        stored.add_metric([origin], meter.stored[origin])
    families.append(stored)
    rejected = CounterMetricFamily(
        "aidnode_events_rejected", "Events refused since start, by reason code.", labels=["reason"]
    )
    for reason, count in sorted(meter.rejected.items()):
        rejected.add_metric([reason], count)
    families.append(rejected)
    families.append(
        CounterMetricFamily(
            "aidnode_events_duplicate", "Events received again since start.", value=meter.duplicate
        )
    )
    families.append(
        CounterMetricFamily(
            "aidnode_events_quarantined",
            "Events put in quarantine since start (author not accepted yet).",
            value=meter.quarantined,
        )
    )
    families.append(
        CounterMetricFamily(
            "aidnode_push_frames", "Frames queued to push streams since start.", value=frames_sent
        )
    )
    families.append(_gauge("aidnode_inbound_streams", "Push streams open to us.", inbound_streams))
    families.append(
        _gauge(
            "aidnode_inbound_nodes",
            "Nodes that ever connected to us.",
            len(await inbound_states(store)),
        )
    )

    trust = GaugeMetricFamily(
        "aidnode_accepted_orgs",
        "Orgs this node accepts, by level (a verifier counts as a member too).",
        labels=["level"],
    )
    for level, count in sorted(accepted.items()):
        trust.add_metric([level], count)
    families.append(trust)
    families.append(
        _gauge(
            "aidnode_quarantine_events",
            "Events waiting in quarantine (authors not accepted yet).",
            await store.quarantine_size(),
        )
    )

    peers = await peer_states(store)
    per_peer: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        key: family(f"aidnode_peer_{name}", doc, labels=["peer"])
        for key, family, name, doc in _PEER_METRICS
    }
    for peer in peers:
        labels = [peer.url]
        lag = peer.lag_ms(now_ms)
        values: dict[str, float] = {
            "up": 1 if peer.last_outcome == "ok" else 0,
            "in_sync": 1 if peer.in_sync else 0,
            "last_success": (peer.last_success_ms or 0) / 1000,
            "failures": peer.failures,
            "lag": (lag if lag is not None else max(0, now_ms - peer.added_ms)) / 1000,
            "backoff": peer.backoff_ms / 1000,
            "stream": 1 if streams.get(peer.url) else 0,
            "rounds": peer.rounds,
            "events_in": peer.events_in,
            "events_out": peer.events_out,
            "bytes_in": peer.bytes_in,
            "bytes_out": peer.bytes_out,
            "rejected": peer.rejected_in,
        }
        for key, family in per_peer.items():
            family.add_metric(labels, values[key])
    families.extend(per_peer.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class _Snapshot:
    """A collector that yields metric families computed before the scrape (the store is
    async; prometheus_client's collectors are not)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self.families)


def _accepted(service: NodeService) -> dict[str, int]:
    keeper = service.node.trust
    if keeper is None:
        return {}
    return {level.value: len(keeper.accepted(level)) for level in Level}


def install(
    service: NodeService, app: web.Application, guarded: Callable[[Handler], Handler]
) -> None:
    """Add ``/metrics`` to the running node's app (called by :func:`node.api.install`)."""
    meter = IngestMeter()
    meter.attach(service.node.store)
    app[METER] = meter

    async def metrics(request: web.Request) -> web.Response:
        node = service.node
        body = await render(
            node.store,
            meter,
            node.clock.now_ms(),
            name=node.config.name,
            org=node.config.org,
            started_ms=service.started_ms,
            streams=service.federation.streams_open,
            accepted=_accepted(service),
            frames_sent=service.broadcaster.frames_sent,
            inbound_streams=service.broadcaster.connected,
        )
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app.router.add_get("/metrics", guarded(metrics))
