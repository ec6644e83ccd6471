"""Rendered nginx configs against golden files, and values that must never reach them."""

from __future__ import annotations

import resource
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.host.web_helpers import assert_golden

from wispanel.core.config import WebSettings
from wispanel.host.errors import HostError, UnsafePathError
from wispanel.host.nginx import (
    Nginx,
    NginxLayout,
    SiteConfig,
    TlsFiles,
    open_files_limit,
    tail_lines,
)
from wispanel.host.nginx_directives import DirectiveError, check_custom_directives
from wispanel.host.runner import CommandRunner

DATA = Path("/srv/wispanel")
HOME = DATA / "home" / "john"


@pytest.fixture
def nginx() -> Nginx:
    return Nginx(NginxLayout.local(DATA), WebSettings(), CommandRunner(), None)


def site(**changes: Any) -> SiteConfig:
    values: dict[str, Any] = {
        "domain": "example.com",
        "home": HOME,
        "document_root": HOME / "domains" / "example.com" / "public_html",
        "access_log": HOME / "logs" / "example.com.access.log",
        "error_log": HOME / "logs" / "example.com.error.log",
        "php_socket": DATA / "run" / "php8.2-john.sock",
    }
    values.update(changes)
    return SiteConfig(**values)


def test_main_conf_golden(nginx: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wispanel.host.nginx.os.geteuid", lambda: 1000)
    monkeypatch.setattr("wispanel.host.nginx.MIME_TYPES_FILE", Path("/etc/nginx/mime.types"))
    monkeypatch.setattr("wispanel.host.nginx.open_files_limit", lambda wanted: wanted)
    text = nginx.render_main()
    if not Path("/etc/nginx/mime.types").is_file():
        pytest.skip("the golden main config includes /etc/nginx/mime.types")
    assert_golden("nginx/nginx.conf", text)


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("site_php.conf", {}),
        ("site_static_with_aliases.conf", {"php_socket": None, "aliases": ("example.net",)}),
        ("site_suspended.conf", {"suspended": True, "custom_directives": "expires 1h;"}),
        ("site_redirect.conf", {"redirect_url": "https://example.org/new", "redirect_code": 302}),
        (
            "site_custom_tls.conf",
            {
                "custom_directives": "location /old {\n    return 301 /new;\n}\nexpires 1h;",
                "tls": TlsFiles(DATA / "ssl" / "cert.pem", DATA / "ssl" / "key.pem"),
                "force_https": True,
                "hsts": True,
            },
        ),
    ],
)
def test_site_golden(nginx: Nginx, name: str, changes: dict[str, Any]) -> None:
    assert_golden(f"nginx/{name}", nginx.render_site(site(**changes)))


def test_acme_location_precedes_redirect_and_custom(nginx: Nginx) -> None:
    text = nginx.render_site(
        site(redirect_url="https://example.org/", custom_directives="return 403;")
    )
    acme = text.index("acme-challenge")
    assert acme < text.index("return 403;")
    assert acme < text.index("return 301 https://example.org/;")


def test_suspended_site_has_no_php(nginx: Nginx) -> None:
    text = nginx.render_site(site(suspended=True))
    assert "fastcgi_pass" not in text
    assert "return 503;" in text


