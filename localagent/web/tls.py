"""HTTPS for the page, so a browser on another machine gives it the microphone.

Browsers give `getUserMedia` only to secure origins: `http://localhost` counts, an address
on the LAN does not. Bound beyond loopback, the server therefore serves HTTPS: with the
certificate you give (`--tls-cert`/`--tls-key`), or else one it makes itself, self-signed,
under the data dir (`tls/`), for this machine's names and addresses, kept for a year and
reused across runs so a browser's "proceed anyway" holds. Its SHA-256 fingerprint is
printed, so you can check that what the browser shows is this machine's certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from localagent.errors import ConfigError

__all__ = [
    "TlsFiles",
    "certificate_summary",
    "ensure_self_signed",
    "fingerprint",
    "reachable_at",
    "tls_files",
]

VALID_DAYS = 365
RENEW_WITHIN_DAYS = 14


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    self_signed: bool
    fingerprint: str  # SHA-256, colon-separated hex


def fingerprint(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def certificate_summary(cert_path: Path) -> str:
    """Fingerprint and expiry of a PEM certificate, for `doctor`."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    until = cert.not_valid_after_utc
    days = (until - dt.datetime.now(dt.UTC)).days
    return (
        f"SHA-256 {fingerprint(cert_path.read_bytes())}, valid until {until:%Y-%m-%d} ({days} days)"
    )


def reachable_at(bind_host: str) -> list[str]:
    """The names and addresses other machines may reach a server bound to `bind_host` by
    (this machine's own loopback ones left out)."""
    names, addresses = _names(bind_host)
    return [n for n in [*names, *addresses] if n not in ("localhost", "127.0.0.1", "::1")]


def _names(bind_host: str) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses this machine answers to, for the certificate."""
    names = {"localhost", socket.gethostname()}
    with_fqdn = socket.getfqdn()
    if with_fqdn and "." in with_fqdn:
        names.add(with_fqdn)
    addresses = {"127.0.0.1", "::1"}
    try:
        ipaddress.ip_address(bind_host.strip("[]"))
        if bind_host not in ("0.0.0.0", "::"):
            addresses.add(bind_host.strip("[]"))
    except ValueError:
        names.add(bind_host)
    for name in list(names):
        try:
            for info in socket.getaddrinfo(name, None):
                addresses.add(str(info[4][0]).split("%")[0])
        except OSError:
            continue
    return sorted(names), sorted(addresses)


def _usable(cert_path: Path, names: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return left > dt.timedelta(days=RENEW_WITHIN_DAYS) and set(names) <= set(
        san.get_values_for_type(x509.DNSName)
    )


def ensure_self_signed(folder: Path, bind_host: str) -> TlsFiles:
    """This machine's self-signed certificate: the one made before if still good, else new."""
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names, addresses = _names(bind_host)
    if not (_usable(cert_path, names) and key_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"localagent on {names[-1]}")])
        now = dt.datetime.now(dt.UTC)
        san = [x509.DNSName(n) for n in names] + [
            x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(cert_path, key_path, True, fingerprint(cert_path.read_bytes()))


def tls_files(
    cert: Path | None, key: Path | None, *, bind_host: str, loopback: bool, data_dir: Path
) -> TlsFiles | None:
    """What the server serves HTTPS with, or None (plain HTTP: loopback and no cert given)."""
    if (cert is None) != (key is None):
        raise ConfigError(
            "--tls-cert and --tls-key go together.",
            "give both (a PEM certificate and its private key), or neither",
        )
    if cert is not None and key is not None:
        for what, path in (("certificate", cert), ("key", key)):
            if not path.is_file():
                raise ConfigError(
                    f"The TLS {what} {path} does not exist or is not a file.",
                    "give the path of a PEM file, or leave both out for a self-signed one",
                )
        try:
            return TlsFiles(cert, key, False, fingerprint(cert.read_bytes()))
        except ValueError as e:
            raise ConfigError(
                f"The TLS certificate {cert} is not a PEM certificate ({e}).",
                "give a PEM file (-----BEGIN CERTIFICATE-----)",
            ) from None
    if loopback:
        return None
    return ensure_self_signed(data_dir / "tls", bind_host)
