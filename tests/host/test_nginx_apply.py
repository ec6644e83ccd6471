"""The real nginx and PHP-FPM: rendered configs pass their checks, apply, reload and roll back."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.host.web_helpers import (
    fetch,
    free_port,
    needs_nginx,
    needs_php_fpm,
    short_data_dir,
    wait_for,
)

from wispanel.core.config import Settings, load_settings
from wispanel.host.errors import ApplyError, CommandNotFound
from wispanel.host.nginx import SiteConfig, TlsFiles
from wispanel.host.nginx_directives import check_custom_directives
from wispanel.host.runner import CommandRunner
from wispanel.host.web import WebHost

pytestmark = needs_nginx


@pytest.fixture
def data_dir() -> Iterator[Path]:
    yield from short_data_dir()


@pytest.fixture
def web_settings(data_dir: Path) -> Settings:
    return load_settings(data_dir, web={"http_port": free_port(), "https_port": free_port()})


@pytest.fixture
def web(web_settings: Settings) -> Iterator[WebHost]:
    host = WebHost.for_settings(web_settings, CommandRunner())
    yield host
    host.stop()


def make_site(data_dir: Path, domain: str, **changes: object) -> SiteConfig:
    home = data_dir / "home" / "john"
    root = home / "domains" / domain / "public_html"
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(f"hello from {domain}\n")
    values: dict[str, object] = {
        "domain": domain,
        "home": home,
        "document_root": root,
        "access_log": home / "logs" / f"{domain}.access.log",
        "error_log": home / "logs" / f"{domain}.error.log",
    }
    values.update(changes)
    return SiteConfig(**values)  # type: ignore[arg-type]


def self_signed(directory: Path, name: str) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def test_every_variant_passes_nginx_check(web: WebHost, data_dir: Path) -> None:
    sites = {
        "plain.test": make_site(data_dir, "plain.test"),
        "suspended.test": make_site(data_dir, "suspended.test", suspended=True),
        "redirect.test": make_site(
            data_dir, "redirect.test", redirect_url="https://example.org/x", redirect_code=302
        ),
        "custom.test": make_site(
            data_dir,
            "custom.test",
            aliases=("alias.test",),
            custom_directives="location /old {\n  return 301 /new;\n}\nexpires 1h;",
            tls=self_signed(data_dir / "ssl", "custom.test"),
            force_https=True,
            hsts=True,
        ),
    }
    web.stage(sites).commit()
    port = web.nginx.web.http_port
    assert wait_for(port, "plain.test", status=200, contains="hello from plain.test")[0] == 200
    assert wait_for(port, "www.plain.test", status=200)[0] == 200
    assert wait_for(port, "suspended.test", status=503)[0] == 503
    assert fetch(port, "redirect.test")[0] == 302
    assert fetch(port, "unknown.test")[0] == 404
    assert fetch(port, "custom.test")[0] == 301


def test_acme_answered_before_redirect(web: WebHost, data_dir: Path) -> None:
    site = make_site(
        data_dir, "acme.test", redirect_url="https://example.org/", custom_directives="return 403;"
    )
    web.stage({"acme.test": site}).commit()
    challenge = data_dir / "acme" / ".well-known" / "acme-challenge" / "token123"
    challenge.write_text("token123.thumbprint")
    port = web.nginx.web.http_port
    status, body = wait_for(port, "acme.test", "/.well-known/acme-challenge/token123", status=200)
    assert status == 200
    assert body == "token123.thumbprint"
    assert fetch(port, "acme.test", "/")[0] == 403


def test_rejected_directive_restores_files(web: WebHost, data_dir: Path) -> None:
    good = make_site(data_dir, "keep.test")
    other = make_site(data_dir, "other.test")
    web.stage({"keep.test": good, "other.test": other}).commit()
    port = web.nginx.web.http_port
    assert wait_for(port, "keep.test", status=200)[0] == 200
    before = web.nginx.site_file("keep.test").read_text()
    other_mtime = web.nginx.site_file("other.test").stat().st_mtime_ns

    broken = make_site(data_dir, "keep.test", custom_directives="expires not-a-time;")
    with pytest.raises(ApplyError, match="expires"):
        web.stage({"keep.test": broken})

    assert web.nginx.site_file("keep.test").read_text() == before
    assert web.nginx.site_file("other.test").stat().st_mtime_ns == other_mtime
    assert fetch(port, "keep.test")[0] == 200
    # The lock was released: the next change goes through.
    web.stage({"keep.test": make_site(data_dir, "keep.test", suspended=True)}).commit()
    assert wait_for(port, "keep.test", status=503)[0] == 503


def test_rollback_after_stage(web: WebHost, data_dir: Path) -> None:
    change = web.stage({"new.test": make_site(data_dir, "new.test")})
    assert web.nginx.site_file("new.test").exists()
    change.rollback()
    assert not web.nginx.site_file("new.test").exists()


def test_unchanged_site_is_not_rewritten(web: WebHost, data_dir: Path) -> None:
    site = make_site(data_dir, "same.test")
    web.stage({"same.test": site}).commit()
    mtime = web.nginx.site_file("same.test").stat().st_mtime_ns
    change = web.stage({"same.test": site})
    assert not change.nginx_changed
    change.commit()
    assert web.nginx.site_file("same.test").stat().st_mtime_ns == mtime


def test_removed_site_falls_to_default(web: WebHost, data_dir: Path) -> None:
    web.stage({"gone.test": make_site(data_dir, "gone.test")}).commit()
    port = web.nginx.web.http_port
    assert wait_for(port, "gone.test", status=200)[0] == 200
    web.stage({"gone.test": None}).commit()
    assert wait_for(port, "gone.test", status=404)[0] == 404
    assert not web.nginx.site_file("gone.test").exists()


def test_missing_nginx_names_install_command(web_settings: Settings) -> None:
    runner = CommandRunner(binaries={"nginx": "/nonexistent/nginx"})
    host = WebHost.for_settings(web_settings, runner)
    with pytest.raises(CommandNotFound, match="apt-get install -y nginx"):
        host.stage({})


@needs_php_fpm
def test_php_served_through_account_pool(web: WebHost, data_dir: Path) -> None:
    home = data_dir / "home" / "john"
    version = web.php.default_version()
    pool = web.php.pool_config("john", version, home)
    site = make_site(data_dir, "php.test", php_socket=pool.socket)
    (site.document_root / "probe.php").write_text("<?php echo 'php=' . PHP_VERSION;")
    web.stage({"php.test": site}, {("john", version): pool}).commit()
    port = web.nginx.web.http_port
    status, body = wait_for(port, "php.test", "/probe.php", status=200)
    assert status == 200
    assert body.startswith(f"php={version}.")

    suspended = make_site(data_dir, "php.test", php_socket=pool.socket, suspended=True)
    web.stage({"php.test": suspended}).commit()
    status, body = wait_for(port, "php.test", "/probe.php", status=503)
    assert status == 503
    assert "php=" not in body

    web.stage({"php.test": None}, {("john", version): None}).commit()
    assert not web.php.layout.pool_file("john", version).exists()
    assert web.php.running_pid(version) is None


# What the custom-directive check lets through, which nginx must accept too.
ALLOWED_EXAMPLES = (
    "add_header Content-Security-Policy \"default-src 'self'\" always;",
    "location ~* \\.(css|js)$ { expires 30d; gzip on; gzip_vary on; }",
    "location /app { try_files $uri $uri/ /app/index.html?$args; }",
    'if ($http_user_agent ~* "bot") { return 403; }',
    "error_page 404 /404.html;\nlocation = /404.html { internal; }",
    "rewrite ^/old/(.*)$ /new/$1 permanent;",
    "set $maintenance 1;\nif ($maintenance) { return 503; }",
    "location /private {\n  auth_basic on;\n  auth_basic_user_file HOME/.htpasswd;\n}",
    "location /files/ { alias HOME/files/; autoindex on; autoindex_exact_size off; }",
    "access_log off;\nlog_not_found off;\nclient_max_body_size 64m;\ncharset utf-8;",
    "location /api { deny 192.0.2.0/24; allow all; limit_rate 100k; }",
)


def test_allowed_custom_directives_pass_nginx(web: WebHost, data_dir: Path) -> None:
    home = data_dir / "home" / "john"
    for index, text in enumerate(ALLOWED_EXAMPLES):
        check_custom_directives(text.replace("HOME", str(home)), home)
        domain = f"allowed{index}.test"
        site = make_site(data_dir, domain, custom_directives=text.replace("HOME", str(home)))
        web.stage({domain: site}).commit()
    assert wait_for(web.nginx.web.http_port, "allowed0.test", status=200)[0] == 200
