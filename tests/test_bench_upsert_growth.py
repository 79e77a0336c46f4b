"""experiments.upsert_growth: every upsert of an existing key takes a new id, so the id ranges grow
by the upserts while the live count stays put; ``Index.build()`` gives the graph back only."""
from __future__ import annotations

import json

from experiments import upsert_growth


def test_ids_grow_by_the_upserts_and_build_shrinks_only_the_graph(tmp_path):
    out = tmp_path / "g"
    upsert_growth.main(["--n", "300", "--dim", "16", "--S", "2", "--upserts", "400", "--keys", "20",
                        "--out", str(out)])
    rows = json.loads((out / "upsert-growth.json").read_text())["rows"]
    assert [r["when"] for r in rows][0] == "start" and rows[-1]["when"] == "after build()"
    assert all(r["live"] == 320 for r in rows[1:]) and rows[0]["live"] == 300
    end = rows[-2]
    assert end["upserts"] == 400 and end["coordinator_ids"] == end["worker_ids"] == 300 + 400
    assert end["graph_nodes"] == 700
    assert rows[-1]["graph_nodes"] == 320 and rows[-1]["coordinator_ids"] == 700  # the stores keep every id
    assert all(r["rss_mb"] > 0 for r in rows)
    assert (out / "upsert-growth.png").stat().st_size > 0 and "upserts" in (out / "upsert-growth.md").read_text()
