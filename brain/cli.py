"""`ask`: print one answer as it streams (the operator's check of the brain)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="ask the brain one question and print the answer as it streams",
                       description="Answers with the configured LLM (brain.llm.base_url) or, without one, "
                                   "from the knowledge base alone. Viewer facts are remembered per --uid.")
    p.add_argument("question")
    p.add_argument("--uid", type=int, help="viewer uid (memory and greetings are per uid)")
    p.add_argument("--uname", default="", help="viewer name")
    p.add_argument("--product", metavar="ID", help="current product id")
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: knowledge.db_url)")
    p.add_argument("--config", metavar="FILE", help="config TOML (default: configs/default.toml)")
    p.add_argument("--show-prompt", action="store_true", help="print the LLM messages first")
    p.set_defaults(func=cmd_ask)


def cmd_ask(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from configs.loader import DEFAULT_CONFIG, load_config
    from knowledge.store import Store, StoreError

    if args.config or DEFAULT_CONFIG.exists():
        cfg = load_config(args.config)
        kcfg, bcfg = cfg.knowledge, cfg.brain
    else:
        from brain.settings import BrainSettings
        from knowledge.settings import KnowledgeSettings

        kcfg, bcfg = KnowledgeSettings(), BrainSettings()
    try:
        store = Store.open(args.db or kcfg.db_url, synchronous=kcfg.sqlite_synchronous)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if store.count_chunks() == 0:
        print(f"error: the store at {store.url} is empty: run `python main.py kb import FILE|DIR` first",
              file=sys.stderr)
        return 1
    guard = None
    try:
        from danmaku.moderation.moderator import Moderator

        guard = Moderator().check_outgoing
    except Exception:  # noqa: BLE001 - the guard is optional for this operator check
        pass
    from brain.responder import Brain

    brain = Brain(store, bcfg, retrieval=kcfg.retrieval, guard=guard)

    async def run() -> None:
        if args.show_prompt:
            messages = await asyncio.to_thread(brain.build_prompt, args.question, args.uid, args.uname,
                                               args.product)
            print(json.dumps(messages, ensure_ascii=False, indent=1), file=sys.stderr)
        async for sentence in brain.answer(args.question, uid=args.uid, uname=args.uname,
                                           product_id=args.product):
            print(sentence, flush=True)
        await asyncio.sleep(0)
        if brain._background:
            await asyncio.wait(brain._background, timeout=bcfg.llm.total_timeout_s)
        await brain.close()

    asyncio.run(run())
    return 0
