"""Who is calling: resolving the Authorization header to a principal once per request."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from wispanel.auth.accounts import AccountSnapshot
from wispanel.auth.api_keys.cache import ApiKeyCache
from wispanel.auth.crypto import sha256_hex
from wispanel.auth.session_cache import SessionCache, SessionState
from wispanel.auth.tokens import TokenCodec
from wispanel.core.database import utcnow
from wispanel.core.errors import Unauthorized
from wispanel.users.models import AccountStatus

__all__ = ["AccountSnapshot", "Authenticator", "Principal", "SessionCache", "SessionState"]

API_KEY_PATTERN = re.compile(r"^wsp_[0-9a-f]{48}$")
DEFAULT_IP_BINDING: Mapping[str, bool] = {"admin": True, "reseller": True, "user": False}
# A fresh token for a session is reused for this long, so a client that ignores
# `X-New-Token` does not make the panel sign a new token on every request.
SLIDING_TOKEN_REUSE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    account: AccountSnapshot
    kind: str  # "session" or "api_key"
    session_id: str | None = None
    impersonator: str | None = None
    token_expires_at: int | None = None
    # Scopes of an API key; session tokens carry none and are limited by role alone.
    scopes: frozenset[str] = frozenset()
    api_key_id: str | None = None
    token_issued_at: int | None = None
    # An API key's own requests-a-minute limit; None uses the role's limit.
    rate_limit_per_minute: int | None = None

    @property
    def user_id(self) -> int:
        return self.account.id

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def rate_limit_key(self) -> str:
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        return f"user:{self.user_id}"

    @property
    def idempotency_scope(self) -> str:
        return f"user:{self.user_id}"


class Authenticator:
    def __init__(
        self,
        codec: TokenCodec,
        cache: SessionCache,
        *,
        keys: ApiKeyCache | None = None,
        ip_binding: Mapping[str, bool] | None = None,
    ) -> None:
        self.codec = codec
        self.cache = cache
        self.keys = keys
        self.ip_binding = dict(ip_binding if ip_binding is not None else DEFAULT_IP_BINDING)
        self._fresh_tokens: dict[tuple[str, int], tuple[float, str]] = {}

    async def authenticate(self, authorization: str, client_ip: str | None = None) -> Principal:
        """Resolve an Authorization header value, or raise Unauthorized saying why not."""
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("Missing authorization")
        if credential.startswith("wsp_"):
            return await self._authenticate_key(credential, client_ip)
        claims = self.codec.decode(credential)
        state = await self.cache.get(claims.session_id)
        if state is None or state.account.id != claims.user_id:
            raise Unauthorized("Session not found")
        if state.revoked or state.expires_at <= utcnow():
            raise Unauthorized("Session ended")
        if claims.token_version < state.account.token_version:
            raise Unauthorized("Token revoked")
        if state.account.status != AccountStatus.ACTIVE:
            raise Unauthorized("Account is suspended")
        if self.is_ip_bound(state) and client_ip is not None and client_ip != state.ip:
            raise Unauthorized("Session IP mismatch")
        return Principal(
            account=state.account,
            kind="session",
            session_id=claims.session_id,
            impersonator=claims.impersonator,
            token_expires_at=claims.expires_at,
            token_issued_at=claims.issued_at,
        )

    def is_ip_bound(self, state: SessionState) -> bool:
        if state.ip_binding is not None:
            return state.ip_binding
        return self.ip_binding.get(state.account.role, False)

    async def _authenticate_key(self, credential: str, client_ip: str | None) -> Principal:
        if self.keys is None or not API_KEY_PATTERN.match(credential):
            raise Unauthorized("Invalid credentials")
        state = await self.keys.get(sha256_hex(credential))
        if state is None:
            raise Unauthorized("Invalid credentials")
        if not state.enabled:
            raise Unauthorized("API key is disabled")
        if state.expires_at is not None and state.expires_at <= utcnow():
            raise Unauthorized("API key expired")
        if not state.allows_address(client_ip):
            raise Unauthorized(f"API key is not allowed from IP address {client_ip}")
        if state.account.status != AccountStatus.ACTIVE:
            raise Unauthorized("Account is suspended")
        return Principal(
            account=state.account,
            kind="api_key",
            scopes=state.scopes,
            api_key_id=state.id,
            rate_limit_per_minute=state.rate_limit_per_minute,
        )

    async def sliding_token(self, principal: Principal) -> str | None:
        """Return a fresh token for the caller's session once less than half of its token's
        lifetime remains, else None. The session's expiry moves with it.
        """
        if (
            principal.kind != "session"
            or principal.session_id is None
            or principal.token_expires_at is None
            or principal.token_issued_at is None
            or principal.impersonator is not None
        ):
            return None
        now = time.time()
        lifetime = principal.token_expires_at - principal.token_issued_at
        if principal.token_expires_at - now >= lifetime / 2:
            return None
        reuse_key = (principal.session_id, principal.account.token_version)
        reused = self._fresh_tokens.get(reuse_key)
        if reused is not None and reused[0] > now:
            return reused[1]
        token = await self.refresh(principal)
        if token is None:
            return None
        if len(self._fresh_tokens) > 10_000:
            self._fresh_tokens.clear()
        self._fresh_tokens[reuse_key] = (now + SLIDING_TOKEN_REUSE_SECONDS, token)
        return token

    async def refresh(self, principal: Principal) -> str | None:
        """Issue a new token for the caller's session and extend the session to match.

        A login-as session keeps its original expiry, so its tokens never outlive it (and
        sliding refresh skips it); None means the session is gone or has no time left.
        """
        if principal.session_id is None:
            return None
        state = await self.cache.get(principal.session_id)
        if state is None:
            return None
        now = int(time.time())
        if state.impersonator is not None:
            ttl = int(state.expires_at.timestamp()) - now
            if ttl <= 0:
                return None
        else:
            ttl = self.codec.ttl_seconds
            target = datetime.fromtimestamp(now + ttl, UTC)
            if (target - state.expires_at).total_seconds() > 60:
                await self.cache.extend(principal.session_id, target)
        return self.codec.issue(
            user_id=principal.user_id,
            role=principal.role,
            session_id=principal.session_id,
            token_version=principal.account.token_version,
            ttl_seconds=ttl,
            impersonator=principal.impersonator,
        )
