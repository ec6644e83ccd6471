"""API folders: the OpenAPI tags and Postman folders, in catalogue order.

Every operation carries exactly one folder name as its tag. The OpenAPI document lists the
tags in this order, and the Postman collection has one folder each, in the same order.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Folder:
    """An API folder: its tag name and a one-sentence description."""

    name: str
    description: str


FOLDERS: tuple[Folder, ...] = (
    Folder(
        "01 Auth & Session",
        "Log in and out, refresh and revoke sessions, two-factor authentication, "
        "re-authentication, login-as and the audit log.",
    ),
    Folder(
        "02 Users & Resellers",
        "Hosting accounts, resellers, hosting packages and API keys.",
    ),
    Folder(
        "03 Domains",
        "Domains and subdomains with their web server settings, aliases and logs.",
    ),
    Folder("04 DNS", "DNS zones and their records."),
    Folder(
        "05 SSL Certificates",
        "TLS certificates for domains: ACME issue and renewal, CSRs, uploaded certificates.",
    ),
    Folder("06 Databases", "MariaDB databases with their users and remote access."),
    Folder(
        "07 Email", "Mailboxes, forwarders, mail server status and DKIM, SPF and DMARC records."
    ),
    Folder("08 FTP", "FTP accounts and the FTP server status."),
    Folder(
        "09 File Manager",
        "Files and directories inside the caller's home directory, archives and the trash.",
    ),
    Folder("10 Cron Jobs", "Scheduled commands run as their owner, with recent run logs."),
    Folder("11 Backup & Restore", "Account backups and restores, run as background jobs."),
    Folder("12 WordPress", "WordPress installs on hosted domains."),
    Folder("13 Security", "Firewall rules, blocked IPs, SSH settings and brute-force protection."),
    Folder(
        "14 System & Services",
        "Host information and resources, managed services, versions and background jobs.",
    ),
    Folder("15 Webhooks", "Webhook subscriptions and their delivery attempts."),
    Folder("16 SSO", "Single-use login links minted for managed accounts."),
    Folder("00 Meta", "The OpenAPI description of this API."),
)

FOLDER_NAMES: tuple[str, ...] = tuple(folder.name for folder in FOLDERS)

# Mutating requests in these folders send an Idempotency-Key in the Postman collection.
IDEMPOTENT_FOLDERS: frozenset[str] = frozenset(
    {"02 Users & Resellers", "03 Domains", "15 Webhooks"}
)


def openapi_tags() -> list[dict[str, str]]:
    """Return the folders as OpenAPI tag objects, in catalogue order."""
    return [{"name": folder.name, "description": folder.description} for folder in FOLDERS]
