"""experiments.upsert_growth: an upsert of an existing key gives its id back and takes the smallest free
one, so the id ranges stay at the live count however many upserts go by; segments keep the graph
rows bounded and ``Index.build()`` leaves one graph of exactly the live rows."""
from __future__ import annotations

import json

from experiments import upsert_growth


def test_ids_stay_at_the_live_count_and_build_leaves_only_live_rows(tmp_path):
    out = tmp_path / "g"
    upsert_growth.main(["--n", "300", "--dim", "16", "--S", "2", "--upserts", "400", "--keys", "20",
                        "--out", str(out)])
    rows = json.loads((out / "upsert-growth.json").read_text())["rows"]
    assert [r["when"] for r in rows][0] == "start" and rows[-1]["when"] == "after build()"
    assert all(r["live"] == 320 for r in rows[1:]) and rows[0]["live"] == 300
    end = rows[-2]
    assert end["upserts"] == 400
    # no id left behind: at most one call's keys (50) above the live count, whose ids free the next call
    assert all(r["coordinator_ids"] == r["worker_ids"] <= r["live"] + 50 for r in rows)
    assert rows[-1]["graph_nodes"] == 320
    assert all(r["rss_mb"] > 0 for r in rows)
    assert (out / "upsert-growth.png").stat().st_size > 0 and "upserts" in (out / "upsert-growth.md").read_text()
