"""Mutual TLS between the coordinator and a gRPC worker: with the CA-signed client certificate
the index works; without one the worker refuses the connection (WorkerUnavailable)."""
from __future__ import annotations

import datetime
import ipaddress

import pytest

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable  # noqa: E402
from sanny.workers.grpc_server import run_server  # noqa: E402
from sanny.workers.tls import server_credentials  # noqa: E402
from sanny.workers.transports import factory_from_config  # noqa: E402

from transport_helpers import dataset  # noqa: E402


def _cert(name, key, issuer_name, issuer_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def write_pki(d):
    """CA, a worker certificate for 127.0.0.1 and a coordinator (client) certificate."""
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sanny test CA")])
    files = {"ca.crt": _cert("sanny test CA", ca_key, ca_name, ca_key, ca=True).public_bytes(pem)}
    for who, san in (("worker", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), ("coordinator", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{who}.crt"] = _cert(who, key, ca_name, ca_key, san=san).public_bytes(pem)
        files[f"{who}.key"] = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: str(d / name) for name in files}


def test_mutual_tls_between_coordinator_and_worker(tmp_path):
    pki = write_pki(tmp_path)
    x, q, keys = dataset(n=300)
    creds = server_credentials(pki["worker.crt"], pki["worker.key"], client_ca=pki["ca.crt"])
    cfg = IndexConfig(dim=32, S=2, workers=1, inner=InnerParams(kind="exact"))
    with run_server(str(tmp_path / "w"), "127.0.0.1:0", credentials=creds) as (_, port, _host):
        table = {"transport": "grpc", "addresses": [f"127.0.0.1:{port}"], "tls_ca": pki["ca.crt"],
                 "tls_cert": pki["coordinator.crt"], "tls_key": pki["coordinator.key"]}
        ix = Index.create(str(tmp_path / "idx"), cfg, worker_factory=factory_from_config({"workers": table}))
        try:
            ix.insert(keys, x)
            assert list(ix.search(x[:3], 1)[0][:, 0]) == keys[:3]
        finally:
            ix.close(save=False)

        no_cert = {k: v for k, v in table.items() if k not in ("tls_cert", "tls_key")}
        with pytest.raises(WorkerUnavailable):
            Index.create(str(tmp_path / "idx2"), cfg, worker_factory=factory_from_config({"workers": no_cert}))
