"""SQLAlchemy 2 ORM models of everything the host persists (schema changes go through Alembic)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what the migrations must match."""


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    price: Mapped[float | None] = mapped_column(Float)
    list_price: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8), default="CNY")
    stock: Mapped[int | None] = mapped_column(Integer)
    specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    selling_points: Mapped[list[str]] = mapped_column(JSON, default=list)
    promotions: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[float] = mapped_column(Float)


class FaqRow(Base):
    __tablename__ = "faqs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[float] = mapped_column(Float)


class DocumentRow(Base):
    """A policy or free-form document (Markdown section, CSV row set); split into chunks."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # policy | document
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[float] = mapped_column(Float)


class ChunkRow(Base):
    """A retrievable unit: its text, jieba tokens (space-joined) and its embedding (float32 blob)."""

    __tablename__ = "chunks"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(16))  # faq | product | document
    source_id: Mapped[str] = mapped_column(String(200), index=True)
    product_id: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[float] = mapped_column(Float)


class ViewerRow(Base):
    __tablename__ = "viewers"

    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    uname: Mapped[str] = mapped_column(String(200), default="")
    names_seen: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    visits: Mapped[int] = mapped_column(Integer, default=1)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    gift_total: Mapped[float] = mapped_column(Float, default=0.0)  # CNY (paid gifts, SC, guard)


class ViewerFactRow(Base):
    __tablename__ = "viewer_facts"
    __table_args__ = (UniqueConstraint("uid", "kind", "value", name="uq_viewer_fact"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[int] = mapped_column(ForeignKey("viewers.uid", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # location | purchase | family | interest | other
    value: Mapped[str] = mapped_column(String(300))
    source_text: Mapped[str] = mapped_column(Text, default="")
    extractor: Mapped[str] = mapped_column(String(16), default="rules")  # rules | llm
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    """Every chat event received, append-only: normalized fields plus the raw platform JSON."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_uid_ts", "uid", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    received_at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32), default="")
    room_id: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uname: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)


class UtteranceRow(Base):
    """What the host planned to say, what actually played, to whom and why."""

    __tablename__ = "utterances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    finished_at: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))  # admin_say | answer | thanks | script | idle | greeting
    reason: Mapped[str] = mapped_column(Text, default="")
    target_uid: Mapped[int | None] = mapped_column(BigInteger, index=True)
    event_id: Mapped[int | None] = mapped_column(Integer)
    text_planned: Mapped[str] = mapped_column(Text)
    text_played: Mapped[str] = mapped_column(Text, default="")
    played_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)


class AdminAuditRow(Base):
    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uname: Mapped[str] = mapped_column(String(200), default="")
    command: Mapped[str] = mapped_column(String(64))
    args: Mapped[str] = mapped_column(Text, default="")
    allowed: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(Text, default="")


class ModerationRow(Base):
    __tablename__ = "moderation_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in (chat) | out (what the host would say)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uname: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")


class StateRow(Base):
    """Small key/value state that must survive restarts (current product, mutes, paused, persona)."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
