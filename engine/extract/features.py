"""Feature files written by ``sanny extract``: append as you go, resume where you stopped.

HDF5 (``.h5``/``.hdf5``): resizable ``train`` (float32 n x d, the ann-benchmarks name, so
``sanny build FILE`` reads it directly) and ``keys`` datasets, flushed after every batch. NPZ:
``vectors`` and ``keys``, rewritten atomically (temp file + rename) every ``every`` seconds and
on close. Both store how the vectors were made (``meta``) and the PCA, if any; resuming with
different settings is refused instead of mixing incompatible vectors in one file.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from sanny.workers.errors import InvalidArgument
from ..pca import PCA

_CHECKED = ("model", "weights", "image_size", "l2", "pca_dim")


class FeatureFile:
    def __init__(self, path: str, meta: dict, every: float = 30.0):
        self.path, self.meta, self.every = path, dict(meta), every
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".h5", ".hdf5", ".npz"):
            raise InvalidArgument("out", f"{path!r}: use a .h5, .hdf5 or .npz file name")
        self.h5 = ext != ".npz"
        self.keys: list[str] = []
        self._vecs: list[np.ndarray] = []
        self._pca: PCA | None = None
        self._saved = time.monotonic()
        if os.path.exists(path):
            self._resume()
        elif self.h5:
            import h5py

            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._f = h5py.File(path, "w")
            self._f.attrs.update({"sanny_extract": json.dumps(self.meta), "distance": "euclidean",
                                  "point_type": "float"})
        self.done = set(self.keys)

    # -- reading back --------------------------------------------------------------------
    def _resume(self) -> None:
        try:
            if self.h5:
                import h5py

                self._f = h5py.File(self.path, "a")
                old = json.loads(self._f.attrs.get("sanny_extract", "{}"))
                if "keys" in self._f:
                    n = min(len(self._f["keys"]), len(self._f["train"]))  # a torn last append
                    self._f["keys"].resize((n,))
                    self._f["train"].resize((n, self._f["train"].shape[1]))
                    self.keys = [k.decode() if isinstance(k, bytes) else str(k) for k in self._f["keys"][:]]
                if "pca" in self._f:
                    self._pca = PCA.from_state({k: self._f["pca"][k][()] for k in ("mean", "components", "variances")})
            else:
                with np.load(self.path, allow_pickle=False) as z:
                    old = json.loads(str(z["meta"])) if "meta" in z else {}
                    self.keys = [str(k) for k in z["keys"]]
                    self._vecs = [z["vectors"].astype(np.float32)] if z["vectors"].size else []
                    if "pca_mean" in z:
                        self._pca = PCA.from_state({k: z["pca_" + k] for k in ("mean", "components", "variances")})
        except (OSError, KeyError, ValueError) as e:
            raise InvalidArgument("out", f"{self.path} exists but cannot be resumed ({e}); "
                                         f"remove it or choose another --out") from None
        diff = {k: (old.get(k), self.meta.get(k)) for k in _CHECKED if old.get(k) != self.meta.get(k)}
        if diff:
            self.close(save=False)
            raise InvalidArgument("out", f"{self.path} was written with different settings "
                                         f"(file vs now: {diff}); use the same options or another --out")

    @property
    def pca(self) -> PCA | None:
        return self._pca

    def set_pca(self, pca: PCA) -> None:
        self._pca = pca
        if self.h5:
            g = self._f.require_group("pca")
            for k, v in pca.state().items():
                if k in g:
                    del g[k]
                g[k] = v
            self._f.flush()

    # -- writing -------------------------------------------------------------------------
    def append(self, keys: list[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, np.float32)
        if not len(keys):
            return
        self.keys += keys
        self.done.update(keys)
        if not self.h5:
            self._vecs.append(vectors)
            if time.monotonic() - self._saved > self.every:
                self._save_npz()
            return
        import h5py

        f = self._f
        if "train" not in f:
            d = vectors.shape[1]
            f.create_dataset("train", (0, d), np.float32, maxshape=(None, d), chunks=(max(1, 65536 // d), d))
            f.create_dataset("keys", (0,), h5py.string_dtype(), maxshape=(None,), chunks=(1024,))
            f.attrs["dimension"] = d
        n = f["train"].shape[0]
        f["train"].resize((n + len(keys), f["train"].shape[1]))
        f["train"][n:] = vectors
        f["keys"].resize((n + len(keys),))
        f["keys"][n:] = keys
        f.flush()

    def _save_npz(self) -> None:
        x = np.concatenate(self._vecs) if self._vecs else np.zeros((0, 0), np.float32)
        self._vecs = [x]
        extra = {"pca_" + k: v for k, v in self._pca.state().items()} if self._pca is not None else {}
        tmp = self.path + ".tmp.npz"
        np.savez(tmp, vectors=x, keys=np.array(self.keys, dtype=str), meta=json.dumps(self.meta), **extra)
        os.replace(tmp, self.path)
        self._saved = time.monotonic()

    def __len__(self) -> int:
        return len(self.keys)

    def close(self, save: bool = True) -> None:
        if self.h5:
            if getattr(self, "_f", None) is not None:
                self._f.close()
                self._f = None
        elif save:
            self._save_npz()
