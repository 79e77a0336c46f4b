"""Parameter grids: ``{algorithm: [{"build": {...}, "query": {...} | [{...}, ...]}, ...]}``.

A value that is a list is swept (Cartesian product within its dict); a scalar is fixed. Each
build combination is built once and searched with every query combination. ``quick`` is for
demos and tests (seconds on 5k x 64); ``default`` gives every algorithm a similar number of
settings spanning its recall range (a few minutes per shared dataset on 2 cores); ``full`` is
the long sweep. A JSON file with the same shape overrides them. ``apply_budget`` trims each
algorithm to the same number of settings. An entry may carry ``"max_n": N``: on a dataset (or
``--prefix`` size) of more than N vectors it is left out (``for_size``), so a scale series runs
a slow build only up to the sizes it fits in.
"""
from __future__ import annotations

import itertools
import json
import os

import logging

import numpy as np

from sanny.engine.config import auto_pca_dim

from . import algorithms

log = logging.getLogger(__name__)

NAMES = ("quick", "default", "full")
FIELDS = {"build", "query", "max_n"}


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
            unknown = set(entry) - FIELDS
            if unknown:
                raise ValueError(f"grid entry for {name!r} has unknown field(s) {sorted(unknown)}")
            _max_n(name, entry)
            q = entry.get("query", {})
            queries = [c for part in (q if isinstance(q, list) else [q]) for c in product(part)]
            for b in product(entry.get("build", {})):
                key = (name, json.dumps(b, sort_keys=True))
                if key not in seen:
                    seen[key] = []
                    plan.append((name, b, seen[key]))
                seen[key].extend(c for c in queries if c not in seen[key])
    return plan


def _max_n(name: str, entry: dict) -> int | None:
    m = entry.get("max_n")
    if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
        raise ValueError(f"grid entry for {name!r}: max_n must be a positive integer, got {m!r}")
    return m


def for_size(grid: dict, n: int) -> dict:
    """``grid`` without the entries whose ``max_n`` is below ``n`` (``n`` 0: unknown, all kept);
    an algorithm left without an entry is dropped (and logged)."""
    out = {}
    for name, entries in grid.items():
        entries = [entries] if isinstance(entries, dict) else entries
        kept = [e for e in entries if not n or (_max_n(name, e) or n) >= n]
        if kept:
            out[name] = kept
        else:
            log.info("%s: every grid entry has max_n < n=%d; not run at this size", name, n)
    return out


def apply_budget(plan: list[tuple[str, dict, list[dict]]], budget: int | None):
    """At most ``budget`` settings per algorithm, picked evenly through its grid order (so the
    ends of each sweep stay); build configurations left without a setting are dropped."""
    if budget is None:
        return plan
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    out = []
    for name in dict.fromkeys(p[0] for p in plan):
        flat = [(i, q) for i, (a, _, qs) in enumerate(plan) if a == name for q in qs]
        keep = {int(round(x)) for x in np.linspace(0, len(flat) - 1, min(budget, len(flat)))}
        chosen = [flat[j] for j in sorted(keep)]
        for i, (a, b, _) in enumerate(plan):
            if a == name and any(ci == i for ci, _ in chosen):
                out.append((a, b, [q for ci, q in chosen if ci == i]))
    return out


