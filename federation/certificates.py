"""TLS certificates and SuperNode key pairs for a Flower deployment, made with ``cryptography``.

For local runs and first trials, :func:`make_local_tls` makes a private certificate authority and a SuperLink
server certificate signed by it, valid for the host names and addresses given (``127.0.0.1`` and ``localhost``
by default); SuperNodes and the ``flwr`` CLI trust the CA. A real deployment passes its own CA, certificate
and key paths instead. :func:`make_node_key` makes one SuperNode's EC key pair in the formats Flower 1.42
reads: the private key as an OpenSSH PEM (``flower-supernode --auth-supernode-private-key``) and the public
key as an OpenSSH line (``flwr supernode register``).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from federation.errors import FederationConfigError

__all__ = ["DEFAULT_HOSTS", "NodeKey", "TlsFiles", "make_local_tls", "make_node_key"]

logger = logging.getLogger(__name__)

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
_VALID_DAYS = 365
_CURVE = ec.SECP384R1()  # a NIST curve, as `flwr supernode register` requires


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a SuperLink's TLS: the CA certificate (what clients trust), its certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    def check(self) -> None:
        """Raise :class:`FederationConfigError` naming the first file that does not exist."""
        for role, path in (("CA certificate", self.ca_cert), ("certificate", self.server_cert)):
            if not path.is_file():
                raise FederationConfigError(f"the SuperLink TLS {role} {path} does not exist; give a PEM file")
        if not self.server_key.is_file():
            raise FederationConfigError(f"the SuperLink TLS key {self.server_key} does not exist; give a PEM file")


@dataclass(frozen=True)
class NodeKey:
    """One SuperNode's authentication key pair."""

    private_key: Path  # OpenSSH PEM, passed to flower-supernode
    public_key: Path  # OpenSSH line, registered with the SuperLink


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _subject_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    if not hosts:
        raise FederationConfigError("a server certificate needs at least one host name or address; e.g. 127.0.0.1")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(ch.isspace() for ch in host):
                raise FederationConfigError(f"{host!r} is neither an IP address nor a host name") from None
            names.append(x509.DNSName(host))
    return names


def make_local_tls(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> TlsFiles:
    """Write ``ca.crt``, ``server.pem`` and ``server.key`` into ``directory``: a new CA and a server certificate it
    signed, with ``hosts`` (IP addresses or DNS names) as subject alternative names. Keys are readable by the
    owner only."""
    names = _subject_names(hosts)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(_CURVE)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shopmesh federation local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(_CURVE)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        files.server_key,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    logger.info("made a local CA and a SuperLink certificate for %s in %s", ", ".join(hosts), directory)
    return files


def make_node_key(directory: Path, name: str) -> NodeKey:
    """Write ``NAME`` (private, OpenSSH PEM, owner-only) and ``NAME.pub`` (OpenSSH line) into ``directory``."""
    if not name or "/" in name or name.startswith("."):
        raise FederationConfigError(f"key name {name!r} must be a plain file name such as 'merchant-1'")
    key = ec.generate_private_key(_CURVE)
    files = NodeKey(directory / name, directory / f"{name}.pub")
    _write_private(
        files.private_key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    files.public_key.write_bytes(public + f" {name}\n".encode())
    return files
