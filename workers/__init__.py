"""Subspace workers: the Worker interface, the in-process implementation and its inner indexes."""
from .base import METRICS, InnerParams, SearchParams, Worker, WorkerSpec
from .local import LocalWorker

__all__ = ["METRICS", "InnerParams", "SearchParams", "Worker", "WorkerSpec", "LocalWorker"]
