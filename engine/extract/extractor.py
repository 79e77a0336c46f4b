"""Batched CNN inference over image files: DataLoader decoding, ``inference_mode`` forward.

Decoding and resizing run in DataLoader worker processes while the main process runs the
network; a file that fails to decode becomes a ``(key, path, reason)`` entry in
``Extractor.failures`` and never stops the run. Post-processing: optional L2 normalisation and
PCA (``sanny.engine.pca.PCA``), L2-normalised again after PCA when ``l2`` is set.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import images, models
from .deps import require_torch
from ..pca import PCA

log = logging.getLogger(__name__)


@dataclass
class Batch:
    keys: list[str]
    vectors: np.ndarray  # float32 [n, dim]


class _Files:
    """Dataset item: ``(i, CHW float tensor or None, failure reason)``."""

    def __init__(self, files, prep: models.Preprocess, max_pixels: int):
        self.files, self.prep, self.max_pixels = files, prep, max_pixels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            im = images.open_image(self.files[i], self.max_pixels, draft=self.prep.resize)
            return i, models.to_tensor(im, self.prep), ""
        except images.BadImage as e:
            return i, None, e.reason
        except Exception as e:  # noqa: BLE001 - a decoder bug on one file must not end the run
            return i, None, f"failed: {type(e).__name__}: {e}"


def _collate(items):
    import torch

    ok = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, r) for i, x, r in items if x is None]
    idx = [i for i, _ in ok]
    return idx, (torch.stack([x for _, x in ok]) if ok else None), bad


class Extractor:
    """``Extractor("resnet50", weights=..., batch_size=32, threads=2).run(files, keys)``."""

    def __init__(self, model: str = "resnet50", weights: str = "imagenet", *, image_size: int | None = None,
                 batch_size: int = 32, threads: int | None = None, loader_workers: int | None = None,
                 l2: bool = False, pca: PCA | None = None, seed: int = 0,
                 max_pixels: int = images.DEFAULT_MAX_PIXELS, progress: bool = True):
        torch = require_torch()
        if threads:
            torch.set_num_threads(int(threads))
        self.net = models.load(model, weights, image_size=image_size, seed=seed)
        self.batch_size, self.l2, self.pca = max(1, int(batch_size)), l2, pca
        cpus = os.cpu_count() or 1
        self.loader_workers = min(2, cpus - 1) if loader_workers is None else max(0, int(loader_workers))
        self.max_pixels, self.progress = max_pixels, progress
        self.failures: list[tuple[str, str, str]] = []
        self.count = 0

    @property
    def dim(self) -> int:
        return self.pca.out_dim if self.pca is not None else self.net.dim

    def describe(self) -> dict:
        """What produced the vectors; stored beside them so a resumed run can check it matches."""
        p = self.net.preprocess
        return {"model": self.net.name, "weights": self.net.weights_id, "image_size": p.crop,
                "resize": p.resize, "l2": bool(self.l2), "pca_dim": self.pca.out_dim if self.pca else 0}

    def raw(self, files: list[str], keys: list[str] | None = None, desc: str = "extract"):
        """Yield :class:`Batch` of network features (L2-normalised if ``l2``), no PCA."""
        import torch

        keys = list(keys) if keys is not None else list(files)
        if not files:
            return
        loader = torch.utils.data.DataLoader(
            _Files(list(files), self.net.preprocess, self.max_pixels), batch_size=self.batch_size,
            shuffle=False, num_workers=min(self.loader_workers, len(files)), collate_fn=_collate)
        bar = tqdm(total=len(files), desc=desc, unit="img", disable=not self.progress, smoothing=0.1)
        try:
            for idx, x, bad in loader:
                self.failures += [(keys[i], files[i], reason) for i, reason in bad]
                if x is not None:
                    with torch.inference_mode():
                        f = self.net.module(x).float().numpy()
                    f = np.ascontiguousarray(f.reshape(len(idx), -1), dtype=np.float32)
                    self.count += len(idx)
                    yield Batch([keys[i] for i in idx], normalise(f) if self.l2 else f)
                bar.update(len(idx) + len(bad))
        finally:
            bar.close()

    def run(self, files: list[str], keys: list[str] | None = None, desc: str = "extract"):
        """Yield final :class:`Batch` es (PCA applied if set)."""
        for b in self.raw(files, keys, desc):
            yield Batch(b.keys, self.finish(b.vectors))

    def finish(self, raw: np.ndarray) -> np.ndarray:
        if self.pca is None:
            return raw
        y = self.pca.transform(raw)
        return normalise(y) if self.l2 else y

    def features(self, files: list[str]) -> tuple[list[str], np.ndarray]:
        """Vectors for a few files (queries): ``(files that worked, [n, dim])``."""
        out = list(self.run(files, files, desc="query"))
        if not out:
            return [], np.zeros((0, self.dim), np.float32)
        return sum((b.keys for b in out), []), np.concatenate([b.vectors for b in out])


def normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def fit_pca_stream(extractor: Extractor, batches, out_dim: int, sample: int, on_fit=None):
    """Buffer the first ``sample`` raw vectors, fit PCA on them (``on_fit(pca)``), then yield
    every batch reduced. Fitting on what the run extracts anyway avoids a second pass."""
    buf, n = [], 0
    for b in batches:
        if extractor.pca is not None:
            yield Batch(b.keys, extractor.finish(b.vectors))
            continue
        buf.append(b)
        n += len(b.keys)
        if n >= sample:
            yield from _fit_and_flush(extractor, buf, out_dim, on_fit)
            buf = []
    if buf:
        yield from _fit_and_flush(extractor, buf, out_dim, on_fit)


def _fit_and_flush(extractor: Extractor, buf, out_dim: int, on_fit):
    x = np.concatenate([b.vectors for b in buf])
    if len(x) < out_dim:
        log.warning("PCA to %d dims fitted on only %d vectors: components beyond %d are arbitrary",
                    out_dim, len(x), len(x) - 1)
    extractor.pca = PCA.fit(x, out_dim, center=True)
    if on_fit:
        on_fit(extractor.pca)
    for b in buf:
        yield Batch(b.keys, extractor.finish(b.vectors))
