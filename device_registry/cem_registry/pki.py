"""The certificate authority's cryptography: keys, certificates, CSR checks and CRLs (X.509, RFC 5280).

Pure functions over ``cryptography`` objects; nothing here touches the database or the network. The
registry's services decide *what* to issue; this module decides *how* it is encoded.

Profiles:

* root CA          CA:TRUE, no path length limit below 1, keyCertSign + cRLSign, 20 years
* issuing CA       CA:TRUE pathlen 0, keyCertSign + cRLSign, 10 years, signed by the root
* device           CN = device id, clientAuth, digitalSignature, signed by the issuing CA
* service client   CN = service identity (the ingest service), clientAuth
* broker server    CN + subjectAltName DNS/IP names, serverAuth
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cem_platform.errors import ConfigurationError, InvalidInputError

__all__ = [
    "ACCEPTED_CURVES",
    "PrivateKey",
    "RevokedEntry",
    "build_crl",
    "certificate_from_pem",
    "check_csr",
    "common_name",
    "decrypt_key",
    "encrypt_key",
    "fingerprint",
    "issue_client_certificate",
    "issue_issuing_ca",
    "issue_root_ca",
    "issue_server_certificate",
    "make_csr",
    "new_key",
    "pem",
    "plain_key_pem",
    "serial_hex",
    "verify_issued_by",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
ACCEPTED_CURVES = {"secp256r1": 256, "secp384r1": 384}
_CLOCK_SKEW = dt.timedelta(minutes=5)  # certificates start this much in the past: devices' clocks drift


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def new_key(curve: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    """A fresh EC private key (P-256 unless told otherwise)."""
    curves: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
    if curve not in curves:
        raise ConfigurationError(f"unsupported curve {curve!r}; use one of {', '.join(curves)}")
    return ec.generate_private_key(curves[curve])


def encrypt_key(key: PrivateKey, passphrase: str) -> bytes:
    """The key as encrypted PKCS#8 PEM (the best encryption the library offers)."""
    if len(passphrase) < 16:
        raise ConfigurationError(
            "the CA passphrase must be at least 16 characters",
            hint="Set CEM_PKI_PASSPHRASE to a long random string and keep it outside the database.",
        )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def plain_key_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM, for a service that must read it unattended (file mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def decrypt_key(data: bytes, passphrase: str) -> PrivateKey:
    """Load an encrypted PEM key; a wrong passphrase is a configuration error, never a crash with the key."""
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode())
    except (ValueError, TypeError) as err:
        raise ConfigurationError(
            "the CA key cannot be decrypted with the configured passphrase",
            hint="Set CEM_PKI_PASSPHRASE to the passphrase used at 'cem pki init'.",
        ) from err
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigurationError("the CA key is neither EC nor RSA")
    return key


def pem(obj: x509.Certificate | x509.CertificateRevocationList | x509.CertificateSigningRequest) -> str:
    """PEM text of a certificate, CRL or CSR."""
    return obj.public_bytes(serialization.Encoding.PEM).decode()


def certificate_from_pem(text: str | bytes) -> x509.Certificate:
    """Parse one PEM certificate, with a clear error."""
    data = text.encode() if isinstance(text, str) else text
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as err:
        raise InvalidInputError(
            "this is not a PEM certificate", hint="Send the certificate as issued, '-----BEGIN CERTIFICATE-----'."
        ) from err


