"""The OpenAPI document says what the server does: which operations need the key, how errors look, and the
methods a 405 names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers.servers import module_app

KEY = "the key"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module", params=[False, True], ids=["key", "key-public-predict"])
def keyed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per setting for the module: its tests change nothing a later one reads (no job is made)."""
    folder = tmp_path_factory.mktemp("openapi")
    (folder / "data").mkdir()
    with module_app(folder / "home", folder / "data", api_key=KEY, public_predict=request.param) as (client, _):
        yield client


def _operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_the_operations_open_without_a_key_are_exactly_those_documented_without_security(keyed: TestClient) -> None:
    document = keyed.get("/openapi.json", headers=BEARER).json()
    assert document["security"] == [{"bearer": []}, {"session": []}]
    declared_open = {(method, path) for method, path, operation in _operations(document)
                     if operation.get("security") == []}
    # What the server does: each documented operation asked for without credentials. A 401 means it wants the
    # key; anything else means it let the request through (a 404 or 422 comes from the route itself).
    really_open = set()
    for method, path, _ in _operations(document):
        if path == "/events":
            continue  # a stream without end; it is under the key (tests/service/test_sessions.py)
        concrete = path.replace("{job_id}", "1").replace("{sweep_id}", "1").replace("{dataset}", "mnist") \
            .replace("{model_name}", "mnist").replace("{model_version}", "1").replace("{name}", "mnist") \
            .replace("{index}", "0").replace("{fmt}", "onnx")
        if keyed.request(method, concrete).status_code != 401:
            really_open.add((method, path))
    assert declared_open == really_open
    assert {("GET", "/health"), ("GET", "/session"), ("POST", "/session"), ("DELETE", "/session")} <= declared_open


@pytest.mark.parametrize(("path", "allowed"), [
    ("/sweeps", "GET, POST"), ("/models/mnist/default", "DELETE, PUT"), ("/jobs", "GET, POST"),
    ("/jobs/1", "GET"), ("/jobs/1/cancel", "POST"), ("/v2/models/mnist/infer", "POST"),
])
def test_a_405_names_every_method_the_path_has(keyed: TestClient, path: str, allowed: str) -> None:
    response = keyed.request("PATCH", path, headers=BEARER)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert allowed in response.json()["detail"]
    assert keyed.options(path).headers["allow"] == allowed  # OPTIONS, too, without a key


def test_a_sign_in_without_a_key_is_the_documented_422(keyed: TestClient) -> None:
    document = keyed.get("/openapi.json", headers=BEARER).json()
    assert document["paths"]["/session"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"}
    response = keyed.post("/session", json={"kee": KEY}, headers={"Origin": "http://testserver"})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "key"] and "missing" in problem["msg"] and problem["type"] == "value_error"


@pytest.mark.parametrize(("body", "content_type", "problem"), [
    (b"{", "application/json", "json_invalid"), (b"\xff\xfe", "application/json", "json_invalid"),
    (b"dataset=mnist", "application/x-www-form-urlencoded", "model_attributes_type"),
    (b"--x\r\n", "multipart/form-data; boundary=x", "model_attributes_type"), (b"", None, "missing"),
])
def test_an_unparseable_job_is_the_documented_422(keyed: TestClient, body: bytes, content_type: str | None,
                                                  problem: str) -> None:
    document = keyed.get("/openapi.json", headers=BEARER).json()
    assert "422" in document["paths"]["/jobs"]["post"]["responses"]
    headers = {**BEARER, **({"Content-Type": content_type} if content_type else {})}
    response = keyed.post("/jobs", content=body, headers=headers)
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == problem
