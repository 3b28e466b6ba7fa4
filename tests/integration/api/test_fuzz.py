"""Property-based requests against the API's own OpenAPI schema (schemathesis): for every
operation under /api/v1, valid and invalid parameters and bodies, on random ids and on real
ones, as an owner and as an admin. No answer is a 5xx, none hangs, and every one is what the
schema documents (status, content type, body); errors are problem+json.

Deterministic (derandomized) and bounded: a few dozen examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from api_support import API, EXAMPLE_SPEC, Api, Owned, api_settings, bearer, make_owned, serve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_access_matrix import ACCESS

from cofounder.api.problems import PROBLEM

# Every route the access matrix knows (which is every route under /api/v1).
LABELS = sorted(f"{method} {path}" for method, path in ACCESS)
EXAMPLES = 60
# A live event stream never ends: one is read until this many seconds have passed, and what
# it sent by then is its answer. Any other request taking this long is a hang.
STREAM_SECONDS = 1.0
REQUEST_SECONDS = 10.0
# Valid bodies to start from where a generated one would almost never be (a whole project).
BODIES: dict[str, dict[str, Any]] = {f"POST {API}/projects": EXAMPLE_SPEC}
Operation = APIOperation[Any, Any, Any, Any]  # its type parameters matter nowhere here


@dataclass(frozen=True)
class Target:
    api: Api
    client: asgi.ASGIClient  # schemathesis's in-process client on the already-started app
    tokens: tuple[str, str]  # an owner's, an admin's
    owned: Owned
    operations: dict[str, Operation]  # by label, from the schema the app serves


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("fuzz") / "data"
    unlimited = {"bootstrapper": {"per_owner": 2, "per_project": 2, "per_day": None}}
    with serve(api_settings(home, tier_limits=unlimited, queue_cap=100_000)) as api:
        owned = make_owned(api.engine, "alice")
        tokens = (api.token("alice"), api.token("root", admin=True))
        # FastAPI takes any MutableMapping for scope and messages, schemathesis's ASGIApp
        # alias says dict: the app is a valid ASGI app all the same.
        client = asgi.get_client(api.app)  # type: ignore[arg-type]
        yield Target(api, client, tokens, owned, _operations(api))


def _operations(api: Api) -> dict[str, Operation]:
    served = api.client.get("/openapi.json")
    if served.status_code != 200:
        pytest.fail(f"/openapi.json is not served ({served.status_code}): {served.text[:300]}")
    schema = schemathesis.openapi.from_dict(served.json())
    operations: dict[str, Operation] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        operations[operation.label] = operation
    return operations


def _cases(target: Target, label: str) -> st.SearchStrategy[Any]:
    """Positive and negative cases, on generated ids and on alice's, with either token."""
    operation = target.operations[label]
    real = {
        "session_id": target.owned.session_id,
        "project_id": target.owned.project_id,
        "escalation_id": target.owned.escalation_id,
        "owner": "alice",
    }
    names = {parameter.name for parameter in operation.path_parameters}
    paths: list[dict[str, Any]] = [{}]
    if names:
        paths.append({"path_parameters": {k: v for k, v in real.items() if k in names}})
    if label in BODIES:
        paths.append({"body": BODIES[label]})
    return st.one_of(
        [
            operation.as_strategy(generation_mode=mode, headers=bearer(token), **fixed)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for token in target.tokens
            for fixed in paths
        ]
    )


def _check(case: Any, response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        assert response.headers.get("content-type") == [PROBLEM], response.headers
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    case.validate_response(response, checks=checks)


@pytest.mark.parametrize("label", LABELS)
def test_no_request_gets_a_server_error_or_hangs(target: Target, label: str) -> None:
    streaming = label.endswith("/stream")
    timeout = STREAM_SECONDS if streaming else REQUEST_SECONDS

    @settings(
        max_examples=EXAMPLES // 6 if streaming else EXAMPLES,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure shows its case as is
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(target, label))
    def requests(case: Any) -> None:
        _check(case, case.call(session=target.client, timeout=timeout))

    requests()


def test_the_schema_documents_exactly_the_api(target: Target) -> None:
    assert {label for label in target.operations if f"{API}/" in label} == set(LABELS)
