"""Checks on an account's custom nginx directives before they enter its server block.

nginx itself catches syntax errors in `nginx -t`. What it accepts but a hosting panel must
not is checked here. Only the directives of `ALLOWED_DIRECTIVES` may be used: headers,
caching, rewrites and redirects, access rules, error pages, listings and nested locations.
Everything that reads or writes host files by path (logs, stores, certificates, includes),
passes requests on (to other accounts' PHP-FPM sockets or to services on loopback) or runs
code in nginx is refused, as is any `}` that would close the server block early. The few
path arguments allowed (`root`, `alias`, `auth_basic_user_file`, `try_files`) must stay
inside the account's home.

The text is split into tokens the way nginx's own reader splits it, so a quote inside a
word can't hide a `}` from this check that nginx would then read as one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wispanel.host.errors import HostError

MAX_CUSTOM_DIRECTIVES_BYTES = 16_384
# Variables whose value nginx derives from the normalised request URI, so they can't carry
# `..` into a file path.
SAFE_PATH_VARIABLES = ("$uri", "$document_uri", "$args", "$query_string", "$is_args")
VARIABLE_NAME = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")
LOCATION_MODIFIERS = frozenset({"=", "~", "~*", "^~"})


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
    opens_block: bool = False


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
    """Split nginx configuration text into (token, line, is_word) triples, as nginx does.

    Words and quoted strings are words; ``;``, ``{`` and ``}`` are separators. A quote
    starts a quoted string only at the start of a token; inside a word it is an ordinary
    character, and after a quoted string a space, `;`, `{` or `)` must follow. Comments run
    from a ``#`` at the start of a token to the end of the line.
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
            if end < len(text) and not (text[end].isspace() or text[end] in ";{)"):
                raise DirectiveError(
                    f"custom_directives line {line}: a quoted string must be followed by a"
                    " space, ';', '{' or ')'"
                )
            line += text.count("\n", position, end)
            tokens.append((value, line, True))
            position = end
        else:
            word: list[str] = []
            while position < len(text) and not (
                text[position].isspace() or text[position] in ";{}"
            ):
                if text[position] == "\\" and position + 1 < len(text):
                    word.append(text[position + 1])
                    position += 2
                    continue
                word.append(text[position])
                position += 1
            tokens.append(("".join(word), line, True))
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
        opens_block = word == "{"
        statements.append(
            Statement(pending[0], tuple(pending[1:]), depth, pending_line, opens_block)
        )
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


def _where(statement: Statement) -> str:
    return f"custom_directives line {statement.line}: {statement.name}"


def _inside_home(statement: Statement, value: str, home: Path) -> None:
    where = _where(statement)
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


def _path_argument(statement: Statement, home: Path) -> None:
    if len(statement.arguments) != 1:
        raise DirectiveError(f"{_where(statement)} takes one path")
    _inside_home(statement, statement.arguments[0], home)


def _try_files(statement: Statement, home: Path) -> None:
    """Files are looked up below the root, so `..` and variables that may hold it are out."""
    for argument in statement.arguments:
        if ".." in argument:
            raise DirectiveError(f"{_where(statement)} must not contain '..'")
        rest = argument
        for variable in SAFE_PATH_VARIABLES:
            rest = rest.replace(variable, "")
        if "$" in rest:
            raise DirectiveError(
                f"{_where(statement)} may use only the variables {', '.join(SAFE_PATH_VARIABLES)}"
            )


def _access_log(statement: Statement, home: Path) -> None:
    if statement.arguments != ("off",):
        raise DirectiveError(
            f"{_where(statement)} can only be turned off; the panel keeps each site's log"
        )


def _set(statement: Statement, home: Path) -> None:
    if len(statement.arguments) != 2 or not VARIABLE_NAME.match(statement.arguments[0]):
        raise DirectiveError(f"{_where(statement)} takes a $variable and a value")


def _error_page(statement: Statement, home: Path) -> None:
    target = statement.arguments[-1] if statement.arguments else ""
    if not target.startswith(("/", "@", "http://", "https://")):
        raise DirectiveError(f"{_where(statement)} must end with a /uri, @name or URL")


def _location(statement: Statement, home: Path) -> None:
    arguments = statement.arguments
    if len(arguments) == 2 and arguments[0] not in LOCATION_MODIFIERS:
        raise DirectiveError(f"{_where(statement)} modifier must be one of =, ~, ~*, ^~")
    if len(arguments) not in (1, 2):
        raise DirectiveError(f"{_where(statement)} takes a match, with an optional modifier")


def _condition(statement: Statement, home: Path) -> None:
    """File tests in an `if` may only look inside the home."""
    for argument in statement.arguments:
        if ".." in argument:
            raise DirectiveError(f"{_where(statement)} must not contain '..'")
        value = argument.strip("()")
        if value.startswith("/"):
            _inside_home(statement, value, home)


def _any(statement: Statement, home: Path) -> None:
    return None


Check = Callable[[Statement, Path], None]
# Block directives: the only ones that may open a `{`.
BLOCK_DIRECTIVES: dict[str, Check] = {"location": _location, "if": _condition}
ALLOWED_DIRECTIVES: dict[str, Check] = {
    **BLOCK_DIRECTIVES,
    **dict.fromkeys(
        (
            "add_header",
            "allow",
            "auth_basic",
            "autoindex",
            "autoindex_exact_size",
            "autoindex_format",
            "autoindex_localtime",
            "charset",
            "client_max_body_size",
            "default_type",
            "deny",
            "etag",
            "expires",
            "gzip",
            "gzip_comp_level",
            "gzip_min_length",
            "gzip_types",
            "gzip_vary",
            "if_modified_since",
            "index",
            "internal",
            "limit_rate",
            "limit_rate_after",
            "log_not_found",
            "return",
            "rewrite",
            "satisfy",
        ),
        _any,
    ),
    "access_log": _access_log,
    "alias": _path_argument,
    "auth_basic_user_file": _path_argument,
    "error_page": _error_page,
    "root": _path_argument,
    "set": _set,
    "try_files": _try_files,
}


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
        check = ALLOWED_DIRECTIVES.get(statement.name)
        if check is None:
            raise DirectiveError(
                f"custom_directives line {statement.line}: {statement.name} is not allowed"
                " in custom directives; allowed: " + ", ".join(sorted(ALLOWED_DIRECTIVES))
            )
        if statement.opens_block and statement.name not in BLOCK_DIRECTIVES:
            raise DirectiveError(f"{_where(statement)} can't open a '{{' block")
        if statement.name in BLOCK_DIRECTIVES and not statement.opens_block:
            raise DirectiveError(f"{_where(statement)} needs a '{{ ... }}' block")
        check(statement, home)
    return statements
