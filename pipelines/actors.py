"""Who acts on the service: a user authenticated by an API key (``pipelines.auth``), or
the local operator. The audit log records actors; auth creates them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user authenticated by a key, or a local operator (the CLI)."""

    id: str | None
    name: str
    role: str
