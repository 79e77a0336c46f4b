"""PCA fitted on a sample: the classic "extract -> reduce -> search" step.

``out_dim == dim`` is a pure rotation (distances preserved exactly, variance concentrated in
the leading columns); ``out_dim < dim`` also reduces. Only the *searched* space is reduced:
the exact re-rank still uses the stored full vectors. For ``ip`` no mean is subtracted
(centering would change inner products).
"""
from __future__ import annotations

import numpy as np

from sanny.workers.errors import InvalidArgument


class PCA:
    def __init__(self, mean: np.ndarray, components: np.ndarray, variances: np.ndarray):
        self.mean = mean.astype(np.float32)
        self.components = components.astype(np.float32)  # [dim, out_dim], orthonormal columns
        self.variances = variances.astype(np.float64)     # variance along each component

    @property
    def out_dim(self) -> int:
        return self.components.shape[1]

    @classmethod
    def fit(cls, x: np.ndarray, out_dim: int, center: bool = True) -> "PCA":
        x = np.asarray(x, np.float32)
        n, dim = x.shape
        if not 1 <= out_dim <= dim:
            raise InvalidArgument("pca_dim", f"must be between 1 and {dim}, got {out_dim}")
        if n < 2:
            raise InvalidArgument("sample", "PCA needs at least 2 training vectors")
        mean = x.mean(0, dtype=np.float64) if center else np.zeros(dim)
        xc = x - mean.astype(np.float32)
        cov = (xc.T @ xc).astype(np.float64) / (n - 1)  # float32 GEMM: 2048-d in seconds, not tens
        if out_dim < dim // 2:  # only the leading eigenpairs: much cheaper than a full eigh
            import scipy.linalg

            vals, vecs = scipy.linalg.eigh(cov, subset_by_index=[dim - out_dim, dim - 1])
        else:
            vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][:out_dim]
        return cls(mean, vecs[:, order], np.maximum(vals[order], 0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((x - self.mean) @ self.components, dtype=np.float32)

    def transform_head(self, x: np.ndarray, n: int) -> np.ndarray:
        """The first ``n`` coordinates only (the searched ones, when no bound needs the rest), as
    ``x @ P + b`` (no centred copy of ``x``; the search path's projection)."""
        n = min(n, self.out_dim)
        head = self.__dict__.get("_head")
        if head is None or head.shape[1] != n:
            head = self._head = np.ascontiguousarray(self.components[:, :n])
            self._head_t = np.ascontiguousarray(head.T)  # one query: a row-major GEMV, ~1.5x faster
            self._head_bias = -(self.mean @ head)
        x = np.asarray(x, np.float32)
        if len(x) == 1:  # the single query: (n x dim) @ x streams the head once, rows in order
            y = (self._head_t @ x[0])[None, :]
        else:
            y = x @ head
        y += self._head_bias
        return y

    def project(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reduced coordinates and the norm of what the reduction drops (the residual).

        Since the residual is orthogonal to the kept components,
        ``|q-x|^2 = |y_q-y_x|^2 + |r_q-r_x|^2 >= |y_q-y_x|^2 + (|r_q|-|r_x|)^2``: an exact lower
        bound that lets the re-rank skip most full-dimension distance computations.
        """
        y = self.transform(x)
        xc = np.asarray(x, np.float32) - self.mean
        r2 = (xc * xc).sum(1) - (y * y).sum(1)
        return y, np.sqrt(np.maximum(r2, 0)).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "components": self.components, "variances": self.variances}

    @classmethod
    def from_state(cls, st) -> "PCA":
        return cls(st["mean"], st["components"], st["variances"])
