"""Allowed webhook targets: the target is resolved once and every address is checked.

The sender connects to the exact address checked here (see `sender`), so a name that
resolves to a public address during the check and to an internal one a moment later
(DNS rebinding) can't reach the internal one.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

from wispanel.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance metadata services, refused even when private targets are allowed.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048


class TargetRefused(Exception):
    """The target's address is one webhooks must not reach; nothing was sent to it."""

    def __init__(self, message: str, *, allowed_by_setting: bool) -> None:
        super().__init__(message)
        # Whether turning on webhooks.allow_private_targets would allow the address.
        self.allowed_by_setting = allowed_by_setting


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # the URL's host in ASCII (IDNA) form, for TLS SNI
    port: int
    address: IPAddress  # the checked address the connection goes to


def parse_url(url: str | None) -> SplitResult:
    """Check a subscription URL's form; raise 400 with the field and the fix."""
    if url is None or not url.strip():
        raise ValidationFailed("URL is required", details={"url": ["required"]})
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(
            f"URL is longer than {MAX_URL_LENGTH} characters", details={"url": ["too long"]}
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValidationFailed(f"URL is invalid: {error}", details={"url": ["invalid"]}) from error
    if parts.scheme not in SCHEMES:
        raise ValidationFailed(
            "URL must start with http:// or https://", details={"url": ["wrong scheme"]}
        )
    if not parts.hostname:
        raise ValidationFailed("URL must name a host", details={"url": ["missing host"]})
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "URL must not contain a user name or password; receivers authenticate deliveries "
            "by their signature",
            details={"url": ["credentials"]},
        )
    if port == 0:
        raise ValidationFailed("URL port must be between 1 and 65535", details={"url": ["port"]})
    try:
        httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValidationFailed(f"URL is invalid: {error}", details={"url": ["invalid"]}) from error
    return parts


def refusal_reason(address: IPAddress, *, allow_private: bool) -> str | None:
    """Return why an address is refused, or None when a webhook may connect to it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    always_refused = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
    )
    refused_unless_allowed = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_private, "a private address"),
        (address.is_reserved or not address.is_global, "a reserved address"),
    )
    checks = always_refused if allow_private else always_refused + refused_unless_allowed
    return next((reason for matched, reason in checks if matched), None)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve a host name (or read an address literal) to its TCP addresses."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host and return its first address, if every address is allowed.

    Raises TargetRefused when any address is refused (a name with one internal address
    among public ones is refused as a whole), and OSError when the name does not resolve.
    """
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or SCHEMES[parsed.scheme]
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    for address in addresses:
        reason = refusal_reason(address, allow_private=allow_private)
        if reason is not None:
            raise TargetRefused(
                f"{host} resolves to {address}, {reason}",
                allowed_by_setting=refusal_reason(address, allow_private=True) is None,
            )
    return Target(scheme=parsed.scheme, host=host, port=port, address=addresses[0])


def check_url(url: str | None, *, allow_private: bool) -> str:
    """Validate a subscription URL and its resolved addresses; raise 400 when refused."""
    parse_url(url)
    assert url is not None  # noqa: S101 - parse_url rejects None
    try:
        resolve_target(url, allow_private=allow_private)
    except TargetRefused as refused:
        fix = "use a public address"
        if refused.allowed_by_setting:
            fix += " or ask an admin to turn on webhooks.allow_private_targets"
        raise ValidationFailed(
            f"URL is not allowed because {refused}; {fix}",
            details={"url": ["address not allowed"]},
        ) from refused
    except OSError as error:
        host = urlsplit(url).hostname
        raise ValidationFailed(
            f"URL host {host} could not be resolved; check the name",
            details={"url": ["unresolvable"]},
        ) from error
    return url
