"""matplotlib is the ``plot`` extra: without it a plot, and the commands that write plots, stop
with one line naming the extra (before any measuring), not with a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cli_helpers import one_line_error

HIDE = "import sys; sys.modules['matplotlib'] = None; "  # import matplotlib -> ImportError


def test_figure_without_matplotlib_names_the_extra(monkeypatch):
    from sanny.bench import plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plot.PlotUnavailable, match=r"sanny\[plot\]"):
        plot.figure(figsize=(2, 2))
    with pytest.raises(plot.PlotUnavailable, match=r"sanny\[plot\]"):
        plot.pareto_plot([{"algorithm": "sanny", "dataset": "d", "recall": 1.0, "qps": 1.0}], "p.png")


@pytest.mark.parametrize("cmd", [["bench", "DATA.hdf5", "--out", "OUT"],
                                 ["bench-serve", "DATA.hdf5", "--out", "OUT"],
                                 ["bench-ingest", "DATA.hdf5", "--out", "OUT"]])
def test_plotting_commands_stop_at_once_without_matplotlib(tmp_path, cmd):
    code = HIDE + f"from sanny.engine.cli import main; sys.exit(main({cmd!r}))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    one_line_error(p, "matplotlib", "sanny[plot]")
    assert not (tmp_path / "OUT").exists()  # nothing measured or written


def test_figure_with_matplotlib_has_a_canvas(tmp_path):
    pytest.importorskip("matplotlib")
    from sanny.bench.plot import figure

    fig = figure(figsize=(2, 2))
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
