"""API tokens in the database: created with scopes, stored as SHA-256 hashes, shown once, revocable.

No FastAPI here: ``mlvet token create|list|revoke`` manages tokens without the ``serve`` extra, and the
request-side checks (:mod:`mlvet.server.auth`) call :func:`lookup`.

Why a hash and not the token: the database is read by backups, the dashboard and anyone with the file;
a SHA-256 of 256 random bits cannot be reversed or brute-forced, so a copy of the database grants nothing.
(A slow password hash is for low-entropy secrets; these are random, and every request looks one up.)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlvet.server.config import SCOPES
from mlvet.store import Store
from mlvet.store.schema import ApiTokenRow

__all__ = ["TOKEN_PREFIX", "Principal", "TokenInfo", "create_token", "hash_token", "list_tokens", "lookup",
           "lookup_id", "revoke_token"]

#: Every token starts with this, so secret scanners (and people) recognise a leaked one.
TOKEN_PREFIX = "mlvet_"  # noqa: S105 - a public marker, not a secret
_MAX_TOKEN_LEN = 200


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the token (id and name) and its scopes; ``token_id`` None when anonymous."""

    token_id: int | None
    name: str
    scopes: frozenset[str]
    #: How the request authenticated: "token" (Authorization header), "session" (cookie) or "anonymous".
    via: str = "token"

    def allows(self, scope: str) -> bool:
        """True when the principal holds ``scope`` (``admin`` holds every scope)."""
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class TokenInfo:
    """A token as ``mlvet token list`` shows it (never the secret)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(wanted) or 'none'})")
    return wanted


def create_token(store: Store, name: str, scopes: Iterable[str]) -> tuple[int, str]:
    """Create a token; returns its id and the token itself, which is never stored and cannot be shown again."""
    wanted = _check_scopes(scopes)
    if not name or len(name) > 255:
        raise ValueError("a token needs a name of 1 to 255 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(conn: Connection) -> int:
        with Session(bind=conn, join_transaction_mode="rollback_only") as session:
            row = ApiTokenRow(name=name, token_hash=hash_token(token), prefix=token[:12], scopes=wanted,
                              created_at=datetime.now(timezone.utc), revoked_at=None)
            session.add(row)
            session.flush()
            return row.id

    token_id = store._guard("creating the token", lambda: store._write(work))
    return token_id, token


def list_tokens(store: Store) -> list[TokenInfo]:
    """Every token, oldest first, revoked ones included (marked)."""
    stmt = sa.select(ApiTokenRow).order_by(ApiTokenRow.id)
    return store._read(lambda s: [
        TokenInfo(r.id, r.name, r.prefix, tuple(r.scopes), r.created_at, r.revoked_at) for r in s.scalars(stmt)
    ])


def revoke_token(store: Store, ident: str) -> list[int]:
    """Revoke the token with this id, or every active token with this name; returns the ids revoked."""
    where = ApiTokenRow.id == int(ident) if ident.isdigit() else ApiTokenRow.name == ident

    def work(conn: Connection) -> list[int]:
        ids = [r for (r,) in conn.execute(sa.select(ApiTokenRow.id).where(where, ApiTokenRow.revoked_at.is_(None)))]
        if ids:
            conn.execute(sa.update(ApiTokenRow).where(ApiTokenRow.id.in_(ids))
                         .values(revoked_at=datetime.now(timezone.utc)))
        return ids

    return store._guard("revoking the token", lambda: store._write(work))


def _principal(row: ApiTokenRow | None, via: str) -> Principal | None:
    if row is None or row.revoked_at is not None:
        return None
    return Principal(token_id=row.id, name=row.name, scopes=frozenset(row.scopes), via=via)


def lookup(store: Store, token: str) -> Principal | None:
    """The principal of an active token, or None (unknown, malformed or revoked: callers answer 401)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LEN:
        return None
    stmt = sa.select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token))
    return store._read(lambda s: _principal(s.scalars(stmt).first(), "token"))


def lookup_id(store: Store, token_id: int) -> Principal | None:
    """The principal of an active token by id (a session cookie names the token it was opened with)."""
    return store._read(lambda s: _principal(s.get(ApiTokenRow, token_id), "session"))
