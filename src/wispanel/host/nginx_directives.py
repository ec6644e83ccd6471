"""Checks on an account's custom nginx directives before they enter its server block.

nginx itself catches syntax errors in `nginx -t`. What it accepts but a hosting panel must
not is checked here: a `}` that closes the server block early, files pulled in with
`include`, another domain's names or ports, other accounts' PHP-FPM sockets, and file paths
(document roots, logs, certificates) outside the account's home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wispanel.host.errors import HostError

MAX_CUSTOM_DIRECTIVES_BYTES = 16_384

# Directives an account may not use at all inside its server block.
FORBIDDEN_DIRECTIVES = frozenset(
    {
        "include",
        "load_module",
        "server",
        "server_name",
        "listen",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
        "perl",
        "perl_modules",
        "perl_require",
        "js_import",
        "js_include",
        "js_path",
    }
)
# Directives that pass requests on: a `unix:` target, plain or inside an `http://unix:`
# URL, could be another account's socket.
UPSTREAM_DIRECTIVES = frozenset(
    {"fastcgi_pass", "proxy_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass"}
)
# Directives whose first argument is a file or directory: it must lie inside the home.
PATH_DIRECTIVES = frozenset(
    {
        "root",
        "alias",
        "access_log",
        "error_log",
        "auth_basic_user_file",
        "ssl_certificate",
        "ssl_certificate_key",
        "ssl_trusted_certificate",
        "ssl_client_certificate",
        "ssl_dhparam",
        "ssl_password_file",
        "ssl_crl",
        "ssl_stapling_file",
        "ssl_session_ticket_key",
    }
)


class DirectiveError(HostError, ValueError):
    """Custom directives that could escape the account's server block or home."""

    code = "VALIDATION_ERROR"


@dataclass(frozen=True)
class Statement:
    """One directive: its name, arguments, and how many blocks enclose it."""

    name: str
    arguments: tuple[str, ...]
    depth: int
    line: int


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Return the unquoted content of the string starting at ``start`` and the index after it."""
    quote = text[start]
    position = start + 1
    value: list[str] = []
    while position < len(text):
        character = text[position]
        if character == "\\" and position + 1 < len(text):
            value.append(text[position + 1])
            position += 2
            continue
        if character == quote:
            return "".join(value), position + 1
        value.append(character)
        position += 1
    raise DirectiveError(f"custom_directives has an unterminated {quote} quoted string")


def tokenize(text: str) -> list[tuple[str, int, bool]]:
    """Split nginx configuration text into (token, line, is_word) triples.

    Words and quoted strings are words; ``;``, ``{`` and ``}`` are separators. Comments
    run from ``#`` to the end of the line.
    """
    tokens: list[tuple[str, int, bool]] = []
    position = 0
    line = 1
    while position < len(text):
        character = text[position]
        if character == "\n":
            line += 1
            position += 1
        elif character.isspace():
            position += 1
        elif character == "#":
            end = text.find("\n", position)
            position = len(text) if end == -1 else end
        elif character in ";{}":
            tokens.append((character, line, False))
            position += 1
        elif character in "\"'":
            value, end = _read_quoted(text, position)
            line += text.count("\n", position, end)
            tokens.append((value, line, True))
            position = end
        else:
            start = position
            word: list[str] = []
            while position < len(text) and not (
                text[position].isspace() or text[position] in ";{}\"'"
            ):
                if text[position] == "\\" and position + 1 < len(text):
                    word.append(text[position + 1])
                    position += 2
                    continue
                word.append(text[position])
                position += 1
            tokens.append(("".join(word), line, True))
            if position == start:  # pragma: no cover - every branch above consumes input
                position += 1
    return tokens


def parse(text: str) -> list[Statement]:
    """Parse directives into statements, rejecting text that is not closed where it starts."""
    statements: list[Statement] = []
    pending: list[str] = []
    pending_line = 0
    depth = 0
    for word, line, is_word in tokenize(text):
        if is_word:
            if not pending:
                pending_line = line
            pending.append(word)
            continue
        if word == "}":
            if pending:
                raise DirectiveError(
                    f"custom_directives line {pending_line}: '{pending[0]}' must end with ';'"
                )
            if depth == 0:
                raise DirectiveError(
                    f"custom_directives line {line}: '}}' would close the server block;"
                    " every '{' needs its own '}'"
                )
            depth -= 1
            continue
        if not pending:
            raise DirectiveError(f"custom_directives line {line}: '{word}' without a directive")
        statements.append(Statement(pending[0], tuple(pending[1:]), depth, pending_line))
        pending = []
        if word == "{":
            depth += 1
    if pending:
        raise DirectiveError(
            f"custom_directives line {pending_line}: '{pending[0]}' must end with ';'"
        )
    if depth:
        raise DirectiveError("custom_directives opens a block with '{' that is never closed")
    return statements


def _check_path(statement: Statement, home: Path) -> None:
    if not statement.arguments:
        return
    value = statement.arguments[0]
    if statement.name in ("access_log", "error_log") and value == "off":
        return
    where = f"custom_directives line {statement.line}: {statement.name}"
    if "$" in value:
        raise DirectiveError(f"{where} must be a fixed path; variables can't be checked")
    if not value.startswith("/"):
        raise DirectiveError(f"{where} must be an absolute path inside {home}")
    normalised = Path(os.path.normpath(value))
    if normalised != home and not normalised.is_relative_to(home):
        raise DirectiveError(f"{where} {value} is outside the account's home {home}")
    resolved = normalised.resolve(strict=False)
    if resolved != home.resolve() and not resolved.is_relative_to(home.resolve()):
        raise DirectiveError(f"{where} {value} leads outside the account's home {home}")


def check_custom_directives(text: str, home: Path) -> list[Statement]:
    """Return the parsed statements, or raise DirectiveError naming the first problem."""
    if len(text.encode("utf-8")) > MAX_CUSTOM_DIRECTIVES_BYTES:
        raise DirectiveError(
            f"custom_directives must be at most {MAX_CUSTOM_DIRECTIVES_BYTES} bytes"
        )
    if "\0" in text or "\r" in text:
        raise DirectiveError("custom_directives must not contain NUL or carriage returns")
    statements = parse(text)
    for statement in statements:
        name = statement.name.lower()
        where = f"custom_directives line {statement.line}"
        if name in FORBIDDEN_DIRECTIVES:
            raise DirectiveError(f"{where}: {statement.name} is not allowed in custom directives")
        if name in UPSTREAM_DIRECTIVES and any(
            "unix:" in argument.lower() for argument in statement.arguments
        ):
            raise DirectiveError(f"{where}: {statement.name} may not target a unix socket")
        if name in PATH_DIRECTIVES:
            _check_path(statement, home)
    return statements
