"""schemathesis against the served OpenAPI document: no generated request ever gets a 5xx.

Every operation of ``/openapi.json`` is called with requests generated from its schema (and
beyond it: wrong types, missing fields), with the support token so the support endpoints are
exercised past authentication. The example count is bounded so the module runs in well under a
minute; each response must be below 500 and, when refused, a documented problem detail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation

from tokensim.server.api import create_app
from tokensim.server.core import load_support_token
from tokensim.server.problems import PROBLEMS

from .conftest import NO_ENV, fast_config

EXAMPLES = 25


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    config = fast_config(Path(tmp_path_factory.mktemp("schemathesis")) / "data")
    app = create_app(config, environ=NO_ENV)
    try:
        yield app, load_support_token(config.token_path, environ=NO_ENV)
    finally:
        app.state.service.close()


def _operations(app: object) -> list[APIOperation]:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in loaded.get_all_operations()]


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_no_generated_request_gets_a_5xx(served: tuple[object, str], mode: GenerationMode) -> None:
    app, token = served
    operations = _operations(app)
    assert len(operations) >= 20  # the whole API, not an empty document
    failures: list[str] = []
    exercised = 0
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode))
        def call(case: Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )
            elif response.status_code >= 400 and response.json().get("code") not in PROBLEMS:
                failures.append(
                    f"{case.method} {case.formatted_path}: not a problem detail: {response.text[:300]}"
                )

        try:
            call()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, no body): positive only.
            assert mode is GenerationMode.NEGATIVE
            continue
        exercised += 1
    assert failures == []
    assert exercised >= 10
