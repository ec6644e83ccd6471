"""One HTTP attempt of a delivery, to the checked address, with timeouts and no redirects."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from wispanel.core.config import WebhookSettings
from wispanel.core.database import utcnow
from wispanel.webhooks.addresses import Target, TargetRefused, resolve_target


@dataclass(frozen=True, slots=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def success(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """Posts a signed body to a subscription URL and reports what happened.

    The host is resolved and checked here, at every attempt, and the connection goes to that
    checked address while the Host header and TLS SNI (and so certificate verification) keep
    the name from the URL. Proxies from the environment are ignored, because a proxy would
    connect to an address that was never checked.
    """

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started_at = utcnow()
        clock = time.monotonic()
        status_code, error = self._post(url, body, headers)
        duration_ms = round((time.monotonic() - clock) * 1000)
        return AttemptResult(started_at, duration_ms, status_code, error)

    def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        try:
            target = resolve_target(url, allow_private=self.settings.allow_private_targets)
        except TargetRefused as refused:
            return None, f"Refused: {refused}; nothing was sent"
        except OSError as error:
            return None, f"Could not resolve {host}: {error}"
        try:
            status = self._post_to(target, parsed, body, headers)
        except httpx.ConnectTimeout:
            return None, f"Timed out connecting to {host} after {self.settings.connect_timeout:g} s"
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            return None, (
                f"Timed out waiting for {host} to respond after {self.settings.read_timeout:g} s"
            )
        except httpx.HTTPError as failure:
            return None, f"Request to {host} failed: {failure or type(failure).__name__}"
        return status, status_error(status)

    def _post_to(
        self, target: Target, parsed: httpx.URL, body: bytes, headers: dict[str, str]
    ) -> int:
        """POST to the checked address, keeping the URL's name for Host and TLS SNI.

        NOTE: the read timeout applies to each read, so a receiver that sends its status
        line and headers a byte at a time can hold an attempt longer than the timeout.
        """
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        pinned = parsed.copy_with(host=str(target.address))
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                pinned,
                content=body,
                headers={**headers, "Host": parsed.netloc.decode("ascii")},
                extensions=extensions,
            )
            # Only the status matters, so the response body is never read.
            response = client.send(request, stream=True)
            response.close()
        return response.status_code


def status_error(status: int) -> str | None:
    """Return why a response status is not a delivery, or None for any 2xx."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return (
            f"Receiver returned {status}, a redirect, which is not followed; "
            "point the URL at the final address"
        )
    return f"Receiver returned {status}; any 2xx status counts as delivered"
