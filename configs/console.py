"""Configuration of the web console (host/console/) ([console] in the TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    """Where the operator console listens, how admins log in, and what it shows."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address; anything but loopback also requires the token to view and post")
    port: int = Field(8080, ge=0, le=65535)
    token_env: str = Field("LIVEHOST_CONSOLE_TOKEN", description="env var holding the admin bearer token")
    token_file: str | None = Field(
        "var/console_token",
        description="when token_env is unset: a token is generated once and kept in this file (mode 0600); "
        "None disables admin actions instead",
    )
    preview_url: str | None = Field(
        None, description="upstream HTTP-FLV feed the console proxies; default http://{stream.preview.host}:{port}{path}"
    )
    stall_after_s: float = Field(2.0, gt=0, description="/healthz answers 503 when no frame went out for this long")
    feed_history: int = Field(500, ge=10, le=100_000, description="events kept for late joiners of the live feed")
    max_message_chars: int = Field(200, ge=1, le=5000, description="longest text accepted from the viewer box")
