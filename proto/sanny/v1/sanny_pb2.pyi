from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER_STATE_UNSPECIFIED: _ClassVar[WorkerState]
    WORKER_STATE_SERVING: _ClassVar[WorkerState]
    WORKER_STATE_UNAVAILABLE: _ClassVar[WorkerState]
WORKER_STATE_UNSPECIFIED: WorkerState
WORKER_STATE_SERVING: WorkerState
WORKER_STATE_UNAVAILABLE: WorkerState

class Matrix(_message.Message):
    __slots__ = ("rows", "dim", "values")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    dim: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, rows: _Optional[int] = ..., dim: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class InsertRequest(_message.Message):
    __slots__ = ("keys", "vectors")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    vectors: Matrix
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Matrix, _Mapping]] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("keys", "vectors")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    vectors: Matrix
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Matrix, _Mapping]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("keys", "vectors")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    vectors: Matrix
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Matrix, _Mapping]] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("count", "wal_seq")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    count: int
    wal_seq: int
    def __init__(self, count: _Optional[int] = ..., wal_seq: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("queries", "k", "candidates", "epsilon", "adaptive", "max_candidates")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    ADAPTIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    queries: Matrix
    k: int
    candidates: int
    epsilon: float
    adaptive: bool
    max_candidates: int
    def __init__(self, queries: _Optional[_Union[Matrix, _Mapping]] = ..., k: _Optional[int] = ..., candidates: _Optional[int] = ..., epsilon: _Optional[float] = ..., adaptive: _Optional[bool] = ..., max_candidates: _Optional[int] = ...) -> None: ...

class SearchByKeyRequest(_message.Message):
    __slots__ = ("keys", "k", "candidates", "epsilon", "adaptive", "max_candidates", "exclude_self")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    ADAPTIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SELF_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    k: int
    candidates: int
    epsilon: float
    adaptive: bool
    max_candidates: int
    exclude_self: bool
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ..., candidates: _Optional[int] = ..., epsilon: _Optional[float] = ..., adaptive: _Optional[bool] = ..., max_candidates: _Optional[int] = ..., exclude_self: _Optional[bool] = ...) -> None: ...

class Neighbors(_message.Message):
    __slots__ = ("keys", "distances")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    distances: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., distances: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Neighbors]
    def __init__(self, results: _Optional[_Iterable[_Union[Neighbors, _Mapping]]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class StreamSearchResponse(_message.Message):
    __slots__ = ("response", "status")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    response: SearchResponse
    status: Status
    def __init__(self, response: _Optional[_Union[SearchResponse, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...

class GetVectorRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class GetVectorResponse(_message.Message):
    __slots__ = ("keys", "vectors")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    vectors: Matrix
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Matrix, _Mapping]] = ...) -> None: ...

class ExistsRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class ExistsResponse(_message.Message):
    __slots__ = ("exists",)
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    exists: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, exists: _Optional[_Iterable[bool]] = ...) -> None: ...

class IndexInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("subspaces", "widths", "state", "error", "count", "inner", "transport", "index_bytes", "slice_bytes", "segments", "sealed_rows", "deleted_rows", "growing_rows", "compaction", "compaction_cpu_seconds")
    SUBSPACES_FIELD_NUMBER: _ClassVar[int]
    WIDTHS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    SLICE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SEALED_ROWS_FIELD_NUMBER: _ClassVar[int]
    DELETED_ROWS_FIELD_NUMBER: _ClassVar[int]
    GROWING_ROWS_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_FIELD_NUMBER: _ClassVar[int]
    COMPACTION_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    subspaces: _containers.RepeatedScalarFieldContainer[int]
    widths: _containers.RepeatedScalarFieldContainer[int]
    state: WorkerState
    error: str
    count: int
    inner: str
    transport: str
    index_bytes: int
    slice_bytes: int
    segments: int
    sealed_rows: int
    deleted_rows: int
    growing_rows: int
    compaction: str
    compaction_cpu_seconds: float
    def __init__(self, subspaces: _Optional[_Iterable[int]] = ..., widths: _Optional[_Iterable[int]] = ..., state: _Optional[_Union[WorkerState, str]] = ..., error: _Optional[str] = ..., count: _Optional[int] = ..., inner: _Optional[str] = ..., transport: _Optional[str] = ..., index_bytes: _Optional[int] = ..., slice_bytes: _Optional[int] = ..., segments: _Optional[int] = ..., sealed_rows: _Optional[int] = ..., deleted_rows: _Optional[int] = ..., growing_rows: _Optional[int] = ..., compaction: _Optional[str] = ..., compaction_cpu_seconds: _Optional[float] = ...) -> None: ...

class IndexInfoResponse(_message.Message):
    __slots__ = ("count", "dim", "subspaces", "metric", "trained", "wal_seq", "space_dim", "keep_vectors", "default_candidates", "default_epsilon", "workers", "max_k", "max_candidates")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    SUBSPACES_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TRAINED_FIELD_NUMBER: _ClassVar[int]
    WAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    SPACE_DIM_FIELD_NUMBER: _ClassVar[int]
    KEEP_VECTORS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_EPSILON_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_K_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    count: int
    dim: int
    subspaces: int
    metric: str
    trained: bool
    wal_seq: int
    space_dim: int
    keep_vectors: bool
    default_candidates: int
    default_epsilon: float
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    max_k: int
    max_candidates: int
    def __init__(self, count: _Optional[int] = ..., dim: _Optional[int] = ..., subspaces: _Optional[int] = ..., metric: _Optional[str] = ..., trained: _Optional[bool] = ..., wal_seq: _Optional[int] = ..., space_dim: _Optional[int] = ..., keep_vectors: _Optional[bool] = ..., default_candidates: _Optional[int] = ..., default_epsilon: _Optional[float] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., max_k: _Optional[int] = ..., max_candidates: _Optional[int] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ...) -> None: ...

class SaveRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SaveResponse(_message.Message):
    __slots__ = ("wal_seq",)
    WAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    wal_seq: int
    def __init__(self, wal_seq: _Optional[int] = ...) -> None: ...
