"""A realistic, deterministic stream of signed events for benchmarks (decode, store, sync).

    from bench.workload import build_workload
    work = build_workload(records=2000, orgs=20, seed=0)
    work.events        # tuple of Event, in hlc order (every ref points at an earlier event)
    work.now_ms        # a receiver clock at which every event is acceptable

The mix follows a mutual-aid board (DESIGN.md §1, §3): per record roughly one ``need`` or
``offer`` with 1–4 lines, 0.3 ``update``, 1.5 ``pledge``, 1 ``deliver``, 1 ``receipt`` and
0.5 ``verify``; per org one ``incept`` and one ``profile``, and one or two ``endorse`` edges
from other orgs. Items, units, categories and regions come from bench/catalog_sample.json
(copied from the project's shared catalog). About one record in ten is for a sensitive item
and carries a sealed contact and detail (filler bytes of realistic size, not real boxes).

Everything derives from ``seed``: the same arguments give the same events, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.signing import SigningIdentity, key_digest
from protocol.envelope import Event, sign_event

__all__ = ["Workload", "build_workload", "org_identity"]

CATALOG = json.loads((Path(__file__).resolve().parent / "catalog_sample.json").read_text())
START_MS = 1_580_515_200_000  # 2020-02-01T00:00:00Z
DAY_MS = 86_400_000
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """Signed events in hlc order, the orgs that signed them, and a clock that accepts all."""

    events: tuple[Event, ...]
    orgs: tuple[SigningIdentity, ...]
    now_ms: int

    def __post_init__(self) -> None:
        if any(a.sort_key > b.sort_key for a, b in zip(self.events, self.events[1:], strict=False)):
            raise ValueError("events must be in (hlc, id) order")


def org_identity(seed: int, index: int) -> SigningIdentity:
    """The ``index``-th org key of workload ``seed`` (deterministic, distinct per seed)."""
    material = f"aidnode-bench/{seed}/org/{index}".encode()
    return SigningIdentity(hashlib.blake2b(material, digest_size=32).digest())


def _filler(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _sealed(rng: random.Random) -> dict[str, Any]:
    """Sized like a real sealed field: nonce + tag + 60–300 bytes, one slot per recipient."""
    recipients = rng.randint(1, 3)
    return {
        "box": _filler(rng, 40 + rng.randint(60, 300)),
        "slots": tuple(_filler(rng, 80) for _ in range(recipients)),
    }


class _Clock:
    """Hybrid logical clock values that only move forward."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms
        self.counter = 0

    def at(self, ms: int) -> int:
        if ms > self.ms:
            self.ms, self.counter = ms, 0
        else:
            self.counter += 1
        return self.ms << 16 | self.counter


def _items() -> list[tuple[str, dict[str, Any]]]:
    return [(category, item) for category, items in CATALOG["categories"].items() for item in items]


