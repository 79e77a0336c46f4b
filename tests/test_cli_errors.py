"""Expected failures end in one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from cli_helpers import one_line_error, run
from sanny.engine.api.client import Client, ServiceUnavailable
from sanny.workers.errors import SannyError, WorkerUnavailable


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_paths(tmp_path):
    one_line_error(run("build", tmp_path / "missing.npy", "--index", tmp_path / "ix"), "missing.npy")
    one_line_error(run("info", tmp_path / "nope"), "does not exist")
    one_line_error(run("search", tmp_path / "q.npy", "--index", tmp_path / "nope"))


def test_existing_directory_names_the_flag(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 8), np.float32))
    (tmp_path / "ix").mkdir()
    (tmp_path / "ix" / "keep.txt").write_text("mine")
    line = one_line_error(run("build", tmp_path / "x.npy", "--index", tmp_path / "ix"), "--overwrite")
    assert "overwrite=True" not in line
    assert (tmp_path / "ix" / "keep.txt").read_text() == "mine"


def test_client_against_a_closed_port_raises_engine_errors():
    with Client(f"127.0.0.1:{closed_port()}", timeout=5) as c:
        with pytest.raises(WorkerUnavailable) as e:
            c.insert(["a"], np.zeros((1, 4), np.float32))
        assert isinstance(e.value, ServiceUnavailable) and isinstance(e.value, SannyError)
        assert "is a server running there?" in str(e.value)
        with pytest.raises(ServiceUnavailable):
            c.search(np.zeros((1, 4), np.float32))
        with pytest.raises(ServiceUnavailable):
            c.wait_ready(timeout=0.5)


def test_register_and_search_image_without_a_server(tmp_path):
    pytest.importorskip("torch")
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    addr = f"127.0.0.1:{closed_port()}"
    common = ["--server", addr, "--model", "resnet18", "--weights", "random"]
    one_line_error(run("register", tmp_path, *common, "--no-progress"), "is a server running there?")
    one_line_error(run("search-image", tmp_path / "a.png", *common), "is a server running there?")


def test_serve_on_a_taken_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run("serve", "--index", tmp_path / "ix", "--create", "--dim", "8", "--S", "2",
                "--listen", f"127.0.0.1:{port}")
    one_line_error(p, str(port))
