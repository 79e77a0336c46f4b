"""TLS with a self-signed certificate made in the test: a client trusting it connects (also with
a token), a plaintext client cannot."""
from __future__ import annotations

import datetime
import ipaddress

import grpc
import pytest

from sanny.engine.api.client import Client

from service_fixtures import data, index, served  # noqa: F401

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for localhost / 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_tls_round_trip_and_plaintext_refused(index, tmp_path):
    cert, key = self_signed()
    (tmp_path / "server.crt").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    with served(index, tls_cert=tmp_path / "server.crt", tls_key=tmp_path / "server.key", token="tok") as port:
        with Client(f"127.0.0.1:{port}", token="tok", root_certificates=cert, timeout=10) as c:
            assert c.insert(["a", "b"], data(2)) == 2
            assert c.search(data(1), k=2)[0].shape == (1, 2)
        with Client(f"localhost:{port}", token="tok", root_certificates=tmp_path / "server.crt", timeout=10) as c:
            assert c.info()["count"] == 2
        with Client(f"127.0.0.1:{port}", token="tok", timeout=3) as c, pytest.raises(grpc.RpcError) as e:
            c.info()
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
