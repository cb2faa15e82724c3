"""The local JSON API served by ``aidnode run`` under ``/api/v1/`` (docs/operators.md §API).

For the operator's own tools (a group's spreadsheet importer, a dashboard, a phone app on the
same machine): everything ``aidnode`` does, over HTTP with a bearer token.

* Every request needs ``Authorization: Bearer <HOME/api.token>``, compared in constant time;
  the file is re-read on each request, so replacing it revokes the old token at once.
* Errors are JSON ``{"error": {"code": …, "message": …}}``: 401 ``unauthorized``, 400
  ``bad_input`` / ``bad_json`` / ``ambiguous_id``, 404 ``not_found``, 409 with the refusal's own
  code (``over_pledge``, ``not_open``…), 503 ``storage``.
* Writes go through :mod:`node.operations` in the running process, i.e. through
  ``Store.add``: the new event is pushed to connected peers at once.

Importing this module registers the routes (and :mod:`node.metrics`'s ``/metrics``) with
:class:`~node.service.NodeService`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from crypto import AidError, encode_key
from node import metrics
from node.errors import ConfigError, PeerError, StorageError
from node.federation.peers import peer_states
from node.inputs import (
    InputError,
    LineSpec,
    parse_key,
    parse_line,
    parse_quantity,
    parse_when,
)
from node.lookup import AmbiguousIdError, UnknownIdError, find_event, org_names
from node.manual_sync import sync_running
from node.operations import (
    ContactSpec,
    Done,
    RecordDraft,
    RefusedError,
    cancel,
    deliver,
    endorse,
    pledge,
    post_record,
    receive,
    update_record,
    verify,
    withdraw,
)
from node.presentation import record_json, summary_json
from node.service import NodeService
from node.status import explanation_json, gather_status, trust_rows
from node.storage import Outcome, RecordQuery
from node.trust import TrustKeeper
from protocol import Level, ProtocolError, Transport, Urgency, VerifyMethod
from sync.views import Progress, Status

__all__ = ["API_PREFIX", "install"]

API_PREFIX = "/api/v1"
MAX_EVENTS_PER_REQUEST = 500
SERVICE = web.AppKey("aidnode.service", NodeService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status)


def _token_ok(request: web.Request, service: NodeService) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    try:
        expected = service.node.home.token()
    except ConfigError:
        return False  # no token file: nobody gets in
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def guarded(handler: Handler) -> Handler:
    """Token check first; then our errors become JSON errors, in this one place."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not _token_ok(request, request.app[SERVICE]):
            return error(
                401,
                "unauthorized",
                "send Authorization: Bearer <token> (the token is in HOME/api.token)",
            )
        try:
            return await handler(request)
        except InputError as exc:
            return error(400, "bad_input", exc.message, field=exc.field)
        except UnknownIdError as exc:
            return error(404, "not_found", str(exc))
        except AmbiguousIdError as exc:
            return error(400, "ambiguous_id", str(exc))
        except RefusedError as exc:
            return error(409, exc.code, exc.message)
        except ProtocolError as exc:
            return error(400, exc.code.value, exc.detail)
        except StorageError as exc:
            return error(503, "storage", str(exc))
        except (ConfigError, PeerError) as exc:
            return error(400, "bad_request", str(exc))
        except AidError as exc:
            return error(400, "refused", str(exc))

    return wrapped


# -- reading JSON input ---------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError("body", "must be a JSON object")
    return data


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InputError(name, "is required")
        return None
    if not isinstance(value, str):
        raise InputError(name, "must be a string")
    return value


def _choice(body: dict[str, Any], name: str, choices: list[str], default: str | None) -> str | None:
    value = _text(body, name) or default
    if value is not None and value not in choices:
        raise InputError(name, f"must be one of {', '.join(choices)}")
    return value


def _when(body: dict[str, Any], name: str, now_ms: int, default: str | None = None) -> int | None:
    """A moment: Unix ms, or text like "14d" / "2020-02-20"."""
    value = body.get(name, default)
    if value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, str):
        return parse_when(name, value, now_ms)
    raise InputError(name, "must be Unix milliseconds or text like 14d or 2020-02-20")


