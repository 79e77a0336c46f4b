"""Read vectors (and optional keys) from .npy, .npz or HDF5 files, and write search results.

HDF5 follows ann-benchmarks (``train``, ``test``, ...); any dataset name can be chosen.
Vectors stored as float16 are cast to float32 on read.
"""
from __future__ import annotations

import os

import numpy as np

from sanny.workers.errors import InvalidArgument


def read(path: str, dataset: str = "train") -> tuple[np.ndarray, list[str] | None]:
    """``(vectors float32 [n, d], keys or None)``."""
    if not os.path.exists(path):
        raise InvalidArgument("path", f"{path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    keys = None
    if ext == ".npy":
        x = np.load(path, allow_pickle=False)
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            name = dataset if dataset in z else "vectors"
            if name not in z:
                raise InvalidArgument("dataset", f"{path} has no array {dataset!r} or 'vectors' (has {list(z)})")
            x = z[name]
            keys = [str(k) for k in z["keys"]] if "keys" in z else None
    elif ext in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if dataset not in f:
                raise InvalidArgument("dataset", f"{path} has no dataset {dataset!r} (has {list(f)})")
            x = np.asarray(f[dataset], dtype=np.float32)
            if "keys" in f and dataset == "train":
                keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["keys"][:]]
    else:
        raise InvalidArgument("path", f"unsupported file type {ext!r} (use .npy, .npz, .h5 or .hdf5)")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidArgument("path", f"{path}: expected a 2-D array, got shape {x.shape}")
    return x, keys


def metric_of(path: str) -> str | None:
    """The metric an ann-benchmarks HDF5 file declares (``euclidean`` -> l2, ``angular`` -> cosine)."""
    if os.path.splitext(path)[1].lower() not in (".h5", ".hdf5"):
        return None
    import h5py

    with h5py.File(path, "r") as f:
        d = f.attrs.get("distance")
    d = d.decode() if isinstance(d, bytes) else d
    return {"euclidean": "l2", "angular": "cosine", "dot": "ip"}.get(d)


def write_results(path: str, keys: np.ndarray, distances: np.ndarray) -> None:
    """``.npz`` (keys, distances) or ``.tsv`` (query, rank, key, distance)."""
    if path.endswith(".npz"):
        np.savez(path, keys=keys.astype(str), distances=distances)
        return
    with open(path, "w") as f:
        f.write("query\trank\tkey\tdistance\n")
        for q, (ks, ds) in enumerate(zip(keys, distances)):
            for r, (k, d) in enumerate(zip(ks, ds)):
                if k is not None:
                    f.write(f"{q}\t{r}\t{k}\t{d:.6g}\n")
