"""The coordinator's gRPC server: the ``sanny.v1.Sanny`` service plus standard health and
reflection, a message size limit, optional TLS and bearer-token auth.

``run_server(index)`` is a context manager yielding ``(server, port)``; leaving it stops the
server gracefully (health NOT_SERVING, in-flight calls get ``grace`` seconds to finish). The
index stays the caller's to save and close.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc
from sanny.workers.deadline import deadline as worker_deadline
from sanny.workers.errors import InvalidArgument
from sanny.workers.tls import OPEN_METHODS, BearerTokenAuth, server_credentials  # noqa: F401 - re-exported

from ..limits import Limits, MemoryBudget
from ..vald import add_vald_services
from .service import SERVICE_NAME, SannyService, worker_infos

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class _Malformed:
    """What the tolerant deserializer returns for bytes that do not parse."""

    def __init__(self, error: Exception):
        self.error = error


def _tolerant(deserialize):
    def parse(data):
        try:
            return deserialize(data)
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
            return _Malformed(e)
    return parse


def _malformed_message(m: _Malformed) -> str:
    return f"request is not a valid protobuf message of this method's type ({m.error})"


def _relay(responses, context):
    """A response stream whose request stream turned out malformed ends with INVALID_ARGUMENT."""
    try:
        yield from responses
    except InvalidArgument as e:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))


class WellFormed(grpc.ServerInterceptor):
    """Malformed request bytes get INVALID_ARGUMENT (gRPC's own answer would be INTERNAL)."""

    def intercept_service(self, continuation, details):
        h = continuation(details)
        if h is None or h.request_deserializer is None:
            return h
        parse = _tolerant(h.request_deserializer)
        if h.request_streaming:
            behavior = h.stream_stream or h.stream_unary

            def stream(requests, context, _b=behavior, _out=h.response_streaming):
                def checked():
                    for r in requests:
                        if isinstance(r, _Malformed):  # the handler maps it to INVALID_ARGUMENT
                            raise InvalidArgument("request", _malformed_message(r))
                        yield r
                out = _b(checked(), context)
                return _relay(out, context) if _out else out
            field = "stream_stream" if h.stream_stream else "stream_unary"
        else:
            behavior = h.unary_unary or h.unary_stream

            def stream(request, context, _b=behavior):
                if isinstance(request, _Malformed):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, _malformed_message(request))
                return _b(request, context)
            field = "unary_unary" if h.unary_unary else "unary_stream"
        return h._replace(request_deserializer=parse, **{field: stream})


def _watch_workers(index, servicer: health.HealthServicer, interval: float, stop: threading.Event) -> None:
    """Health follows the workers: NOT_SERVING while any worker is unreachable."""
    while not stop.wait(interval):
        with worker_deadline(max(interval, 1.0)):  # a hung worker must not stall the checks
            down = [w for w in worker_infos(index) if w.state != pb.WORKER_STATE_SERVING]
            for w in list(index.workers):  # a restarted worker replays what it missed now, so
                with contextlib.suppress(Exception):  # the first search after it is not slower
                    getattr(w, "catch_up", lambda: None)()
        state = health_pb2.HealthCheckResponse.NOT_SERVING if down else health_pb2.HealthCheckResponse.SERVING
        for name in ("", SERVICE_NAME):
            servicer.set(name, state)


@contextlib.contextmanager
def run_server(index, address: str = "127.0.0.1:0", *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
               max_workers: int = 16, token: str | None = None, tls_cert=None, tls_key=None,
               tls_client_ca=None, grace: float = 5.0, search_chunk: int = 512,
               health_interval: float = 2.0, add_services=(), vald: bool = True, limits=None):
    """Serve ``index`` on ``address`` (``HOST:0`` picks a free port); yields ``(server, port)``.

    max_message_bytes: largest request (and response) accepted; bigger ones get
        RESOURCE_EXHAUSTED. token: require ``authorization: Bearer <token>`` (health stays
        open). tls_cert / tls_key: PEM bytes or file paths; with tls_client_ca, clients must
        present a certificate signed by it (mutual TLS). health_interval: seconds between
        worker checks when some workers are remote (health goes NOT_SERVING while one is down).
        add_services: callables ``fn(server) -> [service names]`` to serve more services on the
        same port (their names are added to health and reflection).
        vald: also serve the Vald-compatible ``vald.v1`` services (``vald``) when
        vald-client-python is installed (in reflection; health reports the sanny services).
        limits: :class:`~sanny.engine.limits.Limits` (request shapes, in-flight memory budget).
    """
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.so_reuseport", 0)]  # a port already in use is an error, not shared
    interceptors = [WellFormed(), *([BearerTokenAuth(token)] if token else [])]
    server = grpc.server(ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sanny-rpc"),
                         options=options, interceptors=interceptors)
    limits = limits or Limits()
    budget = MemoryBudget(limits.memory_budget_bytes)  # one budget for sanny.v1 and vald.v1
    pb_grpc.add_SannyServicer_to_server(SannyService(index, search_chunk, limits, budget), server)
    vald_names = add_vald_services(server, index, address=address, search_chunk=search_chunk,
                                   limits=limits, budget=budget) if vald else []
    names = [SERVICE_NAME]
    for add in add_services:
        names += list(add(server) or [])
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names += [*vald_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)

    if tls_cert is not None or tls_key is not None:
        if tls_cert is None or tls_key is None:
            raise ValueError("TLS needs both a certificate and its private key")
        creds = server_credentials(tls_cert, tls_key, tls_client_ca)
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if not port:  # older grpcio returns 0 instead of raising
        raise RuntimeError(f"cannot listen on {address}")
    server.start()
    log.info("serving %s on %s (port %d, %s%s)", SERVICE_NAME, address, port,
             "TLS" if tls_cert is not None else "plaintext", ", token auth" if token else "")

    stop = threading.Event()
    watcher = None
    if health_interval > 0 and index.has_remote_workers:
        watcher = threading.Thread(target=_watch_workers, args=(index, health_servicer, health_interval, stop),
                                   name="sanny-health", daemon=True)
        watcher.start()
    try:
        yield server, port
    finally:
        stop.set()
        health_servicer.enter_graceful_shutdown()  # every service NOT_SERVING from here on
        server.stop(grace).wait()
        if watcher is not None:
            watcher.join(timeout=grace)
        log.info("server on port %d stopped", port)
