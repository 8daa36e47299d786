"""The knowledge store: the only module that speaks SQL (SQLAlchemy 2; SQLite by default, any URL works).

Each method is one short transaction, safe to call from several threads. From the asyncio loop use
``await store.arun(store.method, ...)`` for anything on a hot path so the loop never blocks on disk.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from knowledge.chunking import ChunkDraft, document_chunks, faq_chunks, product_chunks
from knowledge.importer import ImportFileError, KnowledgeBundle
from knowledge.models import (AdminAuditRow, ChunkRow, DocumentRow, EventRow, FaqRow, ModerationRow, ProductRow,
                              StateRow, UtteranceRow, ViewerFactRow, ViewerRow)
from knowledge.records import (Chunk, Document, Faq, Product, StoredEvent, Utterance, Viewer, ViewerFact)
from knowledge.text_tokens import add_words, product_words, tokenize

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
# A viewer who comes back after this long counts as a new visit (a "regular" has several visits).
VISIT_GAP_S = 30 * 60


class StoreError(Exception):
    """A store problem worded for the operator (bad URL, unknown product id, ...)."""


def _product(row: ProductRow) -> Product:
    return Product(id=row.id, name=row.name, aliases=list(row.aliases or []), price=row.price,
                   list_price=row.list_price, currency=row.currency, stock=row.stock, specs=dict(row.specs or {}),
                   selling_points=list(row.selling_points or []), promotions=list(row.promotions or []),
                   tags=list(row.tags or []))


def _viewer(row: ViewerRow) -> Viewer:
    return Viewer(uid=row.uid, uname=row.uname, names_seen=list(row.names_seen or []), first_seen=row.first_seen,
                  last_seen=row.last_seen, visits=row.visits, messages=row.messages, gift_total=row.gift_total)


def _utterance(row: UtteranceRow) -> Utterance:
    return Utterance(id=row.id, created_at=row.created_at, kind=row.kind, reason=row.reason,
                     target_uid=row.target_uid, text_planned=row.text_planned, text_played=row.text_played,
                     played_fraction=row.played_fraction, interrupted=row.interrupted)


class Store:
    """Products, FAQs, chunks, viewers and their facts, events, utterances, audits and state."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer; serializing our own writers avoids "database is locked" upgrades.
        self._write_lock = threading.RLock()
        self.url = engine.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, url: str = "sqlite:///var/host.db", *, synchronous: str = "normal",
             busy_timeout_ms: int = 5000, migrate: bool = True) -> "Store":
        """Connect (creating a SQLite file and its folder if needed) and upgrade the schema to head."""
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"knowledge.db_url: not a database URL: {url!r} "
                             "(e.g. sqlite:///var/host.db or postgresql+psycopg://user@host/db)") from None
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        elif parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we ship
        try:
            engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
        except Exception as exc:  # missing driver and the like
            raise StoreError(f"knowledge.db_url: cannot use {url!r}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            sync = "FULL" if synchronous == "full" else "NORMAL"

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                cur.execute(f"PRAGMA synchronous={sync}")
                cur.close()

        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Apply Alembic migrations up to head (idempotent)."""
        # Alembic narrates every start at INFO (plugins, context); keep the host's logs quiet.
        alembic_log = logging.getLogger("alembic")
        if alembic_log.level == logging.NOTSET:
            alembic_log.setLevel(logging.WARNING)
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self._write_lock, self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except Exception as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open or migrate the store at {self.url}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._write_lock, self._sessions.begin() as session:
            yield session

    async def arun(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store method in a worker thread (for callers on the asyncio loop)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------------ key/value state

    def get_state(self, key: str, default: Any = None) -> Any:
        with self._read() as s:
            row = s.get(StateRow, key)
            return default if row is None else row.value

    def set_state(self, key: str, value: Any) -> None:
        with self._write() as s:
            self._set_state(s, key, value)

    @staticmethod
    def _set_state(s: Session, key: str, value: Any) -> None:
        row = s.get(StateRow, key)
        if row is None:
            s.add(StateRow(key=key, value=value, updated_at=time.time()))
        else:
            row.value, row.updated_at = value, time.time()

    def current_product(self) -> Product | None:
        """The product on screen (set by `/product` or the script schedule); survives restarts."""
        pid = self.get_state("current_product")
        return self.get_product(pid) if pid else None

    def set_current_product(self, product_id: str | None) -> None:
        if product_id is not None and self.get_product(product_id) is None:
            raise StoreError(f"unknown product id {product_id!r}")
        self.set_state("current_product", product_id)

    def muted_uids(self) -> set[int]:
        return {int(u) for u in self.get_state("muted_uids", [])}

    def mute(self, uid: int) -> None:
        with self._write() as s:
            row = s.get(StateRow, "muted_uids")
            uids = set(row.value if row else []) | {int(uid)}
            self._set_state(s, "muted_uids", sorted(uids))

    def unmute(self, uid: int) -> None:
        with self._write() as s:
            row = s.get(StateRow, "muted_uids")
            uids = set(row.value if row else []) - {int(uid)}
            self._set_state(s, "muted_uids", sorted(uids))

    def is_paused(self) -> bool:
        return bool(self.get_state("paused", False))

    def set_paused(self, paused: bool) -> None:
        self.set_state("paused", bool(paused))

    def kb_version(self) -> int:
        """Bumped by every import that changed something; retrievers reload when it moves."""
        return int(self.get_state("kb_version", 0))

    def store_profile(self) -> dict[str, Any]:
        """The ``store`` section of the last imported knowledge file (name, currency, persona, ...)."""
        return dict(self.get_state("store_profile", {}) or {})

    # ------------------------------------------------------------------ catalogue

    def get_product(self, product_id: str) -> Product | None:
        with self._read() as s:
            row = s.get(ProductRow, product_id)
            return _product(row) if row else None

    def list_products(self) -> list[Product]:
        with self._read() as s:
            return [_product(r) for r in s.scalars(select(ProductRow).order_by(ProductRow.id))]

    def get_faq(self, faq_id: str) -> Faq | None:
        with self._read() as s:
            r = s.get(FaqRow, faq_id)
            return Faq(r.id, r.question, r.answer, r.product_id, list(r.tags or [])) if r else None

    def list_faqs(self) -> list[Faq]:
        with self._read() as s:
            return [Faq(r.id, r.question, r.answer, r.product_id, list(r.tags or []))
                    for r in s.scalars(select(FaqRow).order_by(FaqRow.id))]

    def list_documents(self) -> list[Document]:
        with self._read() as s:
            return [Document(r.id, r.kind, r.title, r.body, r.product_id)
                    for r in s.scalars(select(DocumentRow).order_by(DocumentRow.id))]

    def get_document(self, doc_id: str) -> Document | None:
        with self._read() as s:
            r = s.get(DocumentRow, doc_id)
            return Document(r.id, r.kind, r.title, r.body, r.product_id) if r else None

    def load_chunks(self) -> list[Chunk]:
        """All chunks with tokens and embeddings (what a retriever indexes)."""
        out = []
        with self._read() as s:
            for r in s.execute(select(ChunkRow.id, ChunkRow.source_kind, ChunkRow.source_id, ChunkRow.product_id,
                                      ChunkRow.title, ChunkRow.text, ChunkRow.tokens, ChunkRow.embedding)
                               .order_by(ChunkRow.id)):
                emb = np.frombuffer(r.embedding, dtype=np.float32) if r.embedding else None
                out.append(Chunk(r.id, r.source_kind, r.source_id, r.product_id, r.title, r.text,
                                 r.tokens.split(" ") if r.tokens else [], emb))
        return out

    def count_chunks(self) -> int:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(ChunkRow)) or 0

    def apply_import(self, bundle: KnowledgeBundle, embedder=None, progress: bool = False) -> dict[str, int]:
        """Write a parsed bundle in ONE transaction: upserts by id, chunks re-embedded only when changed.

        Nothing is written when anything fails (a bad reference, a DB error, an embedding error).
        """
        drafts: list[ChunkDraft] = []
        for p in bundle.products.values():
            drafts += product_chunks(p)
        for f in bundle.faqs.values():
            drafts += faq_chunks(f)
        for d in bundle.documents.values():
            drafts += document_chunks(d)
        with self._read() as s:
            known_products = set(s.scalars(select(ProductRow.id)))
            existing = {r.id: (r.content_hash, r.embedding_model, r.embedding is not None)
                        for r in s.execute(select(ChunkRow.id, ChunkRow.content_hash, ChunkRow.embedding_model,
                                                  ChunkRow.embedding))}
        for f in bundle.faqs.values():
            if f.product_id and f.product_id not in bundle.products and f.product_id not in known_products:
                src = bundle.sources.get(f.id, "")
                path, _, line = src.rpartition(":")
                raise ImportFileError(path or src, int(line) if line.isdigit() else None,
                                      f"faqs {f.id}: unknown product_id '{f.product_id}'")
        # Queries are tokenized with product names taught to jieba (the retriever does it); chunks must be
        # too, or the same words would split differently depending on what this process saw before.
        add_words(product_words([*bundle.products.values(), *self.list_products()]))
        model_name = embedder.name if embedder is not None else None
        changed = [d for d in drafts
                   if d.id not in existing or existing[d.id][0] != d.content_hash
                   or (model_name and (existing[d.id][1] != model_name or not existing[d.id][2]))]
        vectors: dict[str, bytes] = {}
        if embedder is not None and changed:
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(changed), desc="embed", unit="chunk")
            try:
                mat = embedder.passages([f"{d.title}\n{d.text}" if d.title not in d.text else d.text
                                         for d in changed], progress=bar.update if bar else None)
            finally:
                if bar:
                    bar.close()
            vectors = {d.id: mat[i].astype(np.float32).tobytes() for i, d in enumerate(changed)}
        now = time.time()
        changed_ids = {d.id for d in changed}
        stats = {"products": 0, "faqs": 0, "documents": 0, "chunks_added": 0, "chunks_updated": 0,
                 "chunks_removed": 0, "chunks_unchanged": len(drafts) - len(changed)}
        with self._write() as s:
            for p in bundle.products.values():
                s.merge(ProductRow(id=p.id, name=p.name, aliases=p.aliases, price=p.price, list_price=p.list_price,
                                   currency=p.currency, stock=p.stock, specs=p.specs,
                                   selling_points=p.selling_points, promotions=p.promotions, tags=p.tags,
                                   source=bundle.sources.get(p.id, ""), updated_at=now))
                stats["products"] += 1
            s.flush()  # FAQs reference products
            for f in bundle.faqs.values():
                s.merge(FaqRow(id=f.id, question=f.question, answer=f.answer, product_id=f.product_id,
                               tags=f.tags, source=bundle.sources.get(f.id, ""), updated_at=now))
                stats["faqs"] += 1
            for d in bundle.documents.values():
                s.merge(DocumentRow(id=d.id, kind=d.kind, title=d.title, body=d.body, product_id=d.product_id,
                                    source=bundle.sources.get(d.id, ""), updated_at=now))
                stats["documents"] += 1
            # A re-imported source owns its chunk set: chunks it no longer produces (a removed spec) go.
            sources = {d.source_id for d in drafts}
            wanted = {d.id for d in drafts}
            stale = [cid for cid, in s.execute(select(ChunkRow.id).where(ChunkRow.source_id.in_(sources)))
                     if cid not in wanted] if sources else []
            if stale:
                s.execute(delete(ChunkRow).where(ChunkRow.id.in_(stale)))
                stats["chunks_removed"] = len(stale)
            for d in drafts:
                if d.id not in changed_ids:
                    continue
                row = s.get(ChunkRow, d.id)
                fields = dict(source_kind=d.source_kind, source_id=d.source_id, product_id=d.product_id,
                              title=d.title, text=d.text, tokens=" ".join(tokenize(f"{d.title} {d.text}")),
                              content_hash=d.content_hash, embedding=vectors.get(d.id),
                              embedding_model=model_name if d.id in vectors else None, updated_at=now)
                if row is None:
                    s.add(ChunkRow(id=d.id, **fields))
                    stats["chunks_added"] += 1
                else:
                    for k, v in fields.items():
                        setattr(row, k, v)
                    stats["chunks_updated"] += 1
            profile_changed = False
            if bundle.store_profile is not None:
                old = s.get(StateRow, "store_profile")
                profile_changed = old is None or old.value != bundle.store_profile
                self._set_state(s, "store_profile", bundle.store_profile)
            if changed or stale or profile_changed:
                row = s.get(StateRow, "kb_version")
                self._set_state(s, "kb_version", int(row.value if row else 0) + 1)
        return stats

    def import_files(self, paths: list[str | Path], *, embeddings: bool = True,
                     progress: bool = False) -> dict[str, int]:
        """Parse and import files/folders (idempotent; what the host runs at start for knowledge.import_paths)."""
        from knowledge.importer import parse_paths

        embedder = None
        if embeddings:
            from knowledge.embedding import shared_embedder

            embedder = shared_embedder()
        return self.apply_import(parse_paths(list(paths), progress=progress), embedder, progress=progress)

    # ------------------------------------------------------------------ viewers and memory

    def get_viewer(self, uid: int) -> Viewer | None:
        with self._read() as s:
            row = s.get(ViewerRow, int(uid))
            return _viewer(row) if row else None

    @staticmethod
    def _touch_viewer(s: Session, uid: int, uname: str, ts: float) -> ViewerRow:
        row = s.get(ViewerRow, int(uid))
        if row is None:
            row = ViewerRow(uid=int(uid), uname=uname or "", names_seen=[uname] if uname else [], first_seen=ts,
                            last_seen=ts, visits=1, messages=0, gift_total=0.0)
            s.add(row)
            return row
        if ts - row.last_seen > VISIT_GAP_S:
            row.visits += 1
        row.last_seen = max(row.last_seen, ts)
        if uname and uname != row.uname:
            row.uname = uname
            if uname not in (row.names_seen or []):
                row.names_seen = [*(row.names_seen or []), uname]
        return row

    def record_viewer_seen(self, uid: int, uname: str = "", ts: float | None = None, *, message: bool = False,
                           gift_cny: float = 0.0) -> Viewer:
        """Note that a viewer showed up (enter, chat, gift); counts visits, messages and paid gifts."""
        with self._write() as s:
            row = self._touch_viewer(s, uid, uname, time.time() if ts is None else ts)
            if message:
                row.messages += 1
            if gift_cny:
                row.gift_total += float(gift_cny)
            s.flush()
            return _viewer(row)

    def add_viewer_fact(self, uid: int, kind: str, value: str, source_text: str = "", extractor: str = "rules",
                        uname: str = "", ts: float | None = None) -> bool:
        """Remember a durable fact about a viewer; returns False when it was already known."""
        ts = time.time() if ts is None else ts
        value = value.strip()[:300]
        if not value:
            return False
        with self._write() as s:
            self._touch_viewer(s, uid, uname, ts)
            s.flush()
            row = s.scalar(select(ViewerFactRow).where(ViewerFactRow.uid == int(uid), ViewerFactRow.kind == kind,
                                                       ViewerFactRow.value == value))
            if row is not None:
                row.updated_at = ts
                return False
            s.add(ViewerFactRow(uid=int(uid), kind=kind, value=value, source_text=source_text[:2000],
                                extractor=extractor, created_at=ts, updated_at=ts))
            return True

    def viewer_facts(self, uid: int, limit: int = 20) -> list[ViewerFact]:
        with self._read() as s:
            rows = s.scalars(select(ViewerFactRow).where(ViewerFactRow.uid == int(uid))
                             .order_by(ViewerFactRow.updated_at.desc()).limit(limit))
            return [ViewerFact(r.uid, r.kind, r.value, r.source_text, r.extractor, r.created_at) for r in rows]

    def forget_viewer(self, uid: int) -> None:
        """Delete a viewer's memory and events (privacy policy: viewers may ask for it)."""
        with self._write() as s:
            s.execute(delete(ViewerFactRow).where(ViewerFactRow.uid == int(uid)))
            s.execute(delete(EventRow).where(EventRow.uid == int(uid)))
            s.execute(delete(ViewerRow).where(ViewerRow.uid == int(uid)))

    # ------------------------------------------------------------------ events (append-only)

    def add_event(self, kind: str, *, ts: float | None = None, uid: int | None = None, uname: str = "",
                  text: str = "", amount: float = 0.0, raw: Any = None, source: str = "",
                  room_id: int | None = None) -> int:
        """Append one chat event (normalized fields + the raw platform JSON); returns its id once committed."""
        now = time.time()
        with self._write() as s:
            row = EventRow(ts=now if ts is None else ts, received_at=now, kind=kind, source=source, room_id=room_id,
                           uid=uid, uname=uname or "", text=text or "", amount=amount or 0.0, raw=raw)
            s.add(row)
            s.flush()
            return row.id

    _VIEWER_KINDS = frozenset({"comment", "gift", "super_chat", "guard", "enter", "follow", "share", "like"})

    def add_chat_event(self, ev: Any) -> int:
        """Append a danmaku ChatEvent and note the viewer (visits, messages, paid gifts) in one transaction."""
        kind = str(getattr(ev.kind, "value", ev.kind))
        amount = float(ev.gift_value_cny or 0.0) + float(ev.super_chat_price_cny or 0.0)
        with self._write() as s:
            row = EventRow(ts=ev.timestamp, received_at=time.time(), kind=kind, uid=ev.uid or None,
                           uname=ev.uname or "", text=ev.text or "", amount=amount, raw=ev.raw,
                           source=ev.platform or "", room_id=ev.room or None)
            s.add(row)
            if ev.uid and kind in self._VIEWER_KINDS:
                viewer = self._touch_viewer(s, ev.uid, ev.uname or "", ev.timestamp)
                viewer.messages += kind in ("comment", "super_chat")
                viewer.gift_total += amount
            s.flush()
            return row.id

    def events(self, *, since_id: int = 0, uid: int | None = None, limit: int = 1000) -> list[StoredEvent]:
        with self._read() as s:
            q = select(EventRow).where(EventRow.id > since_id)
            if uid is not None:
                q = q.where(EventRow.uid == int(uid))
            rows = s.scalars(q.order_by(EventRow.id).limit(limit))
            return [StoredEvent(r.id, r.ts, r.kind, r.uid, r.uname, r.text, r.amount, r.raw) for r in rows]

    def count_events(self) -> int:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(EventRow)) or 0

    # ------------------------------------------------------------------ utterances

    def start_utterance(self, kind: str, text_planned: str, *, target_uid: int | None = None, reason: str = "",
                        event_id: int | None = None, ts: float | None = None) -> int:
        with self._write() as s:
            row = UtteranceRow(created_at=time.time() if ts is None else ts, kind=kind, reason=reason,
                               target_uid=target_uid, event_id=event_id, text_planned=text_planned)
            s.add(row)
            s.flush()
            return row.id

    def finish_utterance(self, utterance_id: int, *, text_played: str, played_fraction: float,
                         interrupted: bool = False, text_planned: str | None = None) -> None:
        """Record what was actually heard (the director knows the playback position); ``text_planned`` fills in
        an utterance whose text was streamed while it was spoken."""
        with self._write() as s:
            row = s.get(UtteranceRow, utterance_id)
            if row is None:
                raise StoreError(f"unknown utterance id {utterance_id}")
            row.text_played, row.played_fraction = text_played, max(0.0, min(1.0, played_fraction))
            row.interrupted, row.finished_at = interrupted, time.time()
            if text_planned is not None:
                row.text_planned = text_planned

    def recent_utterances(self, *, target_uid: int | None = None, limit: int = 10) -> list[Utterance]:
        with self._read() as s:
            q = select(UtteranceRow)
            if target_uid is not None:
                q = q.where(UtteranceRow.target_uid == int(target_uid))
            rows = list(s.scalars(q.order_by(UtteranceRow.id.desc()).limit(limit)))
            return [_utterance(r) for r in reversed(rows)]

    def recent_turns(self, uid: int, limit: int = 6) -> list[tuple[str, str]]:
        """Last exchanges with one viewer, oldest first: ("viewer", text) and ("host", text played)."""
        with self._read() as s:
            said = s.execute(select(EventRow.ts, EventRow.text).where(EventRow.uid == int(uid), EventRow.text != "")
                             .order_by(EventRow.id.desc()).limit(limit)).all()
            heard = s.execute(select(UtteranceRow.created_at, UtteranceRow.text_played, UtteranceRow.text_planned)
                              .where(UtteranceRow.target_uid == int(uid))
                              .order_by(UtteranceRow.id.desc()).limit(limit)).all()
        turns = [(ts, "viewer", text) for ts, text in said]
        turns += [(ts, "host", played or planned) for ts, played, planned in heard if (played or planned)]
        turns.sort(key=lambda t: t[0])
        return [(who, text) for _, who, text in turns[-limit:]]

    # ------------------------------------------------------------------ audit and moderation

    def add_admin_audit(self, command: str, *, uid: int | None, uname: str = "", args: str = "",
                        allowed: bool, outcome: str = "", ts: float | None = None) -> int:
        with self._write() as s:
            row = AdminAuditRow(ts=time.time() if ts is None else ts, uid=uid, uname=uname, command=command,
                                args=args, allowed=allowed, outcome=outcome)
            s.add(row)
            s.flush()
            return row.id

    def admin_audit(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._read() as s:
            rows = s.scalars(select(AdminAuditRow).order_by(AdminAuditRow.id.desc()).limit(limit))
            return [dict(id=r.id, ts=r.ts, uid=r.uid, uname=r.uname, command=r.command, args=r.args,
                         allowed=r.allowed, outcome=r.outcome) for r in rows]

    def log_moderation(self, direction: str, text: str, verdict: str, *, reason: str = "", uid: int | None = None,
                       uname: str = "", ts: float | None = None) -> int:
        with self._write() as s:
            row = ModerationRow(ts=time.time() if ts is None else ts, direction=direction, uid=uid, uname=uname,
                                text=text, verdict=verdict, reason=reason)
            s.add(row)
            s.flush()
            return row.id

    def moderation_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._read() as s:
            rows = s.scalars(select(ModerationRow).order_by(ModerationRow.id.desc()).limit(limit))
            return [dict(id=r.id, ts=r.ts, direction=r.direction, uid=r.uid, uname=r.uname, text=r.text,
                         verdict=r.verdict, reason=r.reason) for r in rows]
