"""TLS credentials from PEM material, for every gRPC endpoint Sanny has: the coordinator's
server and client (``engine.api``) and the subspace worker's server and client."""
from __future__ import annotations

import os

import grpc


def read_pem(value) -> bytes | None:
    """PEM bytes as given, or read from a path; None stays None."""
    if value is None or isinstance(value, bytes):
        return value
    with open(os.fspath(value), "rb") as f:
        return f.read()


def server_credentials(cert, key, client_ca=None) -> grpc.ServerCredentials:
    """A server's certificate chain and key (bytes or paths); with ``client_ca`` the server also
    requires client certificates signed by it (mutual TLS)."""
    ca = read_pem(client_ca)
    return grpc.ssl_server_credentials([(read_pem(key), read_pem(cert))], root_certificates=ca,
                                       require_client_auth=ca is not None)


def channel_credentials(ca=None, cert=None, key=None) -> grpc.ChannelCredentials:
    """TLS to a server issued by ``ca`` (None: the system roots); ``cert``/``key``: our client
    certificate for mutual TLS (bytes or paths)."""
    return grpc.ssl_channel_credentials(root_certificates=read_pem(ca), private_key=read_pem(key),
                                        certificate_chain=read_pem(cert))