INJECTIONS = [
    "a;b",
    "a}b",
    "a\nb",
    "a$b",
    'a"b',
    "a'b",
    "a b",
    "a{b",
    "a#b",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("field", ["domain", "aliases", "document_root", "access_log"])
def test_injection_rejected_in_every_field(field: str, value: str) -> None:
    changes: dict[str, Any]
    if field == "domain":
        changes = {"domain": f"ex{value}ample.com"}
    elif field == "aliases":
        changes = {"aliases": (f"ex{value}ample.net",)}
    else:
        changes = {field: HOME / f"dir{value}"}
    with pytest.raises(HostError):
        site(**changes)


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_rejected_in_redirect_url(value: str) -> None:
    with pytest.raises(HostError):
        site(redirect_url=f"https://example.org/{value}")


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_rejected_in_socket(value: str) -> None:
    with pytest.raises(HostError):
        site(php_socket=DATA / f"run{value}.sock")


@pytest.mark.parametrize(
    "url", ["ftp://example.org/", "https://", "https://exa mple.org/", "javascript:alert(1)"]
)
def test_redirect_url_rejects_non_http(url: str) -> None:
    with pytest.raises(HostError):
        site(redirect_url=url)


def test_redirect_code_limited() -> None:
    with pytest.raises(HostError):
        site(redirect_url="https://example.org/", redirect_code=307)


def test_domain_must_be_normalised() -> None:
    with pytest.raises(HostError):
        site(domain="Example.COM")


@pytest.mark.parametrize(
    "text",
    [
        "}",
        "} server { listen 80;",
        "location / {",
        "include /etc/passwd;",
        "location /a { include /etc/nginx/snippets/x.conf; }",
        "server_name victim.com;",
        "listen 80;",
        "root /etc;",
        "alias /etc/;",
        "root /srv/wispanel/home/john/../jane;",
        "root relative/path;",
        "root $document_root;",
        "access_log /etc/cron.d/x;",
        "error_log /tmp/x.log;",
        "fastcgi_pass unix:/srv/wispanel/run/php8.2-jane.sock;",
        "location ~ x { proxy_pass http://unix:/run/x.sock; }",
        'return 200 "unterminated;',
        "expires 1h",
        "client_body_temp_path /tmp/x;",
        "ssl_certificate_key /etc/ssl/private/other.key;",
        # A quote inside a word is an ordinary character to nginx: the } closes the block.
        'add_header X-A a";\n}\nserver { listen 80; location / { alias /; } }\nset $x a";',
        "add_header X-A a';\n}\nset $x a';",
        'add_header X-A "a"b;',
        "location = /x { root /srv/wispanel/home/john; try_files /../jane/secret =404; }",
        "try_files $request_uri =404;",
        "try_files /$arg_file =404;",
        'set $sock "unix:/run/php/jane.sock";\nlocation = /x.php { fastcgi_pass $sock; }',
        "location /p/ { proxy_pass http://127.0.0.1:8081/; }",
        "location /w { proxy_store /srv/wispanel/home/jane/index.html; }",
        "proxy_ssl_certificate_key /etc/ssl/other.key;",
        "ssl_conf_command Options -SessionTicket;",
        "access_log /srv/wispanel/home/john/pwn.log;",
        "content_by_lua 'os.execute(\"id\")';",
        "js_content main.handler;",
        "image_filter resize 10 10;",
        "dav_methods PUT;",
        "disable_symlinks off;",
        "if (-f /etc/shadow) { return 200; }",
        "if (-f $document_root/../../jane/x) { return 200; }",
        "add_header X-A a { }",
        "location /a;",
        "error_page 404 relative.html;",
        "set x 1;",
    ],
)
def test_custom_directives_rejected(text: str) -> None:
    with pytest.raises(DirectiveError):
        check_custom_directives(text, HOME)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "expires 1h;",
        "# a comment with } and ; inside\nexpires 1h;",
        'add_header X-Note "braces } in quotes";',
        "location /files { alias /srv/wispanel/home/john/files/; }",
        "access_log off;",
        "location /a {\n  location /a/b { return 204; }\n}",
        "add_header Content-Security-Policy \"default-src 'self'\" always;",
        "location ~* \\.(css|js)$ { expires 30d; gzip on; }",
        "location / { try_files $uri $uri/ /index.php?$args; }",
        'if ($http_user_agent ~* "bot") { return 403; }',
        "error_page 404 /404.html;",
        "rewrite ^/old/(.*)$ /new/$1 permanent;",
        "set $maintenance 1;",
        "location /private {\n  auth_basic on;\n"
        "  auth_basic_user_file /srv/wispanel/home/john/.htpasswd;\n}",
    ],
)
def test_custom_directives_accepted(text: str) -> None:
    check_custom_directives(text, HOME)


def test_custom_directive_message_names_line() -> None:
    with pytest.raises(DirectiveError, match="line 2"):
        check_custom_directives("expires 1h;\ninclude /etc/passwd;", HOME)


def test_custom_directives_size_capped() -> None:
    with pytest.raises(DirectiveError, match="at most"):
        check_custom_directives("expires 1h;\n" * 2000, HOME)


def test_tail_lines_reads_the_end(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("".join(f"line {number}\n" for number in range(10_000)))
    assert tail_lines(path, 3, block_size=64) == ["line 9997", "line 9998", "line 9999"]
    assert tail_lines(tmp_path / "missing.log", 3) == []
    assert len(tail_lines(path, 20_000)) == 10_000


def test_server_names_include_www(nginx: Nginx) -> None:
    rendered = site(aliases=("example.net", "www.example.org"))
    assert rendered.server_names == (
        "example.com",
        "www.example.com",
        "example.net",
        "www.example.net",
        "www.example.org",
    )
    assert replace(rendered, aliases=()).server_names == ("example.com", "www.example.com")


def test_open_files_limit_capped_by_hard_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wispanel.host.nginx.resource.getrlimit", lambda _which: (1024, 20_000))
    assert open_files_limit(65_536) == 20_000
    assert open_files_limit(4096) == 4096
    unlimited = (1024, resource.RLIM_INFINITY)
    monkeypatch.setattr("wispanel.host.nginx.resource.getrlimit", lambda _which: unlimited)
    assert open_files_limit(65_536) == 65_536


def test_tail_lines_refuses_link(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("key\n")
    log = tmp_path / "access.log"
    log.symlink_to(secret)
    with pytest.raises(UnsafePathError):
        tail_lines(log, 5)
