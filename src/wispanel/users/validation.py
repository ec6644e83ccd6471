"""Rules for the names, addresses and passwords of new and changed accounts."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from wispanel.core.errors import ValidationFailed
from wispanel.host.paths import USERNAME_PATTERN

MIN_USERNAME_LENGTH = 2
MAX_USERNAME_LENGTH = 16
MAX_PASSWORD_LENGTH = 1024
# Names of system accounts, daemons and well-known roles that an account must not take, so
# it can't be confused with (or become) one of them on the host or in mail and URLs.
_RESERVED_TEXT = """
root daemon bin sys sync games man lp mail news uucp proxy backup list irc gnats
nobody nogroup wwwdata nginx apache httpd www mysql mariadb postgres postgresql
redis memcache postfix dovecot dovenull vmail exim sendmail pdns powerdns named
bind ftp ftpuser pureftpd sshd ssh messagebus polkitd syslog uuidd tss tcpdump
avahi dnsmasq ntp chrony clamav opendkim spamd debian ubuntu admin administrator
sudo staff users wheel adm shadow utmp tty disk kmem dialout operator wispanel
panel hostmaster postmaster webmaster abuse localhost pebble php phpmyadmin
roundcube letsencrypt cron systemd nftables
"""
RESERVED_USERNAMES = frozenset(_RESERVED_TEXT.split())
# Names starting with these are refused too, like the systemd-* family of system accounts.
RESERVED_PREFIXES = ("systemd", "debian", "wispanel")


def require_fields(**values: str | None) -> None:
    """Raise the contract's message when username, email or password is missing or empty."""
    missing = {name: ["required"] for name, value in values.items() if not value}
    if missing:
        raise ValidationFailed("Username, email, and password are required", details=missing)


def check_username(username: str) -> str:
    """Return the username if it may name a new account, else raise a 400 saying why."""
    if len(username) < MIN_USERNAME_LENGTH:
        raise ValidationFailed(
            "Username must be at least 2 characters", details={"username": ["too short"]}
        )
    if len(username) > MAX_USERNAME_LENGTH:
        raise ValidationFailed(
            f"Username must be at most {MAX_USERNAME_LENGTH} characters",
            details={"username": ["too long"]},
        )
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationFailed(
            "Username must start with a lowercase letter and contain only lowercase letters "
            "and digits",
            details={"username": ["invalid characters"]},
        )
    if username in RESERVED_USERNAMES or username.startswith(RESERVED_PREFIXES):
        raise ValidationFailed(
            f"Username {username} is reserved for the system; choose another",
            details={"username": ["reserved"]},
        )
    return username


def normalise_email(email: str) -> str:
    """Return the address with its domain lowercased, or raise a 400 naming the problem."""
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(
            f"Email address is invalid: {error}", details={"email": ["invalid"]}
        ) from error
    return result.normalized.lower()


def check_password(password: str, min_length: int) -> str:
    if not password:
        raise ValidationFailed(
            "Password must not be empty; omit it to keep the current one",
            details={"password": ["empty"]},
        )
    if len(password) < min_length:
        raise ValidationFailed(
            f"Password must be at least {min_length} characters",
            details={"password": ["too short"]},
        )
    if password.strip() != password or "\0" in password:
        raise ValidationFailed(
            "Password must not start or end with whitespace or contain NUL characters",
            details={"password": ["invalid characters"]},
        )
    return password
