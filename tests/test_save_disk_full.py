"""A checkpoint on a full disk is StorageFull (RESOURCE_EXHAUSTED over gRPC), not a raw
OSError / faiss RuntimeError: nothing changes, the WAL keeps every write, and once space is
freed the same save succeeds. Needs root to mount a small tmpfs (as test_wal_enospc); skipped
otherwise."""
from __future__ import annotations

import os
import shutil

import grpc
import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams, StorageFull
from sanny.engine.rpc.status import to_status

from test_wal_enospc import small_disk  # noqa: F401 - the fixture

pytestmark = pytest.mark.parametrize("small_disk", ["8m"], indirect=True)


def fill(disk: str, leave: int) -> str:
    """A ballast file that leaves ``leave`` bytes free."""
    path = os.path.join(disk, "ballast")
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return path


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_on_a_full_disk_is_storage_full(small_disk, kind):  # noqa: F811
    root = os.path.join(small_disk, "idx")
    x = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    keys = [f"k{i}" for i in range(len(x))]
    ix = Index.create(root, IndexConfig(dim=32, S=4, workers=2, inner=InnerParams(kind=kind)))
    try:
        ix.insert(keys, x)  # ~260 KB of WAL fits; a snapshot of it does not
        ballast = fill(small_disk, 100_000)
        with pytest.raises(StorageFull, match="does not fit on the disk"):
            ix.save()
        with pytest.raises(StorageFull) as err:
            ix.save()
        assert to_status(err.value)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not [n for n in os.listdir(root) if n.endswith(".tmp")]  # no debris left
        os.remove(ballast)
        ix.save()
        assert len(ix.journal) == 0
    finally:
        ix.close(save=False)
    with Index.open(root) as again:
        assert len(again) == len(x)
        np.testing.assert_array_equal(again.get(keys[-3:]), x[-3:])
