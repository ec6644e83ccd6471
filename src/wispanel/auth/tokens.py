"""Session tokens: HS256 JWTs signed with the install's key, verified once and then cached.

Verifying the signature costs more than everything else on a typical request, so a token
that verified once is kept in a bounded cache keyed by its exact text. Its claims can't
change, and its expiry is still checked on every use.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from wispanel.core.errors import Unauthorized

REQUIRED_CLAIMS = ("sub", "sid", "tv", "role", "iat", "exp", "jti")
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    session_id: str
    token_version: int
    role: str
    issued_at: int
    expires_at: int
    impersonator: str | None


class TokenCodec:
    def __init__(self, key: str, *, algorithm: str = "HS256", ttl_seconds: int = 86_400) -> None:
        self._key = key
        self._algorithm = algorithm
        self.ttl_seconds = ttl_seconds
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    def issue(
        self,
        *,
        user_id: int,
        role: str,
        session_id: str,
        token_version: int,
        ttl_seconds: int | None = None,
        impersonator: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role,
            "sid": session_id,
            "tv": token_version,
            "iat": now,
            "exp": now + (ttl_seconds or self.ttl_seconds),
            "jti": secrets.token_hex(8),
        }
        if impersonator:
            claims["act"] = {"sub": impersonator}
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def decode(self, token: str) -> TokenClaims:
        """Verify a token, or raise Unauthorized saying why it is not accepted."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            self._verified[token] = claims
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        if claims.expires_at <= time.time():
            self._verified.pop(token, None)
            raise Unauthorized("Token expired")
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            raw = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("Token expired") from error
        except jwt.PyJWTError as error:
            raise Unauthorized("Invalid token") from error
        try:
            act = raw.get("act")
            return TokenClaims(
                user_id=int(raw["sub"]),
                session_id=str(raw["sid"]),
                token_version=int(raw["tv"]),
                role=str(raw["role"]),
                issued_at=int(raw["iat"]),
                expires_at=int(raw["exp"]),
                impersonator=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
            )
        except (TypeError, ValueError, KeyError) as error:
            raise Unauthorized("Invalid token") from error
