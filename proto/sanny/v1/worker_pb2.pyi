from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerArray(_message.Message):
    __slots__ = ("shape", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class WorkerSubspaces(_message.Message):
    __slots__ = ("subspaces", "widths", "metric", "inner")
    SUBSPACES_FIELD_NUMBER: _ClassVar[int]
    WIDTHS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    subspaces: _containers.RepeatedScalarFieldContainer[int]
    widths: _containers.RepeatedScalarFieldContainer[int]
    metric: str
    inner: _struct_pb2.Struct
    def __init__(self, subspaces: _Optional[_Iterable[int]] = ..., widths: _Optional[_Iterable[int]] = ..., metric: _Optional[str] = ..., inner: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WorkerPosition(_message.Message):
    __slots__ = ("configured", "lineage", "epoch", "applied_seq", "base_tag", "base_seq")
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    BASE_TAG_FIELD_NUMBER: _ClassVar[int]
    BASE_SEQ_FIELD_NUMBER: _ClassVar[int]
    configured: bool
    lineage: str
    epoch: str
    applied_seq: int
    base_tag: str
    base_seq: int
    def __init__(self, configured: _Optional[bool] = ..., lineage: _Optional[str] = ..., epoch: _Optional[str] = ..., applied_seq: _Optional[int] = ..., base_tag: _Optional[str] = ..., base_seq: _Optional[int] = ...) -> None: ...

class WorkerSave(_message.Message):
    __slots__ = ("tag", "seq", "lineage")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    tag: str
    seq: int
    lineage: str
    def __init__(self, tag: _Optional[str] = ..., seq: _Optional[int] = ..., lineage: _Optional[str] = ...) -> None: ...

class WorkerConfigureRequest(_message.Message):
    __slots__ = ("spec", "lineage")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    spec: WorkerSubspaces
    lineage: str
    def __init__(self, spec: _Optional[_Union[WorkerSubspaces, _Mapping]] = ..., lineage: _Optional[str] = ...) -> None: ...

class WorkerInsertRequest(_message.Message):
    __slots__ = ("seq", "ids", "slices")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    seq: int
    ids: WorkerArray
    slices: WorkerArray
    def __init__(self, seq: _Optional[int] = ..., ids: _Optional[_Union[WorkerArray, _Mapping]] = ..., slices: _Optional[_Union[WorkerArray, _Mapping]] = ...) -> None: ...

class WorkerRemoveRequest(_message.Message):
    __slots__ = ("seq", "ids")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    ids: WorkerArray
    def __init__(self, seq: _Optional[int] = ..., ids: _Optional[_Union[WorkerArray, _Mapping]] = ...) -> None: ...

class WorkerSearchParams(_message.Message):
    __slots__ = ("epsilon", "edge_size", "ef_search", "extra")
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    EDGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    epsilon: float
    edge_size: int
    ef_search: int
    extra: _struct_pb2.Struct
    def __init__(self, epsilon: _Optional[float] = ..., edge_size: _Optional[int] = ..., ef_search: _Optional[int] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WorkerSearchRequest(_message.Message):
    __slots__ = ("queries", "T", "params")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    T_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    queries: WorkerArray
    T: int
    params: WorkerSearchParams
    def __init__(self, queries: _Optional[_Union[WorkerArray, _Mapping]] = ..., T: _Optional[int] = ..., params: _Optional[_Union[WorkerSearchParams, _Mapping]] = ...) -> None: ...

class WorkerSearchResponse(_message.Message):
    __slots__ = ("ids", "dists")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DISTS_FIELD_NUMBER: _ClassVar[int]
    ids: WorkerArray
    dists: WorkerArray
    def __init__(self, ids: _Optional[_Union[WorkerArray, _Mapping]] = ..., dists: _Optional[_Union[WorkerArray, _Mapping]] = ...) -> None: ...

class WorkerPartialDistancesRequest(_message.Message):
    __slots__ = ("queries", "candidate_ids")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    queries: WorkerArray
    candidate_ids: WorkerArray
    def __init__(self, queries: _Optional[_Union[WorkerArray, _Mapping]] = ..., candidate_ids: _Optional[_Union[WorkerArray, _Mapping]] = ...) -> None: ...

class WorkerPartialDistancesResponse(_message.Message):
    __slots__ = ("dists",)
    DISTS_FIELD_NUMBER: _ClassVar[int]
    dists: WorkerArray
    def __init__(self, dists: _Optional[_Union[WorkerArray, _Mapping]] = ...) -> None: ...

class WorkerBuildRequest(_message.Message):
    __slots__ = ("optimize",)
    OPTIMIZE_FIELD_NUMBER: _ClassVar[int]
    optimize: bool
    def __init__(self, optimize: _Optional[bool] = ...) -> None: ...

class WorkerSaveRequest(_message.Message):
    __slots__ = ("tag", "seq", "keep")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    tag: str
    seq: int
    keep: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tag: _Optional[str] = ..., seq: _Optional[int] = ..., keep: _Optional[_Iterable[str]] = ...) -> None: ...

class WorkerReleaseRequest(_message.Message):
    __slots__ = ("keep",)
    KEEP_FIELD_NUMBER: _ClassVar[int]
    keep: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keep: _Optional[_Iterable[str]] = ...) -> None: ...

class WorkerLoadRequest(_message.Message):
    __slots__ = ("tag", "spec")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    tag: str
    spec: WorkerSubspaces
    def __init__(self, tag: _Optional[str] = ..., spec: _Optional[_Union[WorkerSubspaces, _Mapping]] = ...) -> None: ...

class WorkerStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerStatsResponse(_message.Message):
    __slots__ = ("position", "spec", "stats", "saves")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    SAVES_FIELD_NUMBER: _ClassVar[int]
    position: WorkerPosition
    spec: WorkerSubspaces
    stats: _struct_pb2.Struct
    saves: _containers.RepeatedCompositeFieldContainer[WorkerSave]
    def __init__(self, position: _Optional[_Union[WorkerPosition, _Mapping]] = ..., spec: _Optional[_Union[WorkerSubspaces, _Mapping]] = ..., stats: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., saves: _Optional[_Iterable[_Union[WorkerSave, _Mapping]]] = ...) -> None: ...
