"""Request checks shared by the Python API, the CLI and the gRPC service.

Each failure is an ``InvalidArgument`` naming the field, raised before anything is written.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from sanny.workers.errors import InvalidArgument

MAX_K = 10_000
MAX_T = 100_000
# a row's L2 norm: over this, squared distances (up to (|q| + |x|)^2) and inner products
# computed in float32 (max ~3.4e38) could overflow to inf and silently drop every result
MAX_NORM = 1e18
UNIT = 1e-6  # |x|^2 this close to 1 (8 float32 ulps): normalising would change x by rounding only
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0/C1 control characters (NUL, newline, ESC, ...)


@dataclass(frozen=True)
class Queries:
    """Query vectors already checked and normalised for one index (``Index.prepare_queries``),
    so a caller that checks a whole request first (the gRPC service) does not pay twice."""

    x: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, rows) -> "Queries":
        return Queries(self.x[rows])


def vectors(x, dim: int, field: str = "vectors", finite: bool = True) -> np.ndarray:
    """``x`` as a C-contiguous float32 ``(n, dim)`` array. ``finite=False`` leaves the NaN/Inf
    check to the caller (``unit`` makes it from the row norms it computes anyway)."""
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(field, f"not a numeric array ({e})") from None
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InvalidArgument(field, f"expected a 2-D array (n, {dim}), got {a.ndim}-D")
    if a.shape[0] == 0:
        raise InvalidArgument(field, "empty batch")
    if a.shape[1] != dim:
        raise InvalidArgument(field, f"wrong dimension: expected {dim}, got {a.shape[1]}")
    # two reductions, no temporaries: NaN makes both NaN, an Inf shows in one (cheaper than
    # isfinite + abs, which each allocate an array of the batch's size)
    lo, hi = (float(a.min()), float(a.max())) if finite else (0.0, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        _not_finite(a, field)
    if max(-lo, hi) * math.sqrt(dim) > MAX_NORM:  # cheap bound first
        norms = np.sqrt(np.einsum("ij,ij->i", a, a, dtype=np.float64))
        if (norms > MAX_NORM).any():  # (finite=False: cosine, normalised in float64 by ``unit``)
            i = int(np.argmax(norms > MAX_NORM))
            raise InvalidArgument(field, f"row {i} has norm {norms[i]:.3g}: its distances could "
                                         f"overflow float32 (norms must be <= {MAX_NORM:.0e})")
    return np.ascontiguousarray(a)


def _not_finite(a: np.ndarray, field: str):
    bad = ~np.isfinite(a).all(1)
    raise InvalidArgument(field, f"row {int(np.argmax(bad))} contains NaN or Inf")


def keys(ks, n: int | None = None, field: str = "keys", new: bool = False) -> list[str]:
    """Checked keys; ``new`` (keys being written): no control characters either (keys stored by
    older versions can still be looked up and removed)."""
    if isinstance(ks, str):
        ks = [ks]
    try:
        ks = list(ks)
    except TypeError:
        raise InvalidArgument(field, f"expected a list of strings, got {type(ks).__name__}") from None
    if not ks:
        raise InvalidArgument(field, "empty batch")
    for i, k in enumerate(ks):
        if not isinstance(k, str) or not k:
            raise InvalidArgument(field, f"key {i} must be a non-empty string, got {k!r}")
        if new and CONTROL.search(k):
            raise InvalidArgument(field, f"key {i} ({k!r}) contains a control character (NUL, newline, "
                                         "tab, ...): keys are printable text")
    if n is not None and len(ks) != n:
        raise InvalidArgument(field, f"{len(ks)} keys for {n} vectors")
    if len(set(ks)) != len(ks):
        seen = set()
        dup = next(k for k in ks if k in seen or seen.add(k))
        raise InvalidArgument(field, f"key {dup!r} appears twice in one batch")
    return ks


def k_and_T(k, T, default_T: int = 50, S: int = 1) -> tuple[int, int]:
    """Checked ``k`` and ``T`` (``T=None``: ``max(default_T, k)``). With ``S`` subspaces the
    union of ``S`` lists can fill ``k`` from ``T >= ceil(k / S)``: raw splits start at small T."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise InvalidArgument("k", f"must be an integer, got {k!r}")
    if not 1 <= k <= MAX_K:
        raise InvalidArgument("k", f"must be between 1 and {MAX_K}, got {k}")
    if T is None:
        T = max(k, default_T)
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool):
        raise InvalidArgument("T", f"must be an integer, got {T!r}")
    if T * max(S, 1) < k:
        need = f"k ({k})" if S <= 1 else f"ceil(k / S) = {-(-k // S)} (k={k}, S={S})"
        raise InvalidArgument("T", f"must be >= {need}, got {T}")
    if T > MAX_T:
        raise InvalidArgument("T", f"must be <= {MAX_T}, got {T}")
    return int(k), int(T)


