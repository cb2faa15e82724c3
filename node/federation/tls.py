"""TLS bound to the node key, for peers reached over real networks.

Each start of the node makes a fresh, ephemeral Ed25519 TLS key and a self-signed certificate
for it, carrying one extra extension: the node key's signature (domain ``aidnode/v1/tls``)
over the TLS public key, and the node key itself. A client skips certificate-authority checks
and instead requires that extension to verify under the node key it pinned at the first hello.
So the handshake proves the pinned node key vouches for this connection, a man in the middle
would need the node's secret key, and the node key's seed never leaves memory (only the
ephemeral TLS key passes through a private temporary file, because Python's ``ssl`` loads
keys from files only).
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID, ObjectIdentifier

from crypto.errors import SignatureError
from crypto.signing import SigningIdentity, verify

__all__ = ["TLS_DOMAIN", "peer_certificate_key", "server_context"]

TLS_DOMAIN = b"aidnode/v1/tls\0"
# A private-use arc for the binding extension (1.3.6.1.4.1 is the IANA enterprise arc; 99999
# is the documentation placeholder: the extension is only ever read by aidnode).
BINDING_OID = ObjectIdentifier("1.3.6.1.4.1.99999.7420.1")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _certificate(identity: SigningIdentity, now: datetime.datetime) -> tuple[bytes, bytes]:
    tls_key = Ed25519PrivateKey.generate()
    tls_public = _raw(tls_key.public_key())
    binding = identity.public_key + identity.sign(TLS_DOMAIN, tls_public)
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"aidnode {identity.public_key.hex()[:16]}")]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.UnrecognizedExtension(BINDING_OID, binding), critical=False)
        .sign(tls_key, None)  # Ed25519 signs without a separate hash
    )
    key_pem = tls_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(
    identity: SigningIdentity, now: datetime.datetime | None = None
) -> ssl.SSLContext:
    """A TLS 1.3 server context whose certificate is bound to ``identity`` (the node key)."""
    cert_pem, key_pem = _certificate(identity, now or datetime.datetime.now(datetime.UTC))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with tempfile.TemporaryDirectory(prefix="aidnode-tls-") as directory:
        cert_path, key_path = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert_path.write_bytes(cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def peer_certificate_key(ssl_object: ssl.SSLObject | None) -> bytes | None:
    """The node key that vouches for the peer's TLS certificate, or None if the certificate
    carries no valid binding (the caller compares it with the pinned key)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    certificate = x509.load_der_x509_certificate(der)
    public_key = certificate.public_key()
    if not isinstance(public_key, Ed25519PublicKey):
        return None
    try:
        extension = certificate.extensions.get_extension_for_oid(BINDING_OID).value
    except x509.ExtensionNotFound:
        return None
    if not isinstance(extension, x509.UnrecognizedExtension) or len(extension.value) != 96:
        return None
    node_key, signature = extension.value[:32], extension.value[32:]
    try:
        verify(node_key, TLS_DOMAIN, _raw(public_key), signature)
    except SignatureError:
        return None
    return node_key
