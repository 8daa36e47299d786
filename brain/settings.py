"""Configuration section for brain/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LLMSettings(BaseModel):
    """[brain.llm]: any OpenAI-compatible server. Empty base_url = no LLM (KB-only answers)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = ""  # e.g. http://127.0.0.1:8000/v1 ; "" keeps the host fully offline
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this environment variable, never from config
    connect_timeout_s: float = Field(1.0, gt=0)
    first_token_timeout_s: float = Field(2.5, gt=0)
    total_timeout_s: float = Field(20.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)  # on 429, 5xx, timeouts and dropped connections; never other 4xx
    retry_backoff_s: float = Field(0.3, ge=0)
    breaker_failures: int = Field(3, ge=1)  # consecutive failed calls that open the circuit
    breaker_cooldown_s: float = Field(30.0, gt=0)
    temperature: float = Field(0.6, ge=0, le=2)
    max_tokens: int = Field(200, ge=16)


class BrainSettings(BaseModel):
    """[brain]: how answers are composed, limited, guarded and remembered."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMSettings = LLMSettings()
    # When the LLM has produced no sentence by then, the KB-only answer is spoken instead.
    fallback_deadline_s: float = Field(3.0, gt=0)
    max_chars_zh: int = Field(60, ge=10)  # spoken-style limit per answer (Chinese characters)
    max_words_en: int = Field(40, ge=5)  # spoken-style limit per answer (English words)
    facts_k: int = Field(4, ge=1, le=20)  # retrieved facts put in the prompt
    history_turns: int = Field(6, ge=0, le=50)
    memory_facts: int = Field(8, ge=0, le=50)  # viewer facts recalled in the prompt
    memory_llm_tools: bool = True  # extract viewer facts with an LLM tool call when an LLM is configured
    unanswerable: Literal["deflect", "silence"] = "deflect"
    min_dense: float = Field(0.845, ge=0, le=1)  # KB answers need at least this cosine similarity
    persona: str = ""  # overrides the imported store persona when set
