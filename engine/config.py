"""Index configuration: what is fixed when an index is created (stored in its manifest)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sanny.workers import METRICS, InnerParams

from sanny.workers.errors import InvalidArgument
from .split import ASSIGNMENTS, assign, group


@dataclass
class IndexConfig:
    dim: int
    S: int = 1                   # one graph + exact re-rank: the measured winner (docs/TUNING.md)
    metric: str = "l2"
    workers: int = 0             # worker groups; 0 = one per subspace
    assignment: str = "contiguous"
    pca_dim: int = 0             # 0 = raw space; d' <= dim = PCA to d' (== dim: rotation); -1 = auto_pca_dim
    bound_dim: int = -1          # PCA dims kept for the re-rank's exact bound; -1: auto (see pca_components)
    inner: InnerParams = field(default_factory=InnerParams)
    T: int = 32                  # default candidates per subspace (faiss HNSW: also its beam)
    epsilon: float = 0.1
    prune: bool = False          # bound-pruned re-rank: exact either way; pays only for wide unions (S >= 2, large T)
    keep_vectors: bool = True    # False: distributed re-rank from worker partial distances
    shards: int = 1              # R row shards (id mod R; fixed at creation, see engine/grid.py)

    def __post_init__(self) -> None:
        if self.pca_dim == -1 and isinstance(self.dim, int) and self.dim >= 1:
            self.pca_dim = auto_pca_dim(self.dim)

    @property
    def space_dim(self) -> int:
        return self.pca_dim or self.dim

    @property
    def pca_components(self) -> int:
        """Components fitted: the searched ones plus the extra ones used only by the bound."""
        if not self.pca_dim:
            return 0
        bound = self.bound_dim if self.bound_dim >= 0 else min(256, self.dim // 4)  # bound must stay cheap
        return min(self.dim, max(self.pca_dim, bound))

    @property
    def needs_training(self) -> bool:
        return bool(self.pca_dim) or self.assignment == "balanced"

    def check(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise InvalidArgument("dim", f"must be a positive integer, got {self.dim!r}")
        if self.metric not in METRICS:
            raise InvalidArgument("metric", f"must be one of {METRICS}, got {self.metric!r}")
        if self.assignment not in ASSIGNMENTS:
            raise InvalidArgument("assignment", f"must be one of {ASSIGNMENTS}, got {self.assignment!r}")
        if not 0 <= self.pca_dim <= self.dim:
            raise InvalidArgument("pca_dim", f"must be between 0 and dim={self.dim}, got {self.pca_dim}")
        if self.bound_dim < -1:
            raise InvalidArgument("bound_dim", f"must be >= 0 (or -1 for auto), got {self.bound_dim}")
        if not self.keep_vectors and self.pca_dim not in (0, self.dim):
            raise InvalidArgument("keep_vectors", "a distributed re-rank (keep_vectors=False) adds the workers' "
                                  "partial distances, which are exact only without a reducing PCA "
                                  f"(pca_dim must be 0 or dim={self.dim}, got {self.pca_dim})")
        if not isinstance(self.shards, int) or not 1 <= self.shards <= 4096:
            raise InvalidArgument("shards", f"must be an integer from 1 to 4096, got {self.shards!r}")
        assign(self.space_dim, self.S)  # validates S against the searched dimension
        group(self.S, self.workers or self.S)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "IndexConfig":
        d = dict(d)
        d["inner"] = InnerParams.from_dict(d.get("inner", {}))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def auto_pca_dim(dim: int) -> int:
    """``pca_dim=-1``: no PCA up to 128 dims (a graph over them is already cheap), else about a
    third of the dimension, at least 64 and at most 192 (384-d sentence embeddings -> 128,
    2048-d CNN features -> 192: the measured best single-graph settings at recall 0.95-0.99
    on the shared sets). The exact re-rank on the full vectors restores what the projection loses."""
    if dim <= 128:
        return 0
    return int(min(192, max(64, 32 * round(dim / 3 / 32))))
