"""schemathesis with every check over the served OpenAPI document finds no failure.

Every operation of ``/openapi.json`` is called with requests generated from its schema (a bounded
fuzzing run, positive and negative), with the support token on the support endpoints and a real
user's session token on the session endpoints, so both are exercised past authentication.
``call_and_validate`` runs all of schemathesis's checks on each response: no 5xx, schema-valid
requests accepted (no 422 for a request the document allows), invalid ones refused, every status,
content type and documented header as declared, response bodies as their schema says, 405s with the
right ``Allow`` and a 401 without credentials.

Run time is bounded by ``EXAMPLES`` per operation and mode. The coverage and stateful phases are
the CLI's (``schemathesis run --checks all``, as docs/developer.md shows); this module keeps to what
the Python API runs in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import Failure, FailureGroup

from tokensim.server.client import TokensimClient
from tokensim.server.core import load_support_token
from tokensim.server.http.app import create_app
from tokensim.server.testing.harness import Harness

from .conftest import NO_ENV, PASSWORD, PHONE, fast_config

EXAMPLES = 15


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    config = fast_config(Path(tmp_path_factory.mktemp("schemathesis")) / "data")
    app = create_app(config, environ=NO_ENV)
    try:
        yield app, load_support_token(config.token_path, environ=NO_ENV)
    finally:
        app.state.service.close()


@pytest.fixture(scope="module")
def support_token(served: tuple[Any, str]) -> str:
    return served[1]


@pytest.fixture(scope="module")
def session_token(served: tuple[Any, str]) -> str:
    """A session of a user with a code card, so the session routes are exercised past authentication."""
    app, support = served
    client = TokensimClient.in_process(app, support_token=support)
    client.create_user("fuzz", PASSWORD, phones=[PHONE], equity=2_000_000, start_with_sms=False)
    harness = Harness(client)
    return harness.login("fuzz", PASSWORD, harness.enroll("fuzz", "scc")).grant.token


def _token_for(operation: Any, support: str, session: str) -> str:
    names = {name for item in operation.definition.raw.get("security", []) for name in item}
    # DELETE /v1/session would end the session the other routes use: it gets a wrong one (a 401).
    if "session" in names and not (operation.method.upper() == "DELETE" and operation.path == "/v1/session"):
        return session
    return support


@pytest.fixture(scope="module")
def api_schema(served: tuple[Any, str]) -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", served[0])
    # No made-up query parameters: one whose value is an empty list is not sent at all, so the
    # "invalid" request arrives valid (test_api_contract checks that unknown ones are refused).
    loaded.config.generation.update(allow_extra_parameters=False)
    return loaded


def test_the_whole_api_is_covered(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 50  # every route, not an empty document
    secured = [op for op in operations if op.definition.raw.get("security")]
    assert len(secured) >= 35


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_every_check_passes(
    api_schema: Any, support_token: str, session_token: str, mode: GenerationMode
) -> None:
    # The operations are looped here rather than by ``@schema.parametrize()``: its lazy
    # (fixture-loaded) form does not run under pytest 9, and loading the app at import time would
    # open a database whenever the suite is collected.
    failures: dict[str, list[str]] = {}
    exercised = 0
    for operation in [result.ok() for result in api_schema.get_all_operations()]:
        chosen = _token_for(operation, support_token, session_token)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode), headers=st.just({"Authorization": f"Bearer {chosen}"}))
        def call(case: Case, headers: dict[str, str]) -> None:
            response = case.call(headers=headers)
            try:
                # What call_and_validate does, keeping the response for the report.
                case.validate_response(response, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    _record(failures, failure, case, response.text)
            except Failure as failure:
                _record(failures, failure, case, response.text)

        try:
            call()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, no body): positive only.
            assert mode is GenerationMode.NEGATIVE
            continue
        exercised += 1
    print(f"{mode.value}: {exercised} operations, failures by check: {_counts(failures)}")
    assert failures == {}, "\n\n".join(item for found in failures.values() for item in found)
    assert exercised >= 20


def _record(failures: dict[str, list[str]], failure: Failure, case: Case, answer: str) -> None:
    checks = ",".join(getattr(failure, "checks", ()) or (type(failure).__name__,))
    sent = f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.200}"
    failures.setdefault(checks, []).append(f"{sent}: {str(failure)[:300]} -> {answer[:300]}")


def _counts(failures: dict[str, list[str]]) -> dict[str, int]:
    return {check: len(found) for check, found in sorted(failures.items())}
