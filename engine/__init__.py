"""Sanny coordinator: split, fan-out, union, exact re-rank, vector store, WAL, persistence."""
from sanny.workers import InnerParams, SearchParams

from sanny.workers.errors import (AlreadyExists, IndexCorrupt, InvalidArgument, NotFound, SannyError, StorageFull,
                                  WorkerUnavailable, WriteFailed)
from .config import IndexConfig
from .index import Index

__all__ = ["Index", "IndexConfig", "InnerParams", "SearchParams", "SannyError", "InvalidArgument",
           "NotFound", "AlreadyExists", "IndexCorrupt", "WorkerUnavailable",
           "StorageFull", "WriteFailed"]
