"""numpy / dict <-> sanny.v1 worker messages, shared by the gRPC worker server and client."""
from __future__ import annotations

from dataclasses import fields

import numpy as np
from google.protobuf import json_format, struct_pb2

from sanny.v1 import worker_pb2 as pb

from .base import InnerParams

EPOCH_HEADER = "sanny-epoch"
SECRET_HEADER = "sanny-lineage-secret"  # Configure sets it, Save proves it (metadata, never a reply)


def array(x: np.ndarray, dtype: str) -> pb.WorkerArray:
    x = np.ascontiguousarray(x, dtype)
    return pb.WorkerArray(shape=list(x.shape), data=x.tobytes())


def unarray(a: pb.WorkerArray, dtype: str, field: str, ndim: int | None = None) -> np.ndarray:
    """Checked decode: a payload whose size disagrees with its shape is an error, not a reshape."""
    shape = tuple(int(s) for s in a.shape)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{field}: expected {ndim} dimensions, got shape {shape}")
    dt = np.dtype(dtype)
    if len(a.data) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
        raise ValueError(f"{field}: {len(a.data)} bytes do not hold a {dtype} array of shape {shape}")
    return np.frombuffer(a.data, dt).reshape(shape)


def struct(d: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def unstruct(s: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(s)


def typed(cls, d: dict) -> dict:
    """Struct numbers come back as floats: restore each dataclass field's type."""
    out = {}
    for f in fields(cls):
        if f.name in d:
            default = getattr(cls(), f.name)
            v = d[f.name]
            out[f.name] = type(default)(v) if isinstance(default, (bool, int, float, str)) else v
    return out


def spec_msg(spec: dict) -> pb.WorkerSubspaces:
    return pb.WorkerSubspaces(subspaces=spec["subspaces"], widths=spec["widths"], metric=spec["metric"],
                              inner=struct(spec.get("inner", {})))


def spec_dict(m: pb.WorkerSubspaces) -> dict:
    return {"subspaces": list(m.subspaces), "widths": list(m.widths), "metric": m.metric or "l2",
            "inner": typed(InnerParams, unstruct(m.inner))}


def params_msg(p: dict) -> pb.WorkerSearchParams:
    # field 4 (``extra``) of the message is unused: never sent, ignored when received
    return pb.WorkerSearchParams(epsilon=p.get("epsilon", 0.1), edge_size=p.get("edge_size", -1),
                                 ef_search=p.get("ef_search", 0))


def params_dict(m: pb.WorkerSearchParams) -> dict:
    return {"epsilon": m.epsilon, "edge_size": m.edge_size, "ef_search": m.ef_search}


def position_msg(p: dict) -> pb.WorkerPosition:
    return pb.WorkerPosition(**p)


def position_dict(m: pb.WorkerPosition) -> dict:
    return {"configured": m.configured, "lineage": m.lineage, "epoch": m.epoch,
            "applied_seq": m.applied_seq, "base_tag": m.base_tag, "base_seq": m.base_seq}
