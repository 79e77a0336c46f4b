"""Benchmarked algorithms, one short module each, behind ``base.Algorithm``.

``get(name)`` imports lazily, so a missing optional library only matters when it is used.
"""
from __future__ import annotations

import importlib

from .base import Algorithm, pad_rows

REGISTRY = {
    "sanny": ("sanny_algo", "Sanny"),
    "ngt": ("ngt_algo", "NGT"),
    "hnsw": ("faiss_hnsw", "FaissHNSW"),
    "hnsw_sq": ("faiss_hnsw_sq", "FaissHNSWSQ"),
    "ivfpq_fs": ("faiss_ivfpq_fs", "FaissIVFPQFastScan"),
    "usearch": ("usearch_algo", "USearch"),
    "scann": ("scann_algo", "ScaNN"),
    "symqg": ("symqg_algo", "SymQG"),
    "flat": ("faiss_flat", "FaissFlat"),
}
NAMES = tuple(REGISTRY)


def get(name: str) -> type[Algorithm]:
    try:
        module, cls = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(NAMES)})") from None
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


__all__ = ["Algorithm", "NAMES", "REGISTRY", "get", "pad_rows"]