def _int(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if type(value) is not int:
        raise InputError(name, "must be a whole number" if value is not None else "is required")
    return value


def _qty(body: dict[str, Any], name: str = "qty") -> int:
    value = body.get(name)
    if value is None:
        raise InputError(name, "is required")
    qty = parse_quantity(name, value)
    assert qty is not None
    return qty


def _keys(body: dict[str, Any], name: str) -> tuple[bytes, ...]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise InputError(name, "must be a list of keys (aid1…)")
    return tuple(parse_key(name, k) for k in value)


def _lines(body: dict[str, Any]) -> tuple[LineSpec, ...]:
    raw = body.get("lines")
    if not isinstance(raw, list) or not raw:
        raise InputError("lines", "give a non-empty list of lines")
    specs = []
    for number, line in enumerate(raw, 1):
        if isinstance(line, str):
            specs.append(parse_line(line))
            continue
        if not isinstance(line, dict):
            raise InputError(f"lines[{number}]", "must be an object or 'ITEM:CATEGORY:QTY:UNIT'")
        qty = parse_quantity(f"lines[{number}].qty", line.get("qty"), allow_unlimited=True)
        if line.get("unlimited") is True:
            qty = None
        spec = LineSpec(
            item=_text(line, "item", required=True) or "",
            category=_text(line, "category", required=True) or "",
            qty=qty,
            unit=_text(line, "unit", required=True) or "",
        )
        spec.to_line()
        specs.append(spec)
    return tuple(specs)


def _draft(kind: str, body: dict[str, Any], service: NodeService) -> RecordDraft:
    node = service.node
    now = node.clock.now_ms()
    contact = body.get("contact")
    if isinstance(contact, dict):  # {"text": …, "sealed_to": [...]} as well as flat fields
        contact_text = _text(contact, "text", required=True) or ""
        sealed_to = _keys(contact, "sealed_to")
    else:
        contact_text = _text(body, "contact", required=True) or ""
        sealed_to = _keys(body, "contact_sealed_to")
    region = _text(body, "region") or node.config.region
    if not region:
        raise InputError("region", "is required (the node has no region configured)")
    sensitive = body.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise InputError("sensitive", "must be true or false")
    return RecordDraft(
        kind=kind,
        title=_text(body, "title", required=True) or "",
        lines=_lines(body),
        region=region,
        urgency=_choice(body, "urgency", [u.value for u in Urgency], "3d") or "3d",
        expires_ms=_when(body, "expires", now, "14d") or 0,
        contact=ContactSpec(text=contact_text, sealed_to=sealed_to),
        sensitive=sensitive,
        detail=_text(body, "detail"),
        place=_text(body, "place"),
        needed_by_ms=_when(body, "needed_by", now),
        source=_text(body, "source"),
        transport=_choice(body, "transport", [t.value for t in Transport], None),
        note=_text(body, "note"),
    )


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "id": outcome.event_id.hex() if outcome.event_id else None,
        "code": outcome.code.value if outcome.code else None,
        "detail": outcome.detail,
    }


def _created(done: Done) -> web.Response:
    return web.json_response(done.as_dict(), status=201)


# -- handlers -------------------------------------------------------------------------------


