"""The `[workers]` table of a grid: shards x groups x replicas addresses, checked up front."""
from __future__ import annotations

import pytest

from sanny.engine import Index, IndexConfig
from sanny.workers.errors import InvalidArgument
from sanny.workers.transports import factory_from_config, worker_count


def _table(**kw):
    return {"workers": {"transport": "grpc", "addresses": [f"127.0.0.1:{7000 + i}" for i in range(8)], **kw}}


def test_layout_shard_group_replica():
    cfg = _table(shards=2, replicas=2)
    assert worker_count(cfg) == 2  # 8 addresses = 2 shards x 2 groups x 2 replicas
    f = factory_from_config(cfg)
    assert (f.shards, f.replicas) == (2, 2)


@pytest.mark.parametrize("bad, field", [({"shards": 3}, "workers.addresses"), ({"replicas": 0}, "workers.replicas"),
                                        ({"shards": "2"}, "workers.shards")])
def test_bad_grid_tables_name_the_field(bad, field):
    with pytest.raises(InvalidArgument, match=field):
        factory_from_config(_table(**bad))


def test_shards_must_match_the_index(tmp_path):
    f = factory_from_config(_table(shards=2, replicas=2))
    with pytest.raises(InvalidArgument, match="workers.shards"):
        Index.create(str(tmp_path / "ix"), IndexConfig(dim=8, S=2, workers=2, shards=1), worker_factory=f)