def ef_search(ef) -> int:
    """faiss HNSW's search beam: 0 (tie it to T) or a positive integer."""
    if not isinstance(ef, (int, np.integer)) or isinstance(ef, bool) or not 0 <= ef <= MAX_T:
        raise InvalidArgument("ef_search", f"must be an integer between 0 and {MAX_T}, got {ef!r}")
    return int(ef)


def candidates(mode, R, S: int) -> tuple[str, int]:
    """Candidate selection (``union``, ``count``, ``lead``) and the re-rank size ``R`` of ``count``."""
    if mode not in ("union", "count", "lead"):
        raise InvalidArgument("candidates", f"must be 'union', 'count' or 'lead', got {mode!r}")
    if not isinstance(R, (int, np.integer)) or isinstance(R, bool) or not 0 <= R <= MAX_T:
        raise InvalidArgument("R", f"must be an integer between 0 and {MAX_T}, got {R!r}")
    return mode, int(R)


def epsilon(e) -> float:
    """NGT's search-range coefficient: finite and > -1 (NGT explores radius r * (1 + epsilon))."""
    try:
        e = float(e)
    except (TypeError, ValueError):
        raise InvalidArgument("epsilon", f"must be a number, got {e!r}") from None
    if not math.isfinite(e) or e <= -1:
        raise InvalidArgument("epsilon", f"must be finite and > -1, got {e}")
    return e


def T_max(t, T: int) -> int:
    if not isinstance(t, (int, np.integer)) or isinstance(t, bool) or not T <= t <= MAX_T:
        raise InvalidArgument("T_max", f"must be an integer between T ({T}) and {MAX_T}, got {t!r}")
    return int(t)


def unit(x: np.ndarray, field: str, keep_unit: bool = False) -> np.ndarray:
    """Normalise rows for the cosine metric; a zero vector has no direction. A row with NaN or
    Inf has a non-finite norm: the error names it (so ``vectors(finite=False)`` may skip its
    own pass over the array). ``keep_unit`` (queries, never stored): rows already of unit norm
    (most embedding models' output) are returned as they are, checked by a float32 pass."""
    if keep_unit and len(x) > 4:
        n2 = np.einsum("ij,ij->i", x, x)
        if ((n2 > 1.0 - UNIT) & (n2 < 1.0 + UNIT)).all():  # NaN fails both comparisons
            return x
    n = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))  # 3x cheaper than linalg.norm per call
    if len(n) <= 4:  # a few rows: Python floats, cheaper than numpy's reductions
        ok = all(0.0 < v < math.inf for v in n.tolist())  # NaN fails both comparisons
    else:
        ok = bool(((n > 0) & (n < np.inf)).all())
    if not ok:
        if not np.isfinite(x).all():
            _not_finite(x, field)
        raise InvalidArgument(field, f"row {int(np.argmax(n == 0))} is a zero vector (no direction for cosine)")
    # divided in float64, rounded once into the float32 result (no float64 temporary)
    return np.divide(x, n[:, None], out=np.empty(x.shape, np.float32), casting="unsafe")
