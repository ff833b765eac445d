"""A throwaway certificate authority and a server certificate for fake RDS host names.

Clients connect with `host=<fake RDS name> hostaddr=127.0.0.1 sslmode=verify-full`, so the
name is checked against the certificate's SAN exactly as it would be on RDS, with no DNS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The names a sandbox target may use; all of them resolve to 127.0.0.1 through hostaddr.
FAKE_RDS_HOSTS = (
    "demo.cluster-abc123.us-east-1.rds.amazonaws.com",
    "demo.cluster-ro-abc123.us-east-1.rds.amazonaws.com",
    "demo-1.abc123.us-east-1.rds.amazonaws.com",
    "demo-proxy.proxy-abc123.us-east-1.rds.amazonaws.com",
    "other.cluster-def456.eu-west-1.rds.amazonaws.com",
)


@dataclass(frozen=True)
class SandboxPki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path  # a CA that signed nothing the server presents: verify-full must fail


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _make_ca(
    common_name: str, now: datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_pki(directory: Path, hosts: tuple[str, ...] = FAKE_RDS_HOSTS) -> SandboxPki:
    """Write ca.crt, server.crt, server.key and other-ca.crt into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, ca_cert = _make_ca("pgwarden test root CA", now)
    _, other_ca = _make_ca("pgwarden untrusted CA", now)
    key = ec.generate_private_key(ec.SECP256R1())
    san: list[x509.GeneralName] = [x509.DNSName(h) for h in (*hosts, "localhost")]
    san.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = SandboxPki(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        other_ca_cert=directory / "other-ca.crt",
    )
    pki.ca_cert.write_bytes(_pem(ca_cert))
    pki.other_ca_cert.write_bytes(_pem(other_ca))
    pki.server_cert.write_bytes(_pem(server))
    pki.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # PostgreSQL refuses a key file that others can read.
    pki.server_key.chmod(0o600)
    return pki
