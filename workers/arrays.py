"""Capacity-doubling arrays: the slice store, the coordinator's vector store and NGT's id maps
grow by at least doubling, so n appends cost O(n) copies in total."""
from __future__ import annotations

import numpy as np


def grown(a: np.ndarray, need: int, used: int | None = None, fill=0) -> np.ndarray:
    """``a`` itself when it has ``need`` rows, else a copy with ``max(need, 2 * len(a))`` rows:
    its first ``used`` rows (default all) copied, the rest ``fill``."""
    if need <= len(a):
        return a
    used = len(a) if used is None else used
    shape = (max(need, 2 * len(a)), *a.shape[1:])
    b = np.zeros(shape, a.dtype) if fill == 0 else np.full(shape, fill, a.dtype)  # zeros: lazy pages
    b[:used] = a[:used]
    return b
