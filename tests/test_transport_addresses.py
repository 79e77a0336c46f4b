"""The [workers] addresses of the gRPC transport are checked at start with the right arithmetic:
an address listed twice (two cells on one worker would overwrite each other's state), and too few
or too many for shards x groups x replicas, are InvalidArgument naming the field and the count
needed; a failed create releases the directory."""
from __future__ import annotations

import pytest

from sanny.engine import Index, IndexConfig, InnerParams, InvalidArgument
from sanny.workers.transports import factory_from_config

ADDR = [f"127.0.0.1:{7101 + i}" for i in range(8)]  # never contacted: the checks come first


def table(addresses, **kw):
    return {"workers": {"transport": "grpc", "addresses": addresses, "shards": 2, "replicas": 2, **kw}}


def test_an_address_listed_twice_is_refused():
    with pytest.raises(InvalidArgument, match=r"workers.addresses\[5\].*127.0.0.1:7102 is listed twice .*\[1\]"):
        factory_from_config(table(ADDR[:5] + [ADDR[1]] + ADDR[6:]))


@pytest.mark.parametrize("n", [4, 6, 12])
def test_count_against_the_index_table(n):
    cfg = table([f"127.0.0.1:{7200 + i}" for i in range(n)])
    cfg["index"] = {"dim": 8, "S": 4, "workers": 2}
    with pytest.raises(InvalidArgument, match=rf"{n} addresses for 2 shards x 2 subspace groups x 2 replicas: "
                                              r"need 2 x 2 x 2 = 8"):
        factory_from_config(cfg)


def test_too_few_for_an_existing_index(tmp_path):
    """Without an [index] table (the index exists): 4 addresses give 1 group per shard and
    replica; an index with 2 groups is told it needs 8, and the directory is released."""
    factory = factory_from_config(table(ADDR[:4]))
    root = str(tmp_path / "idx")
    for _ in range(2):  # the second attempt gets the same error, not "already open"
        with pytest.raises(InvalidArgument, match="at least 8 addresses, the table lists 4"):
            Index.create(root, IndexConfig(dim=8, S=4, workers=2, shards=2, inner=InnerParams(kind="exact")),
                         worker_factory=factory, overwrite=True)


def test_the_right_count_passes():
    cfg = table(ADDR)
    cfg["index"] = {"dim": 8, "S": 4, "workers": 2}
    assert factory_from_config(cfg).replicas == 2
