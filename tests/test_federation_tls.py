"""TLS bound to the node key (node/federation/tls.py): a client pins the node key and accepts
a certificate only if that key vouches for it; anything else is refused before a byte of the
reply is believed."""

from __future__ import annotations

import datetime
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from crypto.signing import SigningIdentity
from node.clock import SystemClock
from node.errors import PeerError
from node.federation.client import PeerClient
from node.federation.peers import add_peer
from node.federation.tls import BINDING_OID, TLS_DOMAIN, peer_certificate_key, server_context
from node.service import NodeService
from protocol.federation import Hello
from tests.federation_harness import (
    eventually,
    fake_peer,
    hello_for,
    service_in_process,
    service_url,
)

HONEST = SigningIdentity(bytes([5]) * 32)
MALLORY = SigningIdentity(bytes([6]) * 32)
ME = SigningIdentity(bytes([8]) * 32)


@pytest.fixture
async def tls_node(tmp_path: Path) -> AsyncIterator[NodeService]:
    async with service_in_process(tmp_path, "secure", tls=True) as running:
        yield running


def client(http: aiohttp.ClientSession, url: str, pinned: bytes | None = None) -> PeerClient:
    return PeerClient(http, ME, url, SystemClock(), pinned=pinned, timeout_s=5)


def context_for(certificate: x509.Certificate, key: Ed25519PrivateKey) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_path, key_path = Path(directory) / "c.pem", Path(directory) / "k.pem"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


def certificate(binding: bytes | None) -> tuple[x509.Certificate, Ed25519PrivateKey]:
    """A self-signed Ed25519 certificate, with ``binding(tls_public_key)`` as the binding
    extension's value if given."""
    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if binding is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(BINDING_OID, binding), critical=False
        )
    return builder.sign(key, None), key


def tls_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hello_as(identity: SigningIdentity) -> list[web.RouteDef]:
    async def hello(request: web.Request) -> web.Response:
        mine = Hello(node=identity.public_key, org=identity.public_key, name="impostor")
        return web.Response(body=mine.encode(), content_type="application/x-msgpack")

    return [web.post("/fed/v1/hello", hello)]


async def test_a_client_pins_the_key_the_certificate_is_bound_to(tls_node: NodeService) -> None:
    url = service_url(tls_node)
    assert url.startswith("https://")
    async with aiohttp.ClientSession() as http:
        peer = client(http, url)
        theirs = await peer.hello(hello_for(ME))
        assert theirs.node == peer.tls_key == peer.pinned == tls_node.hello.node
        reply = await peer.push([])  # later requests on the pinned key go through too
        assert reply.accepted == 0


async def test_a_certificate_bound_to_another_key_is_refused(tls_node: NodeService) -> None:
    # Mallory serves a valid binding to *her* key while claiming the honest node's hello.
    async with (
        fake_peer(hello_as(HONEST), ssl_context=server_context(MALLORY)) as url,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(PeerError) as pinned:
            await client(http, url, pinned=HONEST.public_key).hello(hello_for(ME))
        assert pinned.value.code == "key_changed"
        with pytest.raises(PeerError) as first_contact:
            await client(http, url).hello(hello_for(ME))
        assert first_contact.value.code == "bad_tls"  # hello and certificate disagree


async def test_a_certificate_without_a_valid_binding_is_refused() -> None:
    unbound = certificate(None)
    tls_key = Ed25519PrivateKey.generate()
    # Claims the honest key, but the binding signature is Mallory's.
    forged_value = HONEST.public_key + MALLORY.sign(TLS_DOMAIN, tls_public(tls_key))
    forged = certificate(forged_value)
    short = certificate(b"\x00" * 10)
    for cert, key in (unbound, forged, short):
        async with (
            fake_peer(hello_as(HONEST), ssl_context=context_for(cert, key)) as url,
            aiohttp.ClientSession() as http,
        ):
            with pytest.raises(PeerError) as caught:
                await client(http, url).hello(hello_for(ME))
            assert caught.value.code == "bad_tls", cert


def test_peer_certificate_key_without_a_connection_is_none() -> None:
    assert peer_certificate_key(None) is None


async def test_two_tls_nodes_gossip_and_stream(tmp_path: Path) -> None:
    async with (
        service_in_process(tmp_path, "a", tls=True) as a,
        service_in_process(tmp_path, "b", tls=True) as b,
    ):
        await add_peer(a.node.store, service_url(b), SystemClock().now_ms())
        [state] = await a.federation.sync_now(timeout_s=10)
        assert (state.last_outcome, state.in_sync) == ("ok", True)
        assert state.node_key == b.hello.node
        await eventually(
            lambda: a.federation.streams_open.get(service_url(b), False),
            timeout_s=10,
            what="the TLS stream to open",
        )


async def test_a_stream_to_an_impostor_is_refused() -> None:
    async with (
        fake_peer(hello_as(HONEST), ssl_context=server_context(MALLORY)) as url,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(PeerError) as caught:
            await client(http, url, pinned=HONEST.public_key).open_stream()
    assert caught.value.code == "key_changed"
