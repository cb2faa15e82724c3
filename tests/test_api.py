"""The local API of a running node: the token, JSON errors with codes, and every write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto import encode_key
from node.federation.peers import add_peer
from tests.builders import World
from tests.operator_support import serving_node

NEED = {
    "title": "PPE for ward 3",
    "lines": [
        {"item": "N95 respirator", "category": "medical.ppe", "qty": 2000, "unit": "pieces"},
        "disposable protective suit:medical.ppe:500:pieces",
    ],
    "urgency": "24h",
    "expires": "14d",
    "contact": "Nurse Wang 027-8572-0000",
}


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base, self.token = session, base, token

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        data = body if isinstance(body, str | bytes) else None
        json_body = None if data is not None else body
        async with self.session.request(
            method, self.base + path, json=json_body, data=data, headers=headers
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def ward(tmp_path: Path) -> AsyncIterator[tuple[Any, Client]]:
    async with (
        serving_node(tmp_path, "Ward3 support group") as (service, base, token),
        aiohttp.ClientSession() as session,
    ):
        yield service, Client(session, base, token)


async def test_the_token_is_required(ward: tuple[Any, Client]) -> None:
    _, client = ward
    for token in ("", "wrong", client.token + "x"):
        status, body = await client.call("GET", "/api/v1/status", token=token)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    async with client.session.get(client.base + "/api/v1/records") as response:
        assert response.status == 401
    async with client.session.get(
        client.base + "/api/v1/records", headers={"Authorization": f"Basic {client.token}"}
    ) as response:
        assert response.status == 401
    status, body = await client.call("GET", "/api/v1/status")
    assert status == 200 and body["node"]["running"] is True


async def test_post_list_and_get_a_need(ward: tuple[Any, Client]) -> None:
    _, client = ward
    status, created = await client.call("POST", "/api/v1/needs", NEED)
    assert status == 201 and created["kind"] == "need" and created["warnings"] == []
    status, listed = await client.call("GET", "/api/v1/records?kind=need&region=CN-HB")
    assert status == 200 and [row["id"] for row in listed] == [created["id"]]
    assert listed[0]["lines"][1]["item"] == "disposable protective suit"
    status, view = await client.call("GET", f"/api/v1/records/{created['id'][:8]}")
    assert status == 200 and view["urgency"] == "24h" and view["history"][0]["kind"] == "need"
    status, none = await client.call("GET", "/api/v1/records?status=withdrawn")
    assert status == 200 and none == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"lines": []}, "lines"),
        ({"lines": ["N95:medical.ppe:-1:pieces"]}, "line qty"),
        (
            {"lines": [{"item": "N95", "category": "medical.ppe", "qty": "many", "unit": "p"}]},
            "lines[1].qty",
        ),
        ({"urgency": "now"}, "urgency"),
        ({"expires": "soon"}, "expires"),
        ({"region": "Wuhan"}, "region"),
        ({"sensitive": True}, "sensitive"),
        ({"contact_sealed_to": ["not-a-key"]}, "contact_sealed_to"),
    ],
)
async def test_bad_needs_are_400_with_the_field(
    ward: tuple[Any, Client], change: dict[str, Any], field: str
) -> None:
    _, client = ward
    body = {k: v for k, v in {**NEED, **change}.items() if v is not None}
    status, error = await client.call("POST", "/api/v1/needs", body)
    assert status == 400, error
    assert error["error"]["code"] == "bad_input" and error["error"]["field"] == field
    assert (await client.call("GET", "/api/v1/records"))[1] == []


async def test_malformed_requests(ward: tuple[Any, Client]) -> None:
    _, client = ward
    status, error = await client.call("POST", "/api/v1/needs", "{not json")
    assert status == 400 and error["error"]["message"] == "is not valid JSON"
    status, error = await client.call("POST", "/api/v1/needs", [1, 2])
    assert status == 400 and error["error"]["code"] == "bad_input"
    status, error = await client.call("GET", "/api/v1/records/ffffffff")
    assert status == 404 and error["error"]["code"] == "not_found"
    status, error = await client.call("GET", "/api/v1/records/xyz!")
    assert status == 400 and error["error"]["code"] == "bad_input"
    status, error = await client.call("GET", "/api/v1/records?limit=0")
    assert status == 400
    status, error = await client.call("POST", "/api/v1/sync", {"timeout_s": 0})
    assert status == 400 and error["error"]["field"] == "timeout_s"
    status, error = await client.call("POST", "/api/v1/events", {"events": ["zz"]})
    assert status == 400 and error["error"]["field"] == "events"


async def test_pledges_deliveries_receipts_and_refusals(ward: tuple[Any, Client]) -> None:
    service, client = ward
    world = World(start_ms=service.node.clock.now_ms() - 1000)
    shelter = world.org("Wuhan stranded workers shelter")
    need = world.need(shelter, [("bed for stranded worker", "shelter", 40)], title="Beds")
    status, _ = await client.call(
        "POST",
        "/api/v1/endorsements",
        {"key": encode_key(shelter.id), "name": "shelter", "level": "member"},
    )
    assert status == 201
    status, stored = await client.call("POST", "/api/v1/events", {"events": [need.wire.hex()]})
    assert status == 200 and stored["outcomes"][0]["status"] == "accepted"
    record = need.id.hex()
    status, error = await client.call("POST", f"/api/v1/records/{record}/pledges", {"qty": 50})
    assert status == 409 and error["error"]["code"] == "over_pledge"
    status, error = await client.call("POST", f"/api/v1/records/{record}/pledges", {"qty": "x"})
    assert status == 400 and error["error"]["field"] == "qty"
    status, error = await client.call(
        "POST", f"/api/v1/records/{record}/pledges", {"line": 2, "qty": 1}
    )
    assert status == 400 and error["error"]["field"] == "line"
    status, pledged = await client.call("POST", f"/api/v1/records/{record}/pledges", {"qty": 10})
    assert status == 201
    pledge = pledged["id"]
    status, _ = await client.call("POST", f"/api/v1/pledges/{pledge}/deliveries", {"qty": 10})
    assert status == 201
    status, error = await client.call("POST", f"/api/v1/pledges/{pledge}/receipts", {"qty": 10})
    assert status == 409 and error["error"]["code"] == "not_receiver"
    status, error = await client.call("POST", f"/api/v1/records/{record}/verifications", {})
    assert status == 400 and error["error"]["field"] == "method"
    status, _ = await client.call(
        "POST", f"/api/v1/records/{record}/verifications", {"method": "visit"}
    )
    assert status == 201
    status, error = await client.call("POST", f"/api/v1/records/{record}/withdraw", {})
    assert status == 409 and error["error"]["code"] == "not_your_record"
    status, _ = await client.call("POST", f"/api/v1/pledges/{pledge}/cancel", {})
    assert status == 201
    status, view = await client.call("GET", f"/api/v1/records/{record}")
    assert view["pledges"][0]["cancelled"] and view["lines"][0]["delivered"] == 10
    status, ours = await client.call("POST", "/api/v1/needs", NEED)
    status, error = await client.call("POST", f"/api/v1/records/{ours['id']}/pledges", {"qty": 1})
    assert status == 409 and error["error"]["code"] == "own_record"
    status, _ = await client.call(
        "POST", f"/api/v1/records/{ours['id']}/updates", {"line_qtys": {"1": 1500}}
    )
    assert status == 201
    status, trust = await client.call("GET", "/api/v1/trust")
    assert {row["name"] for row in trust if row["standing"]} >= {"Ward3 support group"}
    status, explained = await client.call("GET", f"/api/v1/trust/{encode_key(shelter.id)}")
    assert status == 200 and explained["standing"] == "member"
    status, junk = await client.call("POST", "/api/v1/events", {"events": ["00ff"]})
    assert junk["outcomes"][0]["status"] == "rejected" and junk["outcomes"][0]["code"]


async def test_a_need_posted_through_the_api_reaches_a_peer_at_once(tmp_path: Path) -> None:
    async with (
        serving_node(tmp_path, "Ward3 support group") as (ward, ward_base, ward_token),
        serving_node(tmp_path, "Convoy drivers", "CN-HB-WH") as (convoy, convoy_base, token),
        aiohttp.ClientSession() as session,
    ):
        ward_client = Client(session, ward_base, ward_token)
        convoy_client = Client(session, convoy_base, token)
        for client, other in ((ward_client, convoy), (convoy_client, ward)):
            body = {"key": encode_key(other.node.org), "name": "peer", "level": "member"}
            assert (await client.call("POST", "/api/v1/endorsements", body))[0] == 201
        await add_peer(convoy.node.store, ward_base, convoy.node.clock.now_ms())
        status, synced = await convoy_client.call("POST", "/api/v1/sync", {"timeout_s": 20})
        assert status == 200 and synced["peers"][0]["in_sync"]
        for _ in range(100):  # the push stream opens right after the first round
            if convoy.federation.streams_open.get(ward_base):
                break
            await asyncio.sleep(0.05)
        status, created = await ward_client.call("POST", "/api/v1/needs", NEED)
        assert status == 201
        for _ in range(100):
            status, _ = await convoy_client.call("GET", f"/api/v1/records/{created['id']}")
            if status == 200:
                break
            await asyncio.sleep(0.02)
        assert status == 200  # well before the next anti-entropy round (30 s)
