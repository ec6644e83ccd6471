"""The issue and renew jobs, and the periodic check that queues renewals.

A job runs in a worker thread of the job queue. It opens its own event loop and database
engine for the async service code (a pooled async connection belongs to the loop that
opened it), orders the certificate from the ACME server, installs it, and publishes
`ssl.issued`, `ssl.renewed` or `ssl.failed`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from wispanel.core.context import PanelContext
from wispanel.core.database import create_api_engine, session_factory, utcnow
from wispanel.core.errors import PanelError
from wispanel.core.events import AuditContext
from wispanel.domains import hosting
from wispanel.domains.models import Domain
from wispanel.host import certificates
from wispanel.host.acme import (
    AcmeClient,
    ChallengeResponder,
    Http01Responder,
    account_key_path,
    load_account_key,
)
from wispanel.jobs.models import Job, JobStatus
from wispanel.jobs.queue import JobRun
from wispanel.ssl import cleanup, installation
from wispanel.ssl.dns_challenge import Dns01Responder
from wispanel.ssl.models import Certificate, CertificateSource
from wispanel.ssl.names import current_names
from wispanel.users.models import User
from wispanel.users.usage import every

log = structlog.get_logger(__name__)
JOB_ISSUE = "ssl.issue"
JOB_RENEW = "ssl.renew"
JOB_KINDS = (JOB_ISSUE, JOB_RENEW)
PERIODIC_TASK_NAME = "wispanel.ssl.renewals"


class IssuanceFailed(RuntimeError):
    """The certificate could not be issued or installed; the message is the job's error."""


def obtain(panel: PanelContext, csr_pem: bytes, names: list[str]) -> bytes:
    """Order a certificate for the CSR from the configured ACME server; return the chain."""
    settings = panel.settings.ssl
    responders: list[ChallengeResponder] = [
        Http01Responder(hosting.web_of(panel).nginx.layout.acme_root)
    ]
    if any(name.startswith("*.") for name in names):
        responders.append(Dns01Responder(panel))
    key = load_account_key(account_key_path(panel.settings.data_dir, settings.acme_directory_url))
    client = AcmeClient(
        settings.acme_directory_url,
        key,
        ca_bundle=settings.acme_ca_bundle,
        contact_email=settings.contact_email,
        timeout_seconds=settings.acme_timeout_seconds,
    )
    return client.obtain(csr_pem, responders).encode("ascii")


def _reason(error: Exception) -> str:
    """Return the job's error text; database errors are logged but not shown to the caller."""
    if isinstance(error, PanelError):
        return error.message
    if isinstance(error, SQLAlchemyError):
        # The driver's message names tables and statements; the job's owner needs none of it.
        log.error("ssl.database_error", error=str(error))
        return (
            "the database change failed, most likely because the domain was changed or deleted"
            " meanwhile; try again"
        )
    return str(error) or type(error).__name__


async def _obtain_and_install(
    db: AsyncSession,
    panel: PanelContext,
    run: JobRun,
    domain: Domain,
    owner: User,
    *,
    names: list[str],
) -> Certificate:
    run.progress(10, "Ordering the certificate from the ACME server")
    key = certificates.generate_key(panel.settings.ssl.key_type)
    csr = certificates.build_csr(key, names)
    fullchain = await anyio.to_thread.run_sync(obtain, panel, csr, names)
    run.progress(70, "Installing the certificate and checking that nginx serves it")
    return await installation.install(
        db,
        panel,
        domain,
        owner,
        fullchain=fullchain,
        key=certificates.key_pem(key),
        source=CertificateSource.ACME,
    )


async def _queued_domain(db: AsyncSession, run: JobRun) -> Domain:
    """Return the domain the job was queued for, or raise if that domain is gone.

    Row ids are reused (SQLite hands a deleted row's id to the next insert), so the row
    must also have the queued name and the job's owner. The error names only the queued
    domain, never what the row contains now.
    """
    queued_name = str(run.params.get("domain", ""))
    owner_id = await db.scalar(select(Job.owner_id).where(Job.id == run.job_id))
    domain = await db.get(Domain, run.params["domain_id"])
    if domain is None or domain.name != queued_name or domain.owner_id != owner_id:
        raise IssuanceFailed(
            f"Certificate for {queued_name} was not issued: the domain no longer exists"
        )
    return domain


