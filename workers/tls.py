"""TLS credentials from PEM material and bearer-token auth, for every gRPC endpoint Sanny has:
the coordinator's server and client (``engine.api``) and the subspace worker's server and client."""
from __future__ import annotations

import hmac
import os

import grpc

OPEN_METHODS = ("/grpc.health.v1.Health/",)  # reachable without a token (load balancers, probes)


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


def read_token(path) -> str:
    """The bearer token in file ``path`` (stripped); ValueError when the file is empty."""
    with open(os.fspath(path)) as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"token file {path} is empty")
    return token


def bearer(token: str | None) -> tuple | None:
    """The call metadata that carries ``token`` (None: no metadata)."""
    return (("authorization", f"Bearer {token}"),) if token else None


def _deny(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that fails with UNAUTHENTICATED."""
    def reject(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED,
                      "missing or wrong bearer token (send metadata 'authorization: Bearer <token>')")

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(reject)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(reject)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(reject)
    return grpc.unary_unary_rpc_method_handler(reject)


class BearerTokenAuth(grpc.ServerInterceptor):
    """Require ``authorization: Bearer <token>`` on every method except health checks."""

    def __init__(self, token: str, open_methods=OPEN_METHODS):
        if not token:
            raise ValueError("empty token")
        self._token = token.encode()
        self._open = tuple(open_methods)

    def _ok(self, metadata) -> bool:
        value = next((v for k, v in metadata or () if k == "authorization"), "")
        scheme, _, credential = str(value).partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self._token)

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(self._open) or self._ok(details.invocation_metadata):
            return handler
        return _deny(handler)
