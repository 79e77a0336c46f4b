"""bench/scale_model.predict on fixed constants: the model's arithmetic, not this machine's speed."""
from __future__ import annotations

import pytest

from sanny.bench.scale_model import predict

M = {"sub": [1e-4, 1e-6], "coord": [1e-9, 1e-4], "fixed": 2e-4, "hop": 1e-4, "graph_bytes_per_vector": 160.0}


def test_memory_per_node_divides_by_shards_and_groups():
    one = predict(M, 10**8, 2048, R=1, S=16, F=2, groups=16)
    four = predict(M, 10**8, 2048, R=4, S=16, F=2, groups=16)
    assert four["worker_node_bytes"] == pytest.approx(one["worker_node_bytes"] / 4)
    assert one["worker_node_bytes"] == pytest.approx(10**8 * (4 * 2048 / 16 + 160))
    assert four["nodes"] == 4 * 16 * 2 and one["coordinator_bytes"] == 4 * 10**8 * 2048


def test_latency_adds_the_round_trip_and_netem_delay():
    near = predict(M, 10**6, 128, R=2, S=4, groups=2)
    far = predict(M, 10**6, 128, R=2, S=4, groups=2, delay=0.25e-3)
    assert far["latency_s"] - near["latency_s"] == pytest.approx(0.5e-3)
    emb = predict(M, 10**6, 128, R=2, S=4, embedded=True)
    assert emb["latency_s"] > near["latency_s"] - M["hop"]  # in process the cells run in turn