async def _issue(db: AsyncSession, panel: PanelContext, run: JobRun) -> dict[str, Any]:
    domain = await _queued_domain(db, run)
    owner = await db.get(User, domain.owner_id)
    assert owner is not None  # noqa: S101 - the foreign key guarantees the owner
    # A rollback expires the ORM objects, so the failure path reads these copies.
    name, owner_name, owner_id = domain.name, owner.username, owner.id
    renewal = run.kind == JOB_RENEW
    ordered = current_names(domain, list(run.params["names"]))
    context = AuditContext(principal=None, request_id=run.params.get("request_id"))

    def publish(event: str, data: dict[str, Any]) -> None:
        panel.events.publish(
            db,
            context,
            event,
            {"domain": name, "owner": owner_name, **data},
            object_type="certificate",
            object_id=name,
            owner_id=owner_id,
        )

    try:
        row = await _obtain_and_install(db, panel, run, domain, owner, names=ordered)
    except Exception as error:
        await db.rollback()
        reason = _reason(error)
        log.warning("ssl.issue_failed", domain=name, renewal=renewal, error=reason)
        publish("ssl.failed", {"names": ordered, "renewal": renewal, "error": reason})
        await db.commit()
        raise IssuanceFailed(f"Certificate for {name} was not issued: {reason}") from error

    result = {
        "domain": name,
        "names": list(row.names),
        "issuer": row.issuer,
        "not_after": row.not_after.isoformat(),
        "fingerprint_sha256": row.fingerprint_sha256,
    }
    publish("ssl.renewed" if renewal else "ssl.issued", {**result, "source": row.source})
    await db.commit()
    return result


async def _run_in_own_loop(panel: PanelContext, run: JobRun) -> dict[str, Any]:
    engine = create_api_engine(panel.settings.database_url)
    try:
        async with session_factory(engine)() as db:
            return await _issue(db, panel, run)
    finally:
        await engine.dispose()


def pending_domain_ids(db: Session) -> set[int]:
    """Return the domains with an issue or renew job queued or running."""
    rows = db.scalars(
        select(Job.params).where(
            Job.kind.in_(JOB_KINDS), Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
        )
    ).all()
    return {int(params["domain_id"]) for params in rows if params and "domain_id" in params}


def _queue_renewal(db: Session, domain_id: int) -> str | None:
    """Queue the renewal of one domain in its own transaction; return the job id, if any.

    The domain's row is locked first, as POST /ssl/issue and /ssl/renew lock it, so the
    check for a pending job and the insert can't interleave with a request's.
    """
    db.execute(
        update(Domain)
        .where(Domain.id == domain_id)
        .values(updated_at=Domain.updated_at)
        .execution_options(synchronize_session=False)
    )
    found = db.execute(
        select(Certificate, Domain)
        .join(Domain, Domain.id == Certificate.domain_id)
        .where(Domain.id == domain_id, Certificate.source == CertificateSource.ACME)
    ).first()
    if found is None or found[1].suspended or domain_id in pending_domain_ids(db):
        db.rollback()
        return None
    certificate, domain = found
    params = {
        "domain_id": domain.id,
        "domain": domain.name,
        "names": current_names(domain, list(certificate.names)),
    }
    job = Job(id=uuid.uuid4().hex, kind=JOB_RENEW, params=params, owner_id=domain.owner_id)
    db.add(job)
    db.commit()
    return job.id


def queue_renewals(panel: PanelContext) -> list[str]:
    """Queue a renewal for every ACME certificate expiring within `renew_before_days`."""
    horizon = utcnow() + timedelta(days=panel.settings.ssl.renew_before_days)
    queued: list[str] = []
    with Session(panel.sync_engine) as db:
        due = db.scalars(
            select(Certificate.domain_id)
            .where(Certificate.source == CertificateSource.ACME, Certificate.not_after < horizon)
            .order_by(Certificate.not_after)
        ).all()
        db.rollback()
        for domain_id in due:
            job_id = _queue_renewal(db, domain_id)
            if job_id is not None:
                queued.append(job_id)
    for job_id in queued:
        panel.jobs.enqueue(job_id)
    if queued:
        log.info("ssl.renewals_queued", count=len(queued))
    return queued


def register_ssl_jobs(panel: PanelContext) -> None:
    """Register the issue and renew jobs, the periodic renewal check and the file clean-up."""

    def handle(run: JobRun) -> dict[str, Any]:
        return anyio.run(_run_in_own_loop, panel, run)

    for kind in JOB_KINDS:
        panel.jobs.register(kind, handle)
    interval = panel.settings.ssl.renew_check_interval_minutes

    def periodic() -> None:
        queue_renewals(panel)
        cleanup.sweep_orphans(panel)

    panel.jobs.huey.periodic_task(every(interval), name=PERIODIC_TASK_NAME)(periodic)
    cleanup.subscribe_cleanup(panel)