class LocalApi:
    """The handlers, bound to one running node."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.node = service.node

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        return [
            web.get(f"{p}/status", guarded(self.status)),
            web.get(f"{p}/peers", guarded(self.peers)),
            web.post(f"{p}/sync", guarded(self.sync)),
            web.post(f"{p}/events", guarded(self.post_events)),
            web.get(f"{p}/records", guarded(self.list_records)),
            web.get(f"{p}/records/{{id}}", guarded(self.get_record)),
            web.post(f"{p}/needs", guarded(self.post_need)),
            web.post(f"{p}/offers", guarded(self.post_offer)),
            web.post(f"{p}/records/{{id}}/updates", guarded(self.post_update)),
            web.post(f"{p}/records/{{id}}/withdraw", guarded(self.post_withdraw)),
            web.post(f"{p}/records/{{id}}/pledges", guarded(self.post_pledge)),
            web.post(f"{p}/records/{{id}}/verifications", guarded(self.post_verification)),
            web.post(f"{p}/pledges/{{id}}/deliveries", guarded(self.post_delivery)),
            web.post(f"{p}/pledges/{{id}}/receipts", guarded(self.post_receipt)),
            web.post(f"{p}/pledges/{{id}}/cancel", guarded(self.post_cancel)),
            web.post(f"{p}/endorsements", guarded(self.post_endorsement)),
            web.get(f"{p}/trust", guarded(self.trust)),
            web.get(f"{p}/trust/{{key}}", guarded(self.trust_explain)),
            web.post(f"{p}/trust/block", guarded(self.trust_block)),
            web.post(f"{p}/trust/unblock", guarded(self.trust_unblock)),
        ]

    def _trust(self) -> TrustKeeper:
        keeper = self.node.trust
        if keeper is None:  # Node.open attaches one: a node without is a bug, not input
            raise ConfigError("this node has no trust keeper")
        return keeper

    async def trust(self, request: web.Request) -> web.Response:
        keeper, node = self._trust(), self.node
        return web.json_response(await trust_rows(keeper, node.store, keeper.config))

    async def trust_explain(self, request: web.Request) -> web.Response:
        explanation = await self._trust().explain(parse_key("key", request.match_info["key"]))
        return web.json_response(explanation_json(explanation, await org_names(self.node.store)))

    async def trust_block(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = parse_key("key", _text(body, "key", required=True) or "")
        await self._trust().block(key, self.node.home)
        return web.json_response({"key": encode_key(key), "blocked": True})

    async def trust_unblock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = parse_key("key", _text(body, "key", required=True) or "")
        await self._trust().unblock(key, self.node.home)
        return web.json_response({"key": encode_key(key), "blocked": False})

    async def status(self, request: web.Request) -> web.Response:
        node = self.node
        data = await gather_status(
            node.home, node.config, node.store, node.clock.now_ms(), service=self.service
        )
        return web.json_response(data)

    async def peers(self, request: web.Request) -> web.Response:
        now = self.node.clock.now_ms()
        states = await peer_states(self.node.store)
        return web.json_response([s.as_dict(now) for s in states])

    async def post_events(self, request: web.Request) -> web.Response:
        """Signed events in wire form (hex), stored exactly as if a peer had sent them (every
        one verified; authors this node does not accept wait in quarantine) and pushed to the
        peers at once. The CLI sends what it signs here while the node runs, so the running
        node stays the database's only writer; tools holding a delegated key can too."""
        body = await _body(request)
        raw = body.get("events")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_EVENTS_PER_REQUEST:
            raise InputError("events", f"give a list of 1…{MAX_EVENTS_PER_REQUEST} events (hex)")
        try:
            wires = [bytes.fromhex(item) for item in raw]
        except (TypeError, ValueError):
            raise InputError("events", "each event is its wire form in hex") from None
        outcomes = await self.node.store.ingest(wires)
        return web.json_response({"outcomes": [outcome_json(o) for o in outcomes]})

    async def sync(self, request: web.Request) -> web.Response:
        body = await _body(request)
        timeout = body.get("timeout_s", 60)
        if not isinstance(timeout, int | float) or not 1 <= timeout <= 600:
            raise InputError("timeout_s", "must be 1…600 seconds")
        states = await sync_running(self.service, _text(body, "peer"), float(timeout))
        now = self.node.clock.now_ms()
        peers = []
        for state in states:
            data = state.as_dict(now)
            data["stream_open"] = self.service.federation.streams_open.get(state.url, False)
            peers.append(data)
        return web.json_response({"peers": peers})

    async def list_records(self, request: web.Request) -> web.Response:
        q = request.query
        kind = q.get("kind")
        status = q.get("status", "open")
        verified = q.get("verified")
        try:
            query = RecordQuery(
                kind=kind,
                region=q.get("region"),
                category=q.get("category"),
                text=q.get("text"),
                status=None if status == "all" else Status(status),
                verified=None if verified is None else verified.lower() in ("1", "true", "yes"),
                org=parse_key("org", q["org"]) if "org" in q else None,
                pledge_status=Progress(q["pledged"]) if "pledged" in q else None,
                limit=int(q.get("limit", "50")),
                offset=int(q.get("offset", "0")),
            )
        except ValueError as exc:
            raise InputError("query", str(exc)) from None
        rows = await self.node.store.list_records(query)
        names = await org_names(self.node.store)
        return web.json_response([summary_json(row, names) for row in rows])

    async def get_record(self, request: web.Request) -> web.Response:
        store = self.node.store
        found = await find_event(store, request.match_info["id"], ("need", "offer", "pledge"))
        loaded = await store.record(found.record or found.id)
        if loaded is None:
            raise UnknownIdError(f"the record of {found.id.hex()[:12]} has not arrived yet")
        view, history = loaded
        data = record_json(
            view,
            history,
            now_ms=self.node.clock.now_ms(),
            identity=store.identity,
            names=await org_names(store),
            verified_by=self._trust().verified_by(view),
            opener=self.node.signer,
        )
        return web.json_response(data)

    async def post_need(self, request: web.Request) -> web.Response:
        draft = _draft("need", await _body(request), self.service)
        return _created(await post_record(self.node, draft))

    async def post_offer(self, request: web.Request) -> web.Response:
        draft = _draft("offer", await _body(request), self.service)
        return _created(await post_record(self.node, draft))

    async def post_update(self, request: web.Request) -> web.Response:
        body = await _body(request)
        now = self.node.clock.now_ms()
        changes = {
            "title": _text(body, "title"),
            "urgency": _choice(body, "urgency", [u.value for u in Urgency], None),
            "region": _text(body, "region"),
            "expires": _when(body, "expires", now),
            "needed_by": _when(body, "needed_by", now),
            "place": _text(body, "place"),
            "note": _text(body, "note"),
            "source": _text(body, "source"),
            "transport": _choice(body, "transport", [t.value for t in Transport], None),
        }
        raw_qtys = body.get("line_qtys") or {}
        if not isinstance(raw_qtys, dict):
            raise InputError("line_qtys", 'must be an object like {"1": 500, "2": "unlimited"}')
        quantities = []
        for number, qty in raw_qtys.items():
            if not str(number).isdigit():
                raise InputError("line_qtys", f"{number!r} is not a line number")
            quantities.append((int(number), parse_quantity("line_qtys", qty, allow_unlimited=True)))
        done = await update_record(
            self.node, request.match_info["id"], changes, line_qtys=quantities
        )
        return _created(done)

    async def post_withdraw(self, request: web.Request) -> web.Response:
        body = await _body(request)
        reason = _text(body, "reason") or "no longer needed"
        return _created(await withdraw(self.node, request.match_info["id"], reason))

    async def post_pledge(self, request: web.Request) -> web.Response:
        body = await _body(request)
        now = self.node.clock.now_ms()
        over = body.get("over", False)
        if not isinstance(over, bool):
            raise InputError("over", "must be true or false")
        done = await pledge(
            self.node,
            request.match_info["id"],
            _int(body, "line", 1),
            _qty(body),
            note=_text(body, "note"),
            available_from_ms=_when(body, "available_from", now),
            over=over,
        )
        return _created(done)

    async def post_verification(self, request: web.Request) -> web.Response:
        body = await _body(request)
        method = _choice(body, "method", [m.value for m in VerifyMethod], None)
        if method is None:
            raise InputError("method", "is required")
        done = await verify(self.node, request.match_info["id"], method, _text(body, "note"))
        return _created(done)

    async def post_delivery(self, request: web.Request) -> web.Response:
        body = await _body(request)
        done = await deliver(self.node, request.match_info["id"], _qty(body), _text(body, "note"))
        return _created(done)

    async def post_receipt(self, request: web.Request) -> web.Response:
        body = await _body(request)
        done = await receive(self.node, request.match_info["id"], _qty(body), _text(body, "note"))
        return _created(done)

    async def post_cancel(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return _created(await cancel(self.node, request.match_info["id"], _text(body, "reason")))

    async def post_endorsement(self, request: web.Request) -> web.Response:
        body = await _body(request)
        now = self.node.clock.now_ms()
        level = _choice(body, "level", [lv.value for lv in Level], None)
        if level is None:
            raise InputError("level", "is required (member or verifier)")
        done = await endorse(
            self.node,
            parse_key("key", _text(body, "key", required=True) or ""),
            _text(body, "name", required=True) or "",
            level,
            _int(body, "max_depth", 3),
            _when(body, "expires", now, "365d") or 0,
        )
        return _created(done)


def install(service: NodeService, app: web.Application) -> None:
    """Add the local API's routes to the running node's app."""
    app[SERVICE] = service
    app.add_routes(LocalApi(service).routes())
    metrics.install(service, app, guarded)


NodeService.installers.append(install)