def _record_body(rng: random.Random, org_name: str, region: str, created_ms: int) -> dict[str, Any]:
    items = _items()
    count = rng.choice((1, 1, 1, 2, 2, 3, 4))
    chosen = rng.sample(items, count)
    sensitive = any(item.get("sensitive") for _, item in chosen)
    lines = []
    for category, item in chosen:
        name = item["item_zh"] if rng.random() < 0.3 else item["item"]
        line: dict[str, Any] = {"item": name, "category": category, "unit": item["unit"]}
        if rng.random() < 0.1:
            line["unlimited"] = True
        else:
            line["qty"] = rng.choice((5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
        lines.append(line)
    first = chosen[0][1]["item"]
    body: dict[str, Any] = {
        "title": f"{first} for {org_name}"[:200],
        "lines": tuple(lines),
        "region": region,
        "urgency": rng.choice(("24h", "3d", "3d", "1w", "any")),
        "expires": created_ms + rng.choice((7, 14, 30)) * DAY_MS,
    }
    if sensitive:
        body["sensitive"] = True
        body["contact"] = {"sealed": _sealed(rng)}
        body["detail"] = _sealed(rng)
    else:
        body["contact"] = {
            "public": f"{org_name} volunteers, phone +86 27 {rng.randint(1000, 9999)} 0000"
        }
    if rng.random() < 0.5:
        body["needed_by"] = created_ms + rng.randint(1, 5) * DAY_MS
    if rng.random() < 0.3:
        body["place"] = rng.choice(("west campus", "gate 2", "community centre", "depot"))
    if rng.random() < 0.2:
        body["transport"] = rng.choice(("needed", "provided", "not_needed"))
    if rng.random() < 0.2:
        body["note"] = "Please coordinate by phone before sending.\nNo used items."
    return body


def build_workload(records: int, orgs: int = 20, *, seed: int = 0) -> Workload:
    """Signed events for ``records`` needs/offers among ``orgs`` orgs (at least 3).

    Returns a :class:`Workload`; the events are in (hlc, id) order. Deterministic in all
    three arguments.
    """
    if orgs < 3:
        raise ValueError("a workload needs at least 3 orgs (poster, pledger, verifier)")
    rng = random.Random(seed)
    catalog_orgs = CATALOG["organisations"]
    regions = [region["code"] for region in CATALOG["regions"]]
    identities = tuple(org_identity(seed, i) for i in range(orgs))
    names = [
        f"{catalog_orgs[i % len(catalog_orgs)]['name']} #{i // len(catalog_orgs) + 1}"
        for i in range(orgs)
    ]
    home = [catalog_orgs[i % len(catalog_orgs)]["region"] for i in range(orgs)]
    clock = _Clock(START_MS)
    pending: list[tuple[int, int, SigningIdentity, str, dict[str, Any], int | None]] = []
    # (ms, sequence, author, kind, body, index of the referenced entry) — signed at the end,
    # in ms order, so hlc order matches causal order.
    sequence = 0

    def plan(
        ms: int, who: SigningIdentity, kind: str, body: dict[str, Any], ref: int | None
    ) -> int:
        nonlocal sequence
        pending.append((ms, sequence, who, kind, body, ref))
        sequence += 1
        return sequence - 1

    for index, who in enumerate(identities):
        plan(
            START_MS + index,
            who,
            "incept",
            {"next": key_digest(org_identity(seed + 1, index).public_key)},
            None,
        )
        profile: dict[str, Any] = {"name": names[index]}
        profile["regions"] = (home[index],)
        if rng.random() < 0.5:
            profile["description"] = "Volunteer group. We answer messages every evening."
        plan(START_MS + orgs + index, who, "profile", profile, None)
        for endorser in rng.sample([i for i in range(orgs) if i != index], rng.randint(1, 2)):
            endorsement: dict[str, Any] = {
                "subject": who.public_key,
                "name": names[index][:100],
                "level": "verifier" if rng.random() < 0.2 else "member",
                "max_depth": rng.randint(1, 3),
                "expires": START_MS + 365 * DAY_MS,
            }
            plan(START_MS + 2 * orgs + index, identities[endorser], "endorse", endorsement, None)

    record_ms = START_MS + DAY_MS
    for _ in range(records):
        record_ms += rng.randint(1, 4) * MINUTE_MS
        poster = rng.randrange(orgs)
        posts = catalog_orgs[poster % len(catalog_orgs)]["posts"] or ["need"]
        kind = rng.choice(posts)
        region = home[poster] if rng.random() < 0.7 else rng.choice(regions)
        body = _record_body(rng, names[poster], region, record_ms)
        record = plan(record_ms, identities[poster], kind, body, None)
        line_count = len(body["lines"])
        if rng.random() < 0.3:
            changes: dict[str, Any] = rng.choice(
                (
                    {"urgency": "24h"},
                    {"lines": tuple({"qty": rng.randint(1, 900)} for _ in range(line_count))},
                    {"note": "Partly covered by the district office."},
                    {"expires": record_ms + 21 * DAY_MS},
                )
            )
            plan(
                record_ms + rng.randint(10, 600) * MINUTE_MS,
                identities[poster],
                "update",
                changes,
                record,
            )
        others = [i for i in range(orgs) if i != poster]
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):  # 1.5 pledges on average
            pledger = rng.choice(others)
            pledged_ms = record_ms + rng.randint(5, 300) * MINUTE_MS
            qty = rng.choice((5, 10, 50, 100, 200))
            pledge_body: dict[str, Any] = {"line": rng.randrange(line_count), "qty": qty}
            if rng.random() < 0.3:
                pledge_body["available_from"] = pledged_ms + DAY_MS
            pledge = plan(pledged_ms, identities[pledger], "pledge", pledge_body, record)
            if rng.random() < 2 / 3:  # 1 delivery and 1 receipt per record on average
                giver, receiver = (pledger, poster) if kind == "need" else (poster, pledger)
                sent_ms = pledged_ms + rng.randint(60, 2 * 1440) * MINUTE_MS
                plan(sent_ms, identities[giver], "deliver", {"qty": qty}, pledge)
                got = qty if rng.random() < 0.9 else max(1, qty - rng.randint(1, qty))
                plan(
                    sent_ms + rng.randint(30, 600) * MINUTE_MS,
                    identities[receiver],
                    "receipt",
                    {"qty": got},
                    pledge,
                )
        if rng.random() < 0.5:
            verifier = rng.choice(others)
            note = {"method": rng.choice(("phone", "visit", "document", "known_contact"))}
            plan(
                record_ms + rng.randint(30, 900) * MINUTE_MS,
                identities[verifier],
                "verify",
                note,
                record,
            )

    signed: dict[int, Event] = {}
    events = []
    for ms, number, who, kind, body, ref in sorted(pending, key=lambda entry: entry[:2]):
        ref_id = None if ref is None else signed[ref].id
        event = sign_event(who, kind, clock.at(ms), body, ref_id)
        signed[number] = event
        events.append(event)
    return Workload(events=tuple(events), orgs=identities, now_ms=clock.ms)
