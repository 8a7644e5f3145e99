"""Worker tokens: minting, authentication (401) and permissions (403), contract §2.

Pure: no I/O, time passed in. Tokens are ``kwa_`` + 43 url-safe characters (32 random bytes);
only the SHA-256 hex digest is stored and looked up. A token string given by an operator
(``kite-supervisor sandbox --token ...``) is accepted verbatim, whatever its form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

import msgspec

from ._errors import ApiError

# Mintable actions of the S2 server (contract §2.1); all are granted by default.
ALL_ACTIONS: tuple[str, ...] = (
    "gtt:read",
    "gtt:write",
    "runs:create",
    "runs:read",
    "runs:log",
    "intents:submit",
    "risk:update",
    "runs:exit",
    "heartbeat",
    "market:read",
    "market:stream",
    "funds:read",
)
ALL_MODES: tuple[str, ...] = ("paper", "dry_run", "live")
DEFAULT_MODES: tuple[str, ...] = ("paper", "dry_run")
# The seed's default scope (``KITE_ALGO_ACCOUNT_SCOPE``): the sandbox's own token carries it, so
# calls that default to the token's scope (funds, GTT, options runs, the portfolio) have one.
DEFAULT_ACCOUNT_SCOPE = "kite:paper-a"

_PAPER_SUFFIXES = ("-paper", "_paper")
_PAPER_PREFIXES = ("paper-", "paper_", "test-paper")


class TokenRecord(msgspec.Struct, kw_only=True):
    """A stored token (never the token itself: only its digest)."""

    token_id: str
    token_hash: str
    account_scope: str | None = None
    allowed_modes: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_MODES))
    allowed_actions: list[str] = msgspec.field(default_factory=lambda: list(ALL_ACTIONS))
    allowed_templates: list[str] = msgspec.field(default_factory=list)
    expires_at: dt.datetime | None = None
    status: str = "active"
    created_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None

    def __repr__(self) -> str:  # the digest is not secret, but keep reprs short
        return f"TokenRecord({self.token_id}, scope={self.account_scope!r})"

    def allows(self, action: str) -> bool:
        return action in self.allowed_actions


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh ``kwa_`` token (32 random bytes, url-safe base64 without padding: 43 chars)."""
    return "kwa_" + secrets.token_urlsafe(32)


def parse_scope(raw: str | None) -> tuple[str, bool]:
    """Normalise an account scope: ``("kite:<id>", is_paper)``; ``ValueError`` if unsupported."""
    if raw is None or not str(raw).strip():
        raise ValueError("account_scope is required")
    text = str(raw).strip()
    prefix, sep, ident = text.partition(":")
    if not sep or prefix.lower() != "kite" or not ident.strip():
        raise ValueError(f"Unsupported account_scope '{raw}'")
    ident = ident.strip()
    low = ident.lower()
    is_paper = low == "paper" or low.startswith(_PAPER_PREFIXES) or low.endswith(_PAPER_SUFFIXES)
    return f"kite:{ident}", is_paper


def scope_allowed(token_scope: str | None, requested: str | None) -> bool:
    """``_token_allows_account_scope`` of contract §2.4, rule by rule."""
    if not token_scope:
        return True
    if not requested:
        return False
    try:
        tok_norm, tok_paper = parse_scope(token_scope)
        req_norm, req_paper = parse_scope(requested)
    except ValueError:
        return token_scope == requested
    if not tok_paper:
        return req_paper or req_norm == tok_norm
    return req_norm == tok_norm


def account_for(token: TokenRecord, requested: str | None, *, required: str, denied: str) -> tuple[str, bool]:
    """The account a call acts on: ``requested``, else the token's scope (contract §4.10).

    The one scope rule of every route that defaults to the token's account (funds, GTT, options
    runs, the portfolio): neither → 400 ``required``; not allowed for the token → 403 ``denied``
    (checked before parsing, so an unparsable scope a scoped token asks for is 403); unparsable
    → 400. Returns ``(normalised scope, is_paper)``.
    """
    raw = requested if requested is not None and requested.strip() else token.account_scope
    if not raw:
        raise ApiError(400, required)
    if not scope_allowed(token.account_scope, raw):
        raise ApiError(403, denied)
    try:
        return parse_scope(raw)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


class TokenStore:
    """All tokens by digest. ``authenticate`` raises 401s, ``require_action`` 403s."""

    def __init__(self) -> None:
        self.by_hash: dict[str, TokenRecord] = {}

    def mint(
        self,
        *,
        now: dt.datetime,
        token: str | None = None,
        account_scope: str | None = None,
        modes: Iterable[str] = DEFAULT_MODES,
        actions: Iterable[str] = ALL_ACTIONS,
        templates: Iterable[str] = (),
        expires_at: dt.datetime | None = None,
    ) -> tuple[str, TokenRecord]:
        """Create a token (or register the given one); returns ``(token, record)``.

        Raises ``ApiError(400)`` for unsupported actions, modes or scope.
        """
        actions = list(actions)
        if any(a not in ALL_ACTIONS for a in actions):
            raise ApiError(400, "Worker token contains unsupported actions")
        modes = list(modes)
        if any(m not in ALL_MODES for m in modes):
            raise ApiError(400, "Worker token contains unsupported modes")
        if account_scope is not None:
            try:
                account_scope, _ = parse_scope(account_scope)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
        raw = token if token is not None else new_token()
        digest = hash_token(raw)
        record = TokenRecord(
            token_id="worker_" + digest[:16],
            token_hash=digest,
            account_scope=account_scope,
            allowed_modes=modes,
            allowed_actions=actions,
            allowed_templates=list(templates),
            expires_at=expires_at,
            created_at=now,
        )
        self.by_hash[digest] = record
        return raw, record

    def revoke(self, token_id: str) -> bool:
        for record in self.by_hash.values():
            if record.token_id == token_id:
                record.status = "revoked"
                return True
        return False

    def authenticate(self, authorization: str | None, now: dt.datetime) -> TokenRecord:
        """The token record for an ``Authorization`` header value; ``ApiError(401)`` otherwise."""
        if not authorization:
            raise ApiError(401, "Worker bearer token required")
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise ApiError(401, "Worker bearer token required")
        record = self.by_hash.get(hash_token(value))
        if record is None or record.status != "active":
            raise ApiError(401, "Invalid worker token")
        if record.expires_at is not None and record.expires_at <= now:
            raise ApiError(401, "Worker token expired")
        record.last_used_at = now
        return record


def require_action(record: TokenRecord, action: str) -> None:
    """``_require_action``: 403 unless the token carries ``action``."""
    if action not in record.allowed_actions:
        raise ApiError(403, f"Worker token is not allowed to perform '{action}'")