def _pcas(dim: int) -> list[int]:
    return [max(16, dim // 32), max(32, dim // 16)] if dim >= 1024 else [dim // 3, dim // 2]


def _ivf_lists(n: int) -> int:
    """faiss' rule of thumb, about 4 sqrt(n) lists, as a power of two (at least 16)."""
    return int(2 ** max(4, round(np.log2(4 * max(n, 1) ** 0.5))))


def _pq_m(dim: int) -> int:
    """Sub-quantizers for 4-bit fast-scan PQ: ~4 dims each below 1024 dims, ~8 above (even)."""
    m = dim // 8 if dim >= 1024 else dim // 4
    while m > 2 and dim % m:
        m -= 1
    return max(2, m - m % 2)


# (lists probed, re-rank depth) of the quantized peers' sweeps: (nprobe, k_factor) of
# ivfpq_fs, (leaves_to_search, reorder) of scann
# (probes, re-rank depth): a shallow sweep (cheap: minilm reaches 0.97 with k_factor 10 at nprobe
# 64, 2.5x faster than with a deep re-rank) and a deep one (resnet's near one-dimensional features
# reach 0.99 only with a ~2000-candidate exact re-rank); each ends at a quarter of the lists
_IVF_STEPS = [(1, 10), (4, 10), (16, 10), (64, 10), (256, 10), (4, 40), (16, 100), (64, 150), (256, 200)]
_SCANN_STEPS = [(1, 100), (4, 100), (16, 100), (64, 100), (192, 100), (8, 400), (32, 1500), (64, 2000),
                (192, 4000)]


def ef_ceiling(n: int, dim: int, k: int = 10) -> int:
    """The largest graph beam of the default sweeps: a power of two >= ``k log2(n) sqrt(dim/64)``,
    within [16k, 8192]. The beam a graph needs for a given recall grows with the log of the
    collection and with the dimension (CNN and text embeddings of a few hundred to thousands of
    dims); the factor leaves 4-8x headroom over the beams that reached 0.99 on the shared sets
    (49k x 384: 64-128, 17k x 2048: 48-64), so the sweep's top reaches 0.99 on sets of their
    kind without being set by hand. ``n`` 0 (unknown): 100k."""
    n = n or 100_000
    need = max(16 * k, k * np.log2(max(n, 2)) * np.sqrt(max(dim, 64) / 64))
    return int(min(8192, 2 ** int(np.ceil(np.log2(need)))))


def beams(top: int, low: tuple = (8, 16, 24, 32, 48, 64)) -> list[int]:
    """A beam sweep: the fine ``low`` steps (the recall 0.9-0.98 region), then steps of 1.5x and
    4/3x (96, 128, 192, 256, ...) up to ``top``: a doubling from 64 to 128 jumped over where two
    graphs of the same build parameters cross 0.99 (one at 64, its twin only at 128), so the
    frontier at 0.99 measured the builds' luck, not the engines."""
    out = [b for b in low if b <= top]
    b = max(low)
    while True:
        for nb in (b * 3 // 2, b * 2):
            if nb > top:
                return out
            out.append(nb)
        b *= 2


def peers(dim: int, n: int = 0, wide: bool = False) -> dict:
    """Grids of the graph and quantized peers, each spanning low to high recall (HNSW-like
    searches from ef 8 up to ``ef_ceiling``). ``wide`` adds a second build configuration per
    algorithm."""
    ef = beams(ef_ceiling(n, dim))
    nlist = _ivf_lists(n)
    return {
        "hnsw": [{"build": {"M": [16, 32] if wide else 16, "efConstruction": 200}, "query": {"efSearch": ef}}],
        "hnsw_sq": [{"build": {"M": 32, "efConstruction": 200},
                     "query": [{"efSearch": [8, 16, 32, 64, 128, 256], "k_factor": 2},
                               {"efSearch": [32, 128], "k_factor": 4}]}],
        # 4-bit codes rank coarsely, so nprobe and the exact re-rank depth rise together: on
        # minilm the lists bound recall (0.99 needs ~1/4 of them), on resnet (98% of the
        # variance in one direction) the codes do (0.99 needs ~2000 re-ranked); more probes
        # at a shallow re-rank even lower recall there
        "ivfpq_fs": [{"build": {"nlist": nlist, "m": _pq_m(dim)},
                      "query": [{"nprobe": p, "k_factor": f} for p, f in _IVF_STEPS]}],
        "usearch": [{"build": {"connectivity": 16, "expansion_add": 128},
                     "query": {"expansion_search": ef}}],
        "scann": [{"build": {"num_leaves": max(16, nlist // 2), "reorder": 100},  # same reason
                   "query": [{"leaves_to_search": p, "reorder": r} for p, r in _SCANN_STEPS]}],
        "symqg": [{"build": {"max_degree": 32, "ef_construction": 200},  # its ef must be >= k
                   "query": {"ef": [10, 16] + ef[2:]}}],
    }


def default(dim: int, n: int = 0) -> dict:
    """About 8-12 settings per algorithm, each sweep from low to high recall; one build per
    baseline. Sanny: the two measured winners at S=1 — faiss HNSW over ``auto_pca_dim`` PCA
    coordinates (T swept, efSearch tied to T) and the SymphonyQG quantised graph on the raw
    vectors (``symqg``: T = k, its beam ``ef_search`` swept); NGT as the inner graph; S=2 as the
    lead split (graph on the leading PCA half, partials from the other worker) and as two
    SymphonyQG graphs with the union vs collision counting (``count``, re-ranking ``R = T``).
    ONNG and raw HNSW splits are in ``full``."""
    p = auto_pca_dim(dim) or dim
    p2 = min(dim, 2 * p)
    qg = {"kind": "symqg", "hnsw_ef_construction": 200}  # the symqg peer's construction beam
    top = ef_ceiling(n, dim)
    return {
        "sanny": [  # 20-22 settings (the beam sweeps are sized by n and dim)
            # S=1: T >= k; T is also the HNSW beam over the PCA head
            {"build": {"S": 1, "pca_dim": p}, "query": {"T": [10, 16, 24, 48] + beams(top // 4, (96,))}},
            {"build": {"S": 1, **qg}, "query": {"T": 10, "ef_search": beams(top // 2, (16, 24, 32, 48, 64))}},
            {"build": {"S": 1, "pca_dim": p, "kind": "ngt"}, "query": {"T": 32, "epsilon": 0.02}},
            {"build": {"S": 2, "pca_dim": p2}, "query": {"T": [16, 32, 64], "candidates": "lead"}},
            {"build": {"S": 2, **qg},  # the low end: T=5 (two lists of 5 can fill k=10)
             "query": [{"T": 5, "candidates": "union"}, {"T": 24, "candidates": ["union", "count"]},
                       {"T": 48, "candidates": "union"}]},  # the top: recall 0.99 for the split
        ],
        "ngt": [{"build": {"graph": "anng"},
                 "query": {"epsilon": [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3]}}],
        **peers(dim, n),
        "flat": [{}],
    }


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
    Baselines: NGT (ANNG and ONNG) on full vectors, every peer of ``peers`` (wide), faiss flat.
    """
    pcas = _pcas(dim)
    T = [10, 20, 30, 50, 100]
    raw = [{"build": {"S": S}, "query": {"T": [t for t in (5, 10, 20, 50, 100, 200) if S * t <= 1600],
                                         "epsilon": [0.0, 0.1]}}
           for S in (4, 8, 16) if S <= dim]
    pca = [{"build": {"S": [1, 2], "pca_dim": p}, "query": {"T": T, "epsilon": [0.0, 0.02, 0.05, 0.1]}}
           for p in pcas if p <= dim]
    extra = [
        {"build": {"S": 1}, "query": {"T": [10, 20, 50], "epsilon": [0.0, 0.05, 0.1]}},
        {"build": {"S": 1, "pca_dim": pcas[0], "kind": "ngt"}, "query": {"T": [10, 20, 50], "epsilon": [0.0, 0.05]}},
        {"build": {"S": 1, "pca_dim": pcas[0], "kind": "ngt", "graph": "onng"}, "query": {"T": [10, 20, 50], "epsilon": 0.02}},
        {"build": {"S": 1, "kind": "hnsw_sq"}, "query": {"T": [10, 16, 32, 64]}},
        {"build": {"S": 2, "pca_dim": dim}, "query": {"T": [16, 32, 64], "candidates": "lead"}},
        {"build": {"S": 4}, "query": {"T": [20, 50], "candidates": "count", "R": [20, 40]}},
        {"build": {"S": 2, "pca_dim": pcas[0], "assignment": "balanced"},
         "query": {"T": [20, 50, 100], "epsilon": 0.0}},
        {"build": {"S": 1, "pca_dim": pcas[0], "kind": "ngt", "graph": "onng"},
         "query": {"T": [10, 20, 30, 50], "epsilon": [0.0, 0.02, 0.05]}},
        {"build": {"S": 1, "pca_dim": pcas[0]},
         "query": [{"T": 30, "epsilon": 0.02, "prune": False}, {"T": 10, "epsilon": 0.02, "adaptive": True}]},
    ]
    return {
        "sanny": raw + pca + extra,
        "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.02, 0.05, 0.1, 0.2]}},
                {"build": {"graph": "onng"}, "query": {"epsilon": [0.0, 0.02, 0.05, 0.1]}}],
        **peers(dim, n, wide=True),
        "flat": [{}],
    }


def resolve(spec, dim: int, names=None, n: int = 0) -> dict:
    """A grid from ``'quick'``, ``'full'``, a JSON file path or a dict, restricted to ``names``
    (``dim`` and ``n`` size the built-in grids; entries with ``max_n`` below ``n`` are left out)."""
    if isinstance(spec, dict):
        grid = spec
    elif spec in NAMES:
        grid = {"quick": lambda: quick(dim), "default": lambda: default(dim, n),
                "full": lambda: full(dim, n)}[spec]()
    elif isinstance(spec, str) and os.path.isfile(spec):
        with open(spec) as f:
            grid = json.load(f)
        if not isinstance(grid, dict):
            raise ValueError(f"{spec}: a grid file must hold a JSON object {{algorithm: [entries]}}")
    else:
        raise ValueError(f"grid must be one of {NAMES} or an existing JSON file, got {spec!r}")
    if names:
        missing = [a for a in names if a not in grid]
        for a in names:
            algorithms.get(a)
        if missing:
            raise ValueError(f"grid has no entry for {missing} (it has {sorted(grid)})")
        grid = {a: grid[a] for a in names}
    return for_size(grid, n)
