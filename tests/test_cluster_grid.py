"""Row shards x subspaces (engine/grid.py), embedded: an R-shard index answers exactly like R = 1.

With the exact inner index every shard returns its true top-T per subspace, and the grid merges
them into the true top-T of the whole group, so ids and distances must be identical."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig
from sanny.workers import InnerParams
from sanny.workers.errors import InvalidArgument

from transport_helpers import dataset


def _config(R: int, **kw) -> IndexConfig:
    base = dict(dim=32, S=4, workers=2, inner=InnerParams(kind="exact"), T=20, shards=R)
    return IndexConfig(**{**base, **kw})


def _build(root, cfg, x, keys) -> Index:
    ix = Index.create(str(root), cfg)
    ix.insert(keys[:1500], x[:1500])
    ix.save()
    ix.insert(keys[1500:], x[1500:])
    ix.remove(keys[:7])
    ix.upsert(keys[10:20], x[10:20][::-1])  # upserts get new ids, possibly in another shard
    return ix


@pytest.mark.parametrize("R", [2, 3])
@pytest.mark.parametrize("extra", [{}, {"keep_vectors": False}, {"metric": "ip"}])
def test_grid_matches_one_shard(tmp_path, R, extra):
    x, q, keys = dataset()
    one = _build(tmp_path / "one", _config(1, **extra), x, keys)
    grid = _build(tmp_path / "grid", _config(R, **extra), x, keys)
    try:
        k1, d1 = one.search(q, k=10)
        kr, dr = grid.search(q, k=10)
        assert (k1 == kr).all()
        np.testing.assert_allclose(d1, dr, rtol=1e-5, atol=1e-5)
        counts = [c["replicas"][0]["count"] for w in grid.info()["workers"] for c in w["cells"]]
        assert sum(counts) == 2 * len(grid)  # two subspace groups, every row in one shard of each
        assert max(counts) - min(counts) <= len(keys) // (2 * R)  # id mod R: balanced shards
    finally:
        one.close()
        grid.close()


def test_grid_reopens_from_snapshot_and_wal(tmp_path):
    x, q, keys = dataset()
    ix = _build(tmp_path / "g", _config(3), x, keys)
    want = ix.search(q, k=10)
    ix.close(save=False)  # the tail after the checkpoint comes back from the WAL
    ix = Index.open(str(tmp_path / "g"))
    try:
        assert ix.config.shards == 3
        got = ix.search(q, k=10)
        assert (got[0] == want[0]).all()
    finally:
        ix.close()


def test_shards_checked(tmp_path):
    with pytest.raises(InvalidArgument, match="shards"):
        Index.create(str(tmp_path / "bad"), _config(0))
