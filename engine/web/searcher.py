"""What one request of the page does: picture -> feature vector -> neighbours (or -> index).

One decode per upload: the picture decoded under the limits (``uploads.decode``) feeds both the
network and the query's thumbnail. Forward passes run one at a time (torch already spreads one
over every core), searches and thumbnails in parallel.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from sanny.workers.errors import InvalidArgument, NotFound

from . import uploads
from .uploads import Refused

MAX_K = 100


class Searcher:
    def __init__(self, extractor, backend, images_root: str, limits: uploads.Limits = uploads.Limits(), *,
                 k: int = 10, T: int | None = None, allow_register: bool = False, upload_dir: str = "uploads"):
        self.ex, self.backend, self.root, self.limits = extractor, backend, images_root, limits
        self.k, self.T, self.allow_register, self.upload_dir = k, T, allow_register, upload_dir
        self._net = threading.Lock()
        self._dim: int | None = None

    # -- pictures -> vectors -------------------------------------------------------------
    def read(self, stream, name: str) -> uploads.Upload:
        data = uploads.read(stream, self.limits)
        return uploads.decode(data, name, self.limits, draft=self.ex.net.preprocess.resize)

    def features(self, im) -> np.ndarray:
        """The ``[1, dim]`` vector of one decoded picture, as ``Extractor.run`` makes it for a file."""
        import torch

        from ..extract import models
        from ..extract.extractor import normalise

        x = models.to_tensor(im, self.ex.net.preprocess).unsqueeze(0)
        with self._net, torch.inference_mode():
            f = self.ex.net.module(x).float().numpy().reshape(1, -1)
        return self.ex.finish(normalise(f) if self.ex.l2 else f)

    def _check_dim(self) -> None:
        if self._dim is None:
            self._dim = self.backend.dim()
        if self._dim != self.ex.dim:
            have, self._dim = self._dim, None  # asked again next time: the index may be replaced
            raise Refused(f"the index holds {have}-d vectors but {self.ex.net.name} with these options makes "
                          f"{self.ex.dim}-d ones: start 'sanny web' with the options the images were "
                          f"registered with", 409)

    # -- requests ------------------------------------------------------------------------
    def by_upload(self, up: uploads.Upload, k: int | None = None) -> dict:
        t0 = time.perf_counter()
        self._check_dim()
        x = self.features(up.image)
        t1 = time.perf_counter()
        hits = self.backend.search(x, self.checked_k(k), self.T)
        t2 = time.perf_counter()
        query = {"label": uploads.shown(up.name), "thumb": uploads.data_uri(uploads.jpeg(up.image))}
        return self._answer(query, hits, {"features_ms": 1e3 * (t1 - t0), "search_ms": 1e3 * (t2 - t1)})

    def by_key(self, key, k: int | None = None) -> dict:
        """Neighbours of a registered key: its stored vector, else its image file's features."""
        if not isinstance(key, str) or not key:
            raise Refused("key: expected a non-empty string")
        k = self.checked_k(k)
        t0 = time.perf_counter()
        hits = self.backend.search_key(key, k, self.T)
        if hits is None:
            path = uploads.confine(self.root, key)
            if path is None:
                raise NotFound(f"key {key!r} has no stored vector here and no image file under the images root")
            with open(path, "rb") as f:
                up = self.read(f, key)
            self._check_dim()
            hits = self.backend.search(self.features(up.image), k, self.T)
        query = {"label": key, "key": key}
        return self._answer(query, hits, {"search_ms": 1e3 * (time.perf_counter() - t0)})

    def register(self, up: uploads.Upload) -> dict:
        if not self.allow_register:
            raise Refused("registering is off on this page (start 'sanny web' with --allow-register)", 403)
        self._check_dim()
        x = self.features(up.image)
        key, _ = uploads.save_under(self.root, self.upload_dir, up)
        added = self.backend.insert(key, x)
        msg = (f"registered {uploads.shown(up.name)} as {key}" if added else
               f"{uploads.shown(up.name)} is already registered as {key}")
        return {"key": key, "added": added, "message": msg}

    def checked_k(self, k) -> int:
        if k is None or k == "":
            return self.k
        try:
            k = int(k)
        except (TypeError, ValueError):
            raise InvalidArgument("k", f"expected an integer from 1 to {MAX_K}, got {str(k)[:40]!r}") from None
        if not 1 <= k <= MAX_K:
            raise InvalidArgument("k", f"expected an integer from 1 to {MAX_K}, got {k}")
        return k

    def _answer(self, query: dict, hits, timing: dict) -> dict:
        out = {"query": query, "results": [{"key": k, "distance": d} for k, d in hits], "timing": timing}
        if not hits:
            out["message"] = ("The index is empty: register images first (sanny register DIR, or "
                              "'Register' here when allowed)." if self.backend.count() == 0 else "No neighbours found.")
        return out

    def describe(self) -> dict:
        d = self.ex.describe()
        random = d["weights"].startswith("random")
        return {"model": d["model"], "weights": d["weights"], "dim": self.ex.dim, "untrained": random,
                "images_root": os.path.basename(os.path.abspath(self.root)) or "/"}
