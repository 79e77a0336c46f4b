"""Subspace workers: the Worker interface, the in-process implementation and its inner indexes."""
from .base import METRICS, CoordinatorLog, InnerParams, SearchParams, Worker, WorkerSite, WorkerSpec
from .heap import give_back, hold_large_apart
from .local import LocalWorker, local_factory

__all__ = ["METRICS", "CoordinatorLog", "InnerParams", "SearchParams", "Worker", "WorkerSite", "WorkerSpec",
           "LocalWorker", "give_back", "hold_large_apart", "local_factory"]
