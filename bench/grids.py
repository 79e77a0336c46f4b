"""Parameter grids: ``{algorithm: [{"build": {...}, "query": {...} | [{...}, ...]}, ...]}``.

A value that is a list is swept (Cartesian product within its dict); a scalar is fixed. Each
build combination is built once and searched with every query combination. ``quick`` is for
demos and tests (seconds on 5k x 64); ``full`` is sized for the shared datasets (about 10-15
minutes each on 2 idle cores). A JSON file with the same shape overrides either.
"""
from __future__ import annotations

import itertools
import json
import os

from . import algorithms

NAMES = ("quick", "full")


def product(params: dict) -> list[dict]:
    """``{"a": [1, 2], "b": 3}`` -> ``[{"a": 1, "b": 3}, {"a": 2, "b": 3}]``."""
    keys = list(params)
    values = [v if isinstance(v, list) else [v] for v in params.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def expand(grid: dict) -> list[tuple[str, dict, list[dict]]]:
    """``[(algorithm, build_params, [query_params, ...]), ...]`` in grid order, duplicates dropped."""
    plan: list[tuple[str, dict, list[dict]]] = []
    seen: dict[tuple, list[dict]] = {}
    for name, entries in grid.items():
        algorithms.get(name)  # fail early on an unknown name
        if isinstance(entries, dict):
            entries = [entries]
        for entry in entries:
            unknown = set(entry) - {"build", "query"}
            if unknown:
                raise ValueError(f"grid entry for {name!r} has unknown field(s) {sorted(unknown)}")
            q = entry.get("query", {})
            queries = [c for part in (q if isinstance(q, list) else [q]) for c in product(part)]
            for b in product(entry.get("build", {})):
                key = (name, json.dumps(b, sort_keys=True))
                if key not in seen:
                    seen[key] = []
                    plan.append((name, b, seen[key]))
                seen[key].extend(c for c in queries if c not in seen[key])
    return plan


def quick(dim: int) -> dict:
    """Small sweep: seconds on 5k x 64."""
    pca = min(dim, max(8, dim // 2))
    return {
        "sanny": [
            {"build": {"S": 4},
             "query": [{"T": [10, 50], "epsilon": 0.1}, {"T": 20, "epsilon": 0.1, "adaptive": True}]},
            {"build": {"S": 8}, "query": {"T": 20, "epsilon": 0.1}},
            {"build": {"S": 4, "pca_dim": pca, "assignment": "balanced"}, "query": {"T": 50, "epsilon": 0.1}},
            # the setting that wins on the shared sets (BENCHMARKS.md): PCA, one subspace, re-rank
            {"build": {"S": 1, "pca_dim": max(8, dim // 4)}, "query": {"T": [10, 20, 40], "epsilon": [0.0, 0.05]}},
        ],
        "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.1, 0.2]}}],
        "hnsw": [{"build": {"M": 16, "efConstruction": 100}, "query": {"efSearch": [16, 64, 128]}}],
        "flat": [{}],
    }


def full(dim: int, n: int = 0) -> dict:
    """The sweep for the shared datasets (17k x 2048-d, 49k x 384-d): ~15-25 minutes each on 2 cores.

    Sanny as the reference runs it (S in {4, 8, 16} on the raw space), S=1 (one NGT graph +
    exact re-rank), and PCA-first settings (two PCA sizes, S in {1, 2}, contiguous vs balanced
    assignment, ANNG vs ONNG), plus one prune=False / adaptive pair to show what the bound buys.
    Baselines: NGT (ANNG and ONNG) on full vectors, faiss HNSW (M 16/32), faiss flat.
    """
    pcas = [max(16, dim // 32), max(32, dim // 16)] if dim >= 1024 else [dim // 3, dim // 2]
    T = [10, 20, 30, 50, 100]
    raw = [{"build": {"S": S}, "query": {"T": [t for t in (20, 50, 100, 200) if S * t <= 1600],
                                         "epsilon": [0.0, 0.1]}}
           for S in (4, 8, 16) if S <= dim]
    pca = [{"build": {"S": [1, 2], "pca_dim": p}, "query": {"T": T, "epsilon": [0.0, 0.02, 0.05, 0.1]}}
           for p in pcas if p <= dim]
    extra = [
        {"build": {"S": 1}, "query": {"T": [10, 20, 50], "epsilon": [0.0, 0.05, 0.1]}},
        {"build": {"S": 2, "pca_dim": pcas[0], "assignment": "balanced"},
         "query": {"T": [20, 50, 100], "epsilon": 0.0}},
        {"build": {"S": 1, "pca_dim": pcas[0], "graph": "onng"},
         "query": {"T": [10, 20, 30, 50], "epsilon": [0.0, 0.02, 0.05]}},
        {"build": {"S": 1, "pca_dim": pcas[0]},
         "query": [{"T": 30, "epsilon": 0.02, "prune": False}, {"T": 10, "epsilon": 0.02, "adaptive": True}]},
    ]
    return {
        "sanny": raw + pca + extra,
        "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.02, 0.05, 0.1, 0.2]}},
                {"build": {"graph": "onng"}, "query": {"epsilon": [0.0, 0.02, 0.05, 0.1]}}],
        "hnsw": [{"build": {"M": [16, 32], "efConstruction": 200},
                  "query": {"efSearch": [16, 32, 64, 128, 256, 512]}}],
        "flat": [{}],
    }


def resolve(spec, dim: int, names=None, n: int = 0) -> dict:
    """A grid from ``'quick'``, ``'full'``, a JSON file path or a dict, restricted to ``names``
    (``dim`` and ``n`` size the built-in grids)."""
    if isinstance(spec, dict):
        grid = spec
    elif spec in NAMES:
        grid = quick(dim) if spec == "quick" else full(dim, n)
    elif isinstance(spec, str) and os.path.isfile(spec):
        with open(spec) as f:
            grid = json.load(f)
        if not isinstance(grid, dict):
            raise ValueError(f"{spec}: a grid file must hold a JSON object {{algorithm: [entries]}}")
    else:
        raise ValueError(f"grid must be one of {NAMES} or an existing JSON file, got {spec!r}")
    if names:
        missing = [n for n in names if n not in grid]
        for n in names:
            algorithms.get(n)
        if missing:
            raise ValueError(f"grid has no entry for {missing} (it has {sorted(grid)})")
        grid = {n: grid[n] for n in names}
    return grid
