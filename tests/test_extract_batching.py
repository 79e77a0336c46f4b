"""A picture's vector does not depend on its batch, its neighbours in the batch, bad files
around it, or whether decoding runs in worker processes (deterministic preprocessing)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from sanny.engine.extract.extractor import Extractor  # noqa: E402

from extract_helpers import SIZE, checkpoint, write_pictures  # noqa: E402,F401


def vectors(ck, files, **kw):
    ex = Extractor("resnet50", ck, image_size=SIZE, progress=False, **kw)
    keys, x = ex.features(files)
    return dict(zip(keys, x)), ex


def test_batch_size_and_workers_do_not_change_vectors(tmp_path, checkpoint):  # noqa: F811
    files = [str(tmp_path / k) for k in write_pictures(tmp_path, 5)]
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    files.insert(2, str(tmp_path / "bad.png"))
    one, ex1 = vectors(checkpoint, files, batch_size=1, loader_workers=0)
    many, ex4 = vectors(checkpoint, files, batch_size=4, loader_workers=1)
    assert list(one) == list(many) == [f for f in files if not f.endswith("bad.png")]
    for k in one:
        np.testing.assert_allclose(one[k], many[k], rtol=1e-4, atol=1e-4)
    assert [f[1] for f in ex1.failures] == [str(tmp_path / "bad.png")] == [f[1] for f in ex4.failures]


def test_l2_option(tmp_path, checkpoint):  # noqa: F811
    files = [str(tmp_path / k) for k in write_pictures(tmp_path, 3)]
    v, _ = vectors(checkpoint, files, l2=True, loader_workers=0)
    assert np.allclose([np.linalg.norm(x) for x in v.values()], 1, atol=1e-5)
