"""``/metrics`` parses as Prometheus text and says what the operator needs to alert on."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from node.federation.peers import add_peer
from node.manual_sync import sync_running
from tests.operator_support import free_port, serving_node


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics(tmp_path: Path) -> None:
    async with (
        serving_node(tmp_path, "Ward3 support group") as (service, base, token),
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 401
        dead = f"http://127.0.0.1:{free_port()}"
        await add_peer(service.node.store, dead, service.node.clock.now_ms())
        await sync_running(service, dead, timeout_s=5)
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{base}/api/v1/events", json={"events": ["00ff"]}, headers=headers
        ) as response:
            assert response.status == 200
        async with session.get(f"{base}/metrics", headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
    found = samples(text)
    assert found["aidnode_events", (("kind", "incept"),)] == 1
    assert found["aidnode_events", (("kind", "profile"),)] == 1
    assert found["aidnode_events_rejected_total", (("reason", "malformed"),)] == 1
    assert ("aidnode_events_stored_total", (("origin", "peer"),)) in found
    assert found["aidnode_quarantine_events", ()] == 0
    assert found["aidnode_accepted_orgs", (("level", "member"),)] == 1
    peer = (("peer", dead),)
    assert found["aidnode_peer_up", peer] == 0
    assert found["aidnode_peer_failures", peer] == 1
    assert found["aidnode_peer_last_success_timestamp_seconds", peer] == 0
    assert found["aidnode_peer_rounds_total", peer] == 1
    assert ("aidnode_peer_lag_seconds", peer) in found
    [info] = [dict(labels) for name, labels in found if name == "aidnode_info"]
    assert info["name"] == "Ward3 support group" and info["org"] == service.node.config.org
