"""Benchmark harness: recall@10 / QPS / latency / build time / memory of Sanny and its peers
(plain NGT, faiss HNSW / HNSW-SQ8 / IVF-PQ fast-scan / flat, usearch, ScaNN, SymphonyQG) on
ann-benchmarks HDF5 datasets, with repeated timings, provenance, plots and a generated report.

``run_bench(path, out_dir)`` (``session``) does a run; the pieces (``datasets``,
``algorithms``, ``runner``, ``results``, ``plot``, ``grids``, ``report``) compose on their own.
"""
from __future__ import annotations

from . import datasets, grids, results, runner
from .datasets import Dataset, exact_ground_truth, load
from .session import run_bench

__all__ = ["Dataset", "datasets", "exact_ground_truth", "grids", "load", "results", "run_bench", "runner"]
