"""gRPC subspace worker server: the ``SubspaceWorker`` service over a :class:`WorkerHost`.

``run_server(data_dir, listen)`` is a context manager yielding ``(server, port, host)``; the
``sanny worker`` command and the tests use it. Also serves grpc.health.v1 (service name
``sanny.v1.SubspaceWorker``, SERVING once the last save is reloaded) and server reflection.
"""
from __future__ import annotations

import contextlib
import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sanny.v1 import worker_pb2 as pb
from sanny.v1 import worker_pb2_grpc as pb_grpc

from . import grpc_codec as codec
from .host import StaleState, WorkerHost
from .tls import BearerTokenAuth

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["SubspaceWorker"].full_name
MAX_MESSAGE = 1 << 30


class SubspaceWorkerServicer(pb_grpc.SubspaceWorkerServicer):
    def __init__(self, host: WorkerHost):
        self.host = host

    def _run(self, context, method: str, **kw):
        epoch = dict(context.invocation_metadata()).get(codec.EPOCH_HEADER)
        try:
            return self.host.call(method, epoch, **kw)
        except StaleState as e:
            context.abort(grpc.StatusCode.ABORTED, str(e))
        except FileNotFoundError as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except (ValueError, TypeError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except Exception as e:  # noqa: BLE001 - reported to the caller, not swallowed
            log.exception("worker call %s failed", method)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    def _decode(self, context, fn):
        try:
            return fn()
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

    @staticmethod
    def _secret(context) -> str | None:
        return dict(context.invocation_metadata()).get(codec.SECRET_HEADER)

    def Configure(self, request, context):
        pos = self._run(context, "configure", spec=codec.spec_dict(request.spec), lineage=request.lineage,
                        secret=self._secret(context))
        return codec.position_msg(pos)

    def Insert(self, request, context):
        ids, x = self._decode(context, lambda: (codec.unarray(request.ids, "<i8", "ids", 1),
                                                codec.unarray(request.slices, "<f4", "slices", 2)))
        return codec.position_msg(self._run(context, "insert", seq=request.seq, ids=ids, slices=x))

    def Remove(self, request, context):
        ids = self._decode(context, lambda: codec.unarray(request.ids, "<i8", "ids", 1))
        return codec.position_msg(self._run(context, "remove", seq=request.seq, ids=ids))

    def Search(self, request, context):
        q = self._decode(context, lambda: codec.unarray(request.queries, "<f4", "queries", 2))
        ids, dists = self._run(context, "search", queries=q, T=request.T,
                               params=codec.params_dict(request.params))
        return pb.WorkerSearchResponse(ids=codec.array(ids, "<i8"), dists=codec.array(dists, "<f4"))

    def PartialDistances(self, request, context):
        q, cand = self._decode(context, lambda: (codec.unarray(request.queries, "<f4", "queries", 2),
                                                 codec.unarray(request.candidate_ids, "<i8", "candidate_ids", 2)))
        d = self._run(context, "partial_distances", queries=q, candidate_ids=cand)
        return pb.WorkerPartialDistancesResponse(dists=codec.array(d, "<f4"))

    def Build(self, request, context):
        return codec.position_msg(self._run(context, "build", optimize=request.optimize))

    def Save(self, request, context):
        return codec.position_msg(self._run(context, "save", tag=request.tag, seq=request.seq,
                                                 keep=list(request.keep) or None, proof=self._secret(context)))

    def Load(self, request, context):
        spec = codec.spec_dict(request.spec) if request.HasField("spec") else None
        return codec.position_msg(self._run(context, "load", tag=request.tag, spec=spec))

    def Release(self, request, context):
        return codec.position_msg(self._run(context, "release", keep=list(request.keep), proof=self._secret(context)))

    def Stats(self, request, context):
        st = self._run(context, "stats")
        return pb.WorkerStatsResponse(
            position=codec.position_msg(st["position"]),
            spec=codec.spec_msg(st["spec"]) if st["spec"] else None,
            stats=codec.struct(st["stats"]),
            saves=[pb.WorkerSave(**s) for s in st["saves"]])


@contextlib.contextmanager
def run_server(data_dir: str, listen: str = "127.0.0.1:0", max_workers: int = 8,
               credentials: grpc.ServerCredentials | None = None, grace: float = 5.0,
               token: str | None = None):
    """Serve a WorkerHost on ``data_dir``; yields ``(server, port, host)``; stops on exit.
    ``token``: every call but health checks must carry ``authorization: Bearer <token>`` (the
    coordinator's worker client sends it); ``credentials`` with a client CA: mutual TLS."""
    host = WorkerHost(data_dir)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sanny-worker"),
                         interceptors=[BearerTokenAuth(token)] if token else [],
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                  ("grpc.max_send_message_length", MAX_MESSAGE),
                                  ("grpc.so_reuseport", 0)])
    pb_grpc.add_SubspaceWorkerServicer_to_server(SubspaceWorkerServicer(host), server)
    hs = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    reflection.enable_server_reflection([SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    except RuntimeError as e:
        host.close()
        raise OSError(f"cannot listen on {listen}: {e}") from None
    server.start()
    for name in ("", SERVICE):
        hs.set(name, health_pb2.HealthCheckResponse.SERVING)
    try:
        yield server, port, host
    finally:
        hs.enter_graceful_shutdown()
        server.stop(grace).wait()
        host.close()
