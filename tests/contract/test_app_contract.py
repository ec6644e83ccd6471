"""The running app's OpenAPI document, the catalogue of endpoints, and the committed collection."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator
from starlette.testclient import TestClient

from wispanel.core.folders import FOLDER_NAMES
from wispanel.core.postman import build_postman_collection, to_json

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Path(__file__).with_name("catalogue.tsv")
SHARED_CATALOGUE = ROOT.parent / "shared" / "api" / "catalogue.tsv"
COLLECTION = ROOT / "sdk" / "whmcs" / "wispanel-api.postman_collection.json"
# Rows of the catalogue that the panel implements so far: a missing one fails the suite.
BUILT = {
    ("GET", "/api/v1/domains"),
    ("POST", "/api/v1/domains"),
    ("GET", "/api/v1/domains/{}"),
    ("PUT", "/api/v1/domains/{}"),
    ("DELETE", "/api/v1/domains/{}"),
    ("POST", "/api/v1/domains/{}/suspend"),
    ("POST", "/api/v1/domains/{}/unsuspend"),
    ("GET", "/api/v1/domains/{}/vhost"),
    ("PUT", "/api/v1/domains/{}/vhost"),
    ("GET", "/api/v1/domains/{}/aliases"),
    ("POST", "/api/v1/domains/{}/aliases"),
    ("DELETE", "/api/v1/domains/{}/aliases/{}"),
    ("GET", "/api/v1/domains/{}/logs"),
    ("GET", "/api/v1/dns/zones"),
    ("POST", "/api/v1/dns/zones"),
    ("GET", "/api/v1/dns/zones/{}"),
    ("DELETE", "/api/v1/dns/zones/{}"),
    ("GET", "/api/v1/dns/zones/{}/export"),
    ("POST", "/api/v1/dns/zones/{}/records"),
    ("PUT", "/api/v1/dns/zones/{}/records/{}"),
    ("DELETE", "/api/v1/dns/zones/{}/records/{}"),
    ("GET", "/api/v1/ssl/certificates"),
    ("POST", "/api/v1/ssl/issue"),
    ("POST", "/api/v1/ssl/renew"),
    ("POST", "/api/v1/ssl/csr"),
    ("POST", "/api/v1/ssl/install"),
    ("GET", "/api/v1/ssl/certificates/{}"),
    ("DELETE", "/api/v1/ssl/certificates/{}"),
    ("GET", "/api/v1/system/php-versions"),
    ("GET", "/api/v1/system/info"),
    ("GET", "/api/v1/system/resources"),
    ("GET", "/api/v1/system/resources/history"),
    ("GET", "/api/v1/system/processes"),
    ("GET", "/api/v1/system/health"),
    ("GET", "/api/v1/services"),
    ("GET", "/api/v1/services/{}"),
    ("POST", "/api/v1/services/{}/start"),
    ("POST", "/api/v1/services/{}/stop"),
    ("POST", "/api/v1/services/{}/restart"),
    ("GET", "/api/v1/version/info"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/reauth"),
    ("POST", "/api/v1/auth/2fa/setup"),
    ("POST", "/api/v1/auth/2fa/enable"),
    ("POST", "/api/v1/auth/2fa/disable"),
    ("POST", "/api/v1/auth/2fa/recovery-codes"),
    ("POST", "/api/v1/auth/login-as/{}"),
    ("GET", "/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{}"),
    ("DELETE", "/api/v1/auth/sessions"),
    ("GET", "/api/v1/auth/audit"),
    ("POST", "/api/v1/users/{}/api-keys"),
    ("GET", "/api/v1/users/{}/api-keys"),
    ("DELETE", "/api/v1/users/{}/api-keys/{}"),
    ("POST", "/api/v1/auth/sso/mint"),
    ("GET", "/sso/consume/{}"),
    ("POST", "/api/v1/auth/sso/exchange"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{}"),
    ("PUT", "/api/v1/users/{}"),
    ("DELETE", "/api/v1/users/{}"),
    ("POST", "/api/v1/users/{}/suspend"),
    ("POST", "/api/v1/users/{}/unsuspend"),
    ("GET", "/api/v1/users/{}/sessions"),
    ("DELETE", "/api/v1/users/{}/sessions"),
    ("GET", "/api/v1/resellers"),
    ("POST", "/api/v1/resellers"),
    ("GET", "/api/v1/resellers/{}"),
    ("PUT", "/api/v1/resellers/{}/limits"),
    ("DELETE", "/api/v1/resellers/{}"),
    ("GET", "/api/v1/packages"),
    ("POST", "/api/v1/packages"),
    ("PUT", "/api/v1/packages/{}"),
    ("DELETE", "/api/v1/packages/{}"),
    ("GET", "/api/v1/jobs/{}"),
    ("GET", "/openapi.yaml"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks/{}"),
    ("PATCH", "/api/v1/webhooks/{}"),
    ("DELETE", "/api/v1/webhooks/{}"),
    ("GET", "/api/v1/webhooks/{}/deliveries"),
    ("POST", "/api/v1/webhooks/{}/test"),
}
METHODS = {"get", "post", "put", "patch", "delete"}


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/") or "/"


def catalogue_rows() -> list[dict[str, str]]:
    with CATALOGUE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), normalise(path)): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_openapi_is_valid_3_0(client: TestClient, document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.0.")
    validate(document, cls=OpenAPIV30SpecValidator)
    from_yaml = yaml.safe_load(client.get("/openapi.yaml").text)
    assert from_yaml == document


def test_openapi_needs_no_auth(client: TestClient) -> None:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")


def test_every_operation_tagged_and_documented(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        assert len(operation["tags"]) == 1, key
        assert operation["tags"][0] in FOLDER_NAMES, key
        assert operation["operationId"], key
        assert "500" in operation["responses"], key
        assert "422" not in operation["responses"] or key[0] != "GET", key


def test_public_operations_marked(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert ops[("POST", "/api/v1/auth/login")]["security"] == []
    assert ops[("GET", "/openapi.yaml")]["security"] == []
    assert "security" not in ops[("GET", "/api/v1/auth/me")]
    assert document["security"] == [{"bearerAuth": []}]


def test_catalogue_copy_is_current() -> None:
    if not SHARED_CATALOGUE.exists():
        pytest.skip("the shared catalogue is not beside this checkout")
    assert CATALOGUE.read_text(encoding="utf-8") == SHARED_CATALOGUE.read_text(encoding="utf-8")


def test_built_catalogue_rows_exist(document: dict[str, Any]) -> None:
    ops = operations(document)
    rows = {(row["method"], normalise(row["path"])): row for row in catalogue_rows()}
    assert set(rows) >= BUILT, "BUILT names a row that is not in the catalogue"
    missing_built = sorted(key for key in BUILT if key not in ops)
    assert not missing_built, f"built rows missing from the API: {missing_built}"
    for key in BUILT:
        assert ops[key]["tags"] == [rows[key]["folder"]], key
    still_missing = sorted(
        f"{row['folder']}: {k[0]} {k[1]}" for k, row in rows.items() if k not in ops
    )
    print(f"{len(still_missing)} of {len(rows)} catalogue rows are not built yet")


def test_committed_collection_is_current(document: dict[str, Any]) -> None:
    generated = to_json(build_postman_collection(document))
    committed = COLLECTION.read_text(encoding="utf-8")
    assert committed == generated, "run `wispanel postman` and commit the collection"


def test_collection_has_built_rows(document: dict[str, Any]) -> None:
    collection = build_postman_collection(document)
    requests: set[tuple[str, str]] = set()
    for folder in collection["item"]:
        for item in folder["item"]:
            raw = item["request"]["url"]["raw"].replace("{{base_url}}", "").split("?")[0]
            requests.add(
                (item["request"]["method"], normalise(re.sub(r"\{\{[^}]*\}\}", "{}", raw)))
            )
    assert requests >= BUILT
    names = [folder["name"] for folder in collection["item"]]
    assert names == [name for name in FOLDER_NAMES if name in names]
