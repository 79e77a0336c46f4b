"""Parameter grids: ``{algorithm: [{"build": {...}, "query": {...} | [{...}, ...]}, ...]}``.

A value that is a list is swept (Cartesian product within its dict); a scalar is fixed. Each
build combination is built once and searched with every query combination. ``quick`` is for
demos and tests (seconds on 5k x 64); ``full`` is sized for the shared datasets (about 10-15
minutes each on 2 cores). A JSON file with the same shape overrides either.
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
            {"build": {"S": [4, 8]},
             "query": [{"T": [10, 50, 100], "epsilon": 0.1}, {"T": 20, "epsilon": 0.1, "adaptive": True}]},
            {"build": {"S": 4, "pca_dim": pca, "assignment": "balanced"},
             "query": {"T": [20, 100], "epsilon": 0.1}},
        ],
        "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.1, 0.2]}}],
        "hnsw": [{"build": {"M": 16, "efConstruction": 100}, "query": {"efSearch": [16, 64, 128]}}],
        "flat": [{}],
    }


def full(dim: int) -> dict:
    """The sweep for the shared datasets (384-d and 2048-d)."""
    T = [10, 20, 50, 100, 200, 400]
    eps = [0.0, 0.05, 0.1, 0.2]
    pca = min(dim, 256)
    raw_S = [1, 4, 8, 16] if dim <= 1024 else [1, 4, 8]  # S=16 over 2048 raw dims: slow build
    return {
        "sanny": [
            {"build": {"S": raw_S}, "query": {"T": T, "epsilon": eps}},
            {"build": {"S": [4, 8, 16], "pca_dim": pca, "assignment": ["contiguous", "balanced"]},
             "query": {"T": T, "epsilon": eps}},
        ],
        "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.02, 0.05, 0.1, 0.2, 0.3]}}],
        "hnsw": [{"build": {"M": [16, 32], "efConstruction": 200},
                  "query": {"efSearch": [16, 32, 64, 128, 256, 512]}}],
        "flat": [{}],
    }


def resolve(spec, dim: int, names=None) -> dict:
    """A grid from ``'quick'``, ``'full'``, a JSON file path or a dict, restricted to ``names``."""
    if isinstance(spec, dict):
        grid = spec
    elif spec in NAMES:
        grid = quick(dim) if spec == "quick" else full(dim)
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
