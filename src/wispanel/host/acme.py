"""Certificates from an ACME server (RFC 8555) through certbot's `acme` library.

The account key lives in the data directory (0600) and is reused for every order of the
same ACME directory. Challenges are answered by responders: HTTP-01 writes the key
authorisation under nginx's `acme_root`, and a DNS-01 responder can be passed for wildcard
names. The calls block, so callers run them in a worker thread or a job.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import requests
import structlog
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwa import RS256
from josepy.jwk import JWKRSA

from wispanel.host.errors import HostError
from wispanel.host.files import atomic_write

log = structlog.get_logger(__name__)
USER_AGENT = "WisPanel-ACME/1"
# RFC 8555 tokens are base64url; anything else must not reach a file name.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class AcmeError(HostError):
    """The ACME server could not be reached or rejected the order; the message gives the reason."""


class ChallengeResponder(Protocol):
    """Publishes the response to one type of challenge, and removes it after the order."""

    challenge_type: type[challenges.KeyAuthorizationChallenge]

    def present(self, identifier: str, token: str, validation: str) -> None: ...

    def cleanup(self) -> None: ...


class Http01Responder:
    """Serves HTTP-01 key authorizations as files in `<acme_root>/.well-known/acme-challenge/`."""

    challenge_type = challenges.HTTP01

    def __init__(self, acme_root: Path) -> None:
        self.directory = acme_root / ".well-known" / "acme-challenge"
        self._written: list[Path] = []

    def present(self, identifier: str, token: str, validation: str) -> None:
        if not TOKEN.match(token):
            raise AcmeError(f"the ACME server sent an invalid challenge token for {identifier}")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / token
        atomic_write(path, validation, mode=0o644)
        self._written.append(path)

    def cleanup(self) -> None:
        for path in self._written:
            path.unlink(missing_ok=True)
        self._written.clear()


def account_key_path(data_dir: Path, directory_url: str) -> Path:
    """Return the account key file of one ACME directory: one account per server."""
    digest = hashlib.sha256(directory_url.encode("utf-8")).hexdigest()[:16]
    return data_dir / "acme-accounts" / f"{digest}.key"


def load_account_key(path: Path) -> JWKRSA:
    """Load the account key, creating a 2048-bit RSA key (0600) on first use."""
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=0o600)
        log.info("acme.account_key_created", path=str(path))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise AcmeError(f"the ACME account key {path} is not an RSA key; move it away")
    return JWKRSA(key=loaded)


class AcmeClient:
    def __init__(
        self,
        directory_url: str,
        account_key: JWKRSA,
        *,
        ca_bundle: Path | None = None,
        contact_email: str | None = None,
        timeout_seconds: float = 120.0,
    ) -> None:
        self.directory_url = directory_url
        self.account_key = account_key
        self.ca_bundle = ca_bundle
        self.contact_email = contact_email
        self.timeout_seconds = timeout_seconds

    def obtain(self, csr_pem: bytes, responders: Sequence[ChallengeResponder]) -> str:
        """Order a certificate for the CSR's names and complete the challenges.

        Returns the full chain in PEM, leaf first. The published challenge responses are
        removed whatever the outcome.
        """
        try:
            acme = self._client()
            order = acme.new_order(csr_pem)
            try:
                for authorization in order.authorizations:
                    self._answer(acme, authorization, responders)
                deadline = datetime.datetime.now() + datetime.timedelta(
                    seconds=self.timeout_seconds
                )
                finished = acme.poll_and_finalize(order, deadline)
            finally:
                for responder in responders:
                    responder.cleanup()
        except errors.ValidationError as error:
            raise AcmeError(_validation_message(error)) from error
        except errors.IssuanceError as error:
            raise AcmeError(f"the ACME server rejected the order: {error.error}") from error
        except errors.TimeoutError as error:
            raise AcmeError(
                f"the ACME order did not finish within {self.timeout_seconds:g} seconds"
            ) from error
        except messages.Error as error:
            raise AcmeError(f"the ACME server returned an error: {error}") from error
        except requests.exceptions.SSLError as error:
            raise AcmeError(
                f"the TLS handshake with the ACME server at {self.directory_url} failed"
                f" ({error}); if it uses a private CA, set ssl.acme_ca_bundle"
            ) from error
        except requests.ConnectionError as error:
            raise AcmeError(
                f"connecting to the ACME server at {self.directory_url} failed; check"
                " ssl.acme_directory_url and the network"
            ) from error
        except requests.Timeout as error:
            raise AcmeError(f"the ACME server at {self.directory_url} timed out") from error
        except (errors.Error, requests.RequestException) as error:
            raise AcmeError(f"the ACME server at {self.directory_url} failed: {error}") from error
        fullchain: str = finished.fullchain_pem
        return fullchain

    def _client(self) -> client.ClientV2:
        network = client.ClientNetwork(
            self.account_key,
            alg=RS256,
            user_agent=USER_AGENT,
            timeout=int(self.timeout_seconds),
        )
        if self.ca_bundle is not None:
            # requests takes a CA bundle path wherever it takes verify=True.
            network.verify_ssl = str(self.ca_bundle)  # type: ignore[assignment]
        directory = client.ClientV2.get_directory(self.directory_url, network)
        acme = client.ClientV2(directory, network)
        registration = messages.NewRegistration.from_data(
            email=self.contact_email, terms_of_service_agreed=True
        )
        try:
            acme.new_account(registration)
            log.info("acme.account_registered", directory=self.directory_url)
        except errors.ConflictError as existing:
            # The key is registered already; the server returned the account's URL.
            network.account = messages.RegistrationResource(
                uri=existing.location, body=messages.Registration()
            )
        return acme

    def _answer(
        self,
        acme: client.ClientV2,
        authorization: messages.AuthorizationResource,
        responders: Sequence[ChallengeResponder],
    ) -> None:
        body = authorization.body
        identifier = str(body.identifier.value)
        if body.status == messages.STATUS_VALID:
            return
        for responder in responders:
            for challenge in body.challenges:
                if isinstance(challenge.chall, responder.challenge_type):
                    response, validation = challenge.response_and_validation(self.account_key)
                    responder.present(identifier, challenge.chall.encode("token"), validation)
                    acme.answer_challenge(challenge, response)
                    log.info("acme.challenge_answered", name=identifier, type=challenge.chall.typ)
                    return
        offered = ", ".join(str(item.chall.typ) for item in body.challenges)
        raise AcmeError(f"no supported challenge for {identifier}; the server offered {offered}")


def _validation_message(error: errors.ValidationError) -> str:
    reasons = []
    for authorization in error.failed_authzrs:
        name = authorization.body.identifier.value
        for challenge in authorization.body.challenges:
            if challenge.error is not None:
                detail = challenge.error.detail or challenge.error.typ
                reasons.append(f"{name} ({challenge.chall.typ}): {detail}")
    return "the ACME server could not validate " + ("; ".join(reasons) or "the names")
