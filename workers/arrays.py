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
    b = np.full((max(need, 2 * len(a)), *a.shape[1:]), fill, a.dtype)
    b[:used] = a[:used]
    return b
