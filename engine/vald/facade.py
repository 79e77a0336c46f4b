"""A Vald-compatible facade: the ``vald.v1`` Search, Object, Insert, Update, Upsert and Remove
services over the same :class:`~sanny.engine.Index` as ``sanny.v1.Sanny``, on the same port, so
the official ``vald-client-python`` works unmodified. The servicer base classes and messages
come from that package (``vald.v1.vald.*_pb2_grpc``, ``vald.v1.payload.payload_pb2``); without
it installed the facade is simply not served (``pip install sanny[vald]``).

Semantics (Vald's where the engine allows):

- Ids are the engine's string keys. Writes answer ``Object.Location{name=<server name,
  default the host name>, uuid=<id>, ips=<listen address when it is a specific IP>}``.
- Insert of an existing id -> ALREADY_EXISTS; Update / Remove / GetObject / Exists /
  SearchByID of a missing id -> NOT_FOUND. Update, and Upsert of an existing id, with the very
  vector already stored -> ALREADY_EXISTS (Vald: "pair of ID and vector already inserted")
  unless ``skip_strict_exist_check`` is set; that is all the flag does (existence itself is
  always checked: it is a dictionary lookup here). The identical-vector check needs the
  coordinator's vectors (``keep_vectors``); without them it is skipped.
- Bad input -> INVALID_ARGUMENT naming the field as the Vald message spells it
  (``vector.vector: wrong dimension ...``, ``config.num: ...``, ``requests[2].vector.id: ...``).
- Search.Config: ``num`` = k (1..10000, so num=0 is INVALID_ARGUMENT); ``epsilon`` is the
  engine's NGT search coefficient (0 = the index default, as Vald treats unset); ``radius`` > 0
  drops results farther than it (0 or < 0 = unlimited, Vald clients send -1); ``min_num``: fewer
  results -> NOT_FOUND, as is an empty result (Vald); ``timeout`` (ns, 0 = none) bounds the
  search like a deadline: remote worker calls past it are cancelled and a search finishing after
  it gets DEADLINE_EXCEEDED; ``request_id`` is echoed. Ingress/egress filters -> UNIMPLEMENTED;
  ``nprobe``, ``edge_size``, ``ratio``, ``aggregation_algorithm`` are ignored. Distances are the
  engine's (l2: Euclidean, cosine / ip as in ``Index.search``).
- LinearSearch*: exact search, run as a search whose candidate count T is the index size (every
  subspace worker returns every vector, the re-rank is exact); over 100,000 vectors it is
  FAILED_PRECONDITION rather than silently approximate.
- Multi*: all-or-nothing. Every request is checked first; writes go to the engine as one batch
  (one WAL record), so either all are applied or none; MultiSearch fails as a whole if any
  query fails (e.g. empty result). MultiSearch's timeout is the smallest one given.
- Stream* (bidirectional): each message is independent, as in Vald: a failed one answers a
  ``status`` (google.rpc.Status) in its stream message and the stream goes on; only the call's
  own deadline or cancellation ends it.
- Timestamps (Insert/Update/Remove config, Object.Vector.timestamp) are ignored; GetObject
  answers timestamp 0. Not served (UNIMPLEMENTED): StreamListObject, GetTimestamp,
  UpdateTimestamp, RemoveByTimestamp, and the Index/Flush/Filter/object-blob services.
"""
from __future__ import annotations

import ipaddress
import logging
import socket

import grpc
import numpy as np

from sanny.workers.deadline import deadline as worker_deadline
from sanny.workers.errors import DeadlineExceeded, InvalidArgument

from .. import validate
from ..limits import Limits, MemoryBudget
from ..rpc import status
from ..rpc.handlers import check_alive
from ..rpc.status import Abort

log = logging.getLogger(__name__)

try:  # optional dependency (extra "vald")
    from google.rpc import status_pb2
    from vald.v1.payload import payload_pb2 as vpb
    IMPORT_ERROR: Exception | None = None
except Exception as e:  # noqa: BLE001 - ImportError, or a protobuf runtime version mismatch
    vpb = status_pb2 = None
    IMPORT_ERROR = e

MAX_LINEAR = validate.MAX_T  # LinearSearch is exact up to this many vectors


def available() -> bool:
    """Whether ``vald-client-python`` is importable (the facade needs its generated code)."""
    return IMPORT_ERROR is None


def renamed(e: InvalidArgument, field: str) -> InvalidArgument:
    """``e`` with its field replaced by ``field`` (same message)."""
    return InvalidArgument(field, str(e)[len(e.field) + 2:])


def no_filters(message, *names: str, prefix: str = "config") -> None:
    """Filters need Vald's filter gateway: refuse them instead of ignoring them silently."""
    for name in names:
        if len(getattr(message, name).targets):
            field = f"{prefix}.{name}" if prefix else name
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, f"{field}: filters are not supported by Sanny")


def check_id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "must be a non-empty string")
    return value


class Facade:
    """What every vald.v1 servicer shares: the index, the server's name and IPs, and the
    checks and conversions between Vald messages and the engine."""

    def __init__(self, index, name: str | None = None, ips=(), search_chunk: int = 512,
                 limits: Limits | None = None, budget: MemoryBudget | None = None):
        self.index = index
        self.limits = limits or Limits()  # request shapes, checked before any work (engine.limits)
        self.budget = budget or MemoryBudget(self.limits.memory_budget_bytes)
        self.name = name or socket.gethostname()
        self.ips = list(ips)
        self.search_chunk = max(1, int(search_chunk))

    def vector(self, values, field: str) -> np.ndarray:
        """One request vector as a checked ``1 x dim`` float32 row (cosine: normalised, so a
        zero vector is refused here, naming ``field``)."""
        try:
            return self.index.prepare_queries(np.array(values, dtype=np.float32), field).x
        except InvalidArgument as e:  # one vector, not a batch: no "row 0"
            message = str(e)[len(e.field) + 2:]
            raise InvalidArgument(field, message.removeprefix("row 0 ")) from None

    def id(self, value: str, field: str) -> str:
        """A request's id: non-empty and within the key limits (``max_key_bytes``)."""
        check_id(value, field)
        self.limits.key(value, field)
        return value

    def location(self, id_: str):
        return vpb.Object.Location(name=self.name, uuid=id_, ips=self.ips)


def rpc_status(e: BaseException):
    """``e`` as a google.rpc.Status for a stream message."""
    code, message = status.to_status(e)
    return status_pb2.Status(code=code.value[0], message=message)


def _ends_stream(e: BaseException, context) -> bool:
    """Only the call's own deadline or cancellation ends a stream; a request's own timeout
    (Search.Config.timeout) fails just that message."""
    if isinstance(e, Abort) and e.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return True
    if isinstance(e, DeadlineExceeded):
        left = context.time_remaining()
        return (left is not None and left <= 0) or not context.is_active()
    return False


def stream(requests, context, handle, ok, failed):
    """Bidirectional stream: ``handle(request)`` per message, answered with ``ok(result)`` or
    ``failed(google.rpc.Status)``; independent messages, in order."""
    for request in requests:
        try:
            check_alive(context)
            with worker_deadline(context.time_remaining()):
                result = handle(request)
        except Exception as e:  # noqa: BLE001 - becomes a status (or ends the call)
            if _ends_stream(e, context):
                status.abort(context, e)
            yield failed(rpc_status(e))
            continue
        yield ok(result)


def listen_ips(address: str) -> list[str]:
    """The listen host when it is a specific IP address (not a wildcard, not a name)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return []
    return [] if ip.is_unspecified else [str(ip)]