def serial_hex(cert: x509.Certificate) -> str:
    """The serial number as lowercase hex, the way the registry stores it."""
    return format(cert.serial_number, "x")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER encoding, hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def common_name(name: x509.Name) -> str:
    """The single CN of a subject, or ''."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if len(values) == 1 else ""


def _name(cn: str, organisation: str = "", unit: str = "") -> x509.Name:
    parts = []
    if organisation:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage(*, server: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=server,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_root_ca(key: PrivateKey, *, name: str, organisation: str, days: int) -> x509.Certificate:
    """A self-signed root CA."""
    now = utcnow()
    subject = _name(name, organisation)
    return (
        _builder(subject, subject, key.public_key(), now - _CLOCK_SKEW, now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, _hash_for(key))
    )


def issue_issuing_ca(
    key: PrivateKey, root_cert: x509.Certificate, root_key: PrivateKey, *, name: str, organisation: str, days: int
) -> x509.Certificate:
    """The online CA that signs device, service and server certificates, signed by the root."""
    now = utcnow()
    not_after = min(now + dt.timedelta(days=days), root_cert.not_valid_after_utc)
    return (
        _builder(_name(name, organisation), root_cert.subject, key.public_key(), now - _CLOCK_SKEW, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_authority_key_id(root_cert), critical=False)
        .sign(root_key, _hash_for(root_key))
    )


def issue_client_certificate(
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    identity: str,
    organisation: str,
    unit: str,
    days: int,
    not_before: dt.datetime | None = None,
    crl_url: str = "",
) -> x509.Certificate:
    """A TLS client certificate whose CN is ``identity`` (a device id or a service name).

    ``crl_url``, when given, becomes the certificate's CRL distribution point (brokers such as EMQX fetch it).
    """
    start = not_before or (utcnow() - _CLOCK_SKEW)
    not_after = min(start + _CLOCK_SKEW + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        _builder(_name(identity, organisation, unit), ca_cert.subject, public_key, start, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(server=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
    )
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def issue_server_certificate(
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    hostnames: Sequence[str],
    organisation: str,
    days: int,
) -> x509.Certificate:
    """A TLS server certificate for the broker, valid for each of ``hostnames`` (DNS names or IP addresses)."""
    if not hostnames:
        raise InvalidInputError("a server certificate needs at least one host name or IP address")
    alt_names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = utcnow()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    return (
        _builder(_name(hostnames[0], organisation, "broker"), ca_cert.subject, public_key, now - _CLOCK_SKEW, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(server=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, _hash_for(ca_key))
    )


def make_csr(key: PrivateKey, common_name_: str) -> x509.CertificateSigningRequest:
    """A CSR with only a CN, signed by ``key`` (what a terminal sends at enrolment)."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name_)]))
        .sign(key, _hash_for(key))
    )


def check_csr(
    csr_pem: str, *, expected_cn: str, rsa_min_bits: int
) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePublicKey | rsa.RSAPublicKey]:
    """Parse and check a CSR: well formed, self-signature valid, accepted key, subject CN = ``expected_cn``.

    Raises InvalidInputError whose message says which check failed.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as err:
        raise InvalidInputError(
            "the CSR is not a PEM certificate signing request",
            hint="Send '-----BEGIN CERTIFICATE REQUEST-----' text made by the terminal from its own key.",
        ) from err
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidInputError(
            "the CSR's signature does not verify", hint="The CSR must be signed by the key it carries; make it anew."
        )
    public_key = csr.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            raise InvalidInputError(
                f"the CSR's key is on curve {public_key.curve.name}, which is not accepted",
                hint=f"Use an EC key on {' or '.join(ACCEPTED_CURVES)} (P-256 recommended).",
            )
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < rsa_min_bits:
            raise InvalidInputError(
                f"the CSR's RSA key has {public_key.key_size} bits; at least {rsa_min_bits} are required",
                hint="Use an EC P-256 key, or a longer RSA key.",
            )
    else:
        raise InvalidInputError(
            f"the CSR's key type ({type(public_key).__name__}) is not accepted", hint="Use an EC P-256 key."
        )
    cn = common_name(csr.subject)
    if cn != expected_cn or len(csr.subject) != 1:
        raise InvalidInputError(
            f"the CSR's subject is {csr.subject.rfc4514_string()!r}, but this token enrols device {expected_cn!r}",
            hint=f"Make the CSR with the subject 'CN={expected_cn}' and nothing else.",
            details={"expected_subject": f"CN={expected_cn}", "subject": csr.subject.rfc4514_string()},
        )
    return csr, public_key


def verify_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate, *, at: dt.datetime | None = None) -> bool:
    """True when ``cert`` was signed by ``ca_cert`` and is within its validity period at ``at`` (now)."""
    when = at or utcnow()
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One line of a CRL."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags


def build_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    entries: Iterable[RevokedEntry],
    *,
    number: int,
    valid_hours: int,
    crl_url: str = "",
) -> x509.CertificateRevocationList:
    """A CRL signed by the CA, numbered, valid for ``valid_hours`` (republished well before that).

    With ``crl_url`` it names where it is published (issuing distribution point; EMQX asks for it).
    """
    now = utcnow()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - _CLOCK_SKEW)
        .next_update(now + dt.timedelta(hours=valid_hours))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(
            x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier(crl_url)],
                relative_name=None,
                only_contains_user_certs=False,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            ),
            critical=True,
        )
    for entry in entries:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(entry.reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(ca_key, _hash_for(ca_key))


def random_token(nbytes: int = 24) -> str:
    """URL-safe random text."""
    return secrets.token_urlsafe(nbytes)
