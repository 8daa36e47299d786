"""Plain records the store hands out (no SQLAlchemy objects leave knowledge/)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Product:
    """One product with the fields of knowledge.yaml (prices in ``currency``)."""

    id: str
    name: str
    aliases: list[str] = field(default_factory=list)
    price: float | None = None
    list_price: float | None = None
    currency: str = "CNY"
    stock: int | None = None
    specs: dict[str, str] = field(default_factory=dict)
    selling_points: list[str] = field(default_factory=list)
    promotions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Faq:
    id: str
    question: str
    answer: str
    product_id: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    """A policy paragraph or an imported document (Markdown section, CSV text)."""

    id: str
    kind: str
    title: str
    body: str
    product_id: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit; ``embedding`` is None when embeddings were off at import."""

    id: str
    source_kind: str
    source_id: str
    product_id: str | None
    title: str
    text: str
    tokens: list[str]
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class Viewer:
    uid: int
    uname: str
    names_seen: list[str]
    first_seen: float
    last_seen: float
    visits: int
    messages: int
    gift_total: float


@dataclass(frozen=True)
class ViewerFact:
    uid: int
    kind: str
    value: str
    source_text: str
    extractor: str
    created_at: float


@dataclass(frozen=True)
class StoredEvent:
    id: int
    ts: float
    kind: str
    uid: int | None
    uname: str
    text: str
    amount: float
    raw: object


@dataclass(frozen=True)
class Utterance:
    id: int
    created_at: float
    kind: str
    reason: str
    target_uid: int | None
    text_planned: str
    text_played: str
    played_fraction: float
    interrupted: bool
