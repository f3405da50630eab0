"""Schemathesis against the real app of a test stack, with real tokens and real case ids.

Hypothesis drives each operation from a worker thread; every request it makes is sent by the stack's own
httpx client on the test's event loop, where the app, its database engine and the Temporal worker live.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.routes.audit import HISTORY_UPLOAD
from tests.utils.stack import Stack, eventually, walk

# What every answer is held to. `positive_data_acceptance` is left out on purpose: a well-formed command
# is still refused (403, 404, 409) when the caller or the case's state does not allow it.
CONFORMS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
    response_schema_conformance,
]  # fmt: skip
CHECKS: dict[GenerationMode, list[CheckFunction]] = {
    GenerationMode.POSITIVE: CONFORMS,
    GenerationMode.NEGATIVE: [*CONFORMS, negative_data_rejection],  # and a request that breaks the schema is a 4xx
}

# Requests per operation and mode: bounded for CI; raise it to dig deeper (`LINLI_FUZZ_EXAMPLES=500`).
EXAMPLES = int(os.environ.get("LINLI_FUZZ_EXAMPLES", "25"))

# The tokens are real ones, passed in; generated Authorization headers would only ever meet a 401.
CONFIG = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})

Send = Callable[[Any], httpx.Response]

# Bodies no schema-driven generator makes: nesting far past any parser's stack, closed and never closed.
# Every operation that takes a body must refuse them as documented (422), before its route runs.
TOO_DEEP = {
    "nested 10,000 deep": b'{"a": [' * 5000 + b"0" + b"]}" * 5000,
    "10,000 brackets never closed": b"[" * 10_000,
}


async def seed_cases(stack: Stack, headers: dict[str, str]) -> list[str]:
    """Cases in every stage (one overdue at the town, one closed, one in another town), for path parameters."""
    ids = [(await stack.file(headers))["id"] for _ in range(6)]
    _, overdue, deliberating, announcing, follow_up, closed = ids
    await stack.ok(overdue, "submit", headers)
    await walk(stack, headers, deliberating, "deliberating")
    await walk(stack, headers, announcing, "announcing")
    await walk(stack, headers, follow_up, "follow_up")
    await stack.ok(closed, "withdraw", headers, reason="Fixed by the neighbours")
    elsewhere = (await stack.file(headers, unit="compound-b1x"))["id"]
    await eventually(lambda: stack.case(overdue, headers), lambda case: case["overdue"])
    return [*ids, elsewhere]


class Fuzzer:
    def __init__(
        self, stack: Stack, *, tokens: list[dict[str, str]], case_ids: list[str], max_examples: int = EXAMPLES
    ) -> None:
        self.stack, self.tokens, self.case_ids, self.max_examples = stack, tokens, case_ids, max_examples

    async def run(self) -> list[str]:
        """Fuzz every operation in both modes; returns the failures, each with its smallest example."""
        document = (await self.stack.http.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document, config=CONFIG)
        send = self._sender(asyncio.get_running_loop())
        return await asyncio.to_thread(self._fuzz_all, schema, send)

    def _fuzz_all(self, schema: Any, send: Send) -> list[str]:
        failures = []
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    self._fuzz(operation, mode, send)
                except Unsatisfiable:
                    pass  # nothing to make invalid: the operation takes no parameters and no body
                except (Exception, BaseExceptionGroup) as error:  # the smallest failing example, or a check's group
                    failures.append(f"{operation.label} [{mode.value}]\n{error}")
            if operation.body:
                try:
                    self._refuse_hostile_bodies(operation, send)
                except (Exception, BaseExceptionGroup) as error:
                    failures.append(f"{operation.label} [hostile body]\n{str(error)[:2000]}")  # its curl holds the body
        return failures

    def _refuse_hostile_bodies(self, operation: Any, send: Send) -> None:
        """Too deep for any parser (422) from every caller, and one byte past the route's size limit (413)."""
        settings = self.stack.settings
        large = (operation.method.upper(), operation.path) == HISTORY_UPLOAD
        too_large = b" " * ((settings.max_history_bytes if large else settings.max_body_bytes) + 1)
        known = {"case_id": self.case_ids[0], "year": 2026}  # a real case; a year with a schedule
        path = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path} or None
        hostile = [(self.tokens[0], "one byte too large", too_large, 413)]
        hostile += [(token, name, body, 422) for token in self.tokens for name, body in TOO_DEEP.items()]
        for token, name, body, status in hostile:
            case = operation.Case(body=body, media_type="application/json", headers=token, path_parameters=path)
            response = send(case)
            case.validate_response(response, checks=CONFORMS)
            assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"

    def _fuzz(self, operation: Any, mode: GenerationMode, send: Send) -> None:
        checks = CHECKS[mode]

        @settings(
            max_examples=self.max_examples, derandomize=True, database=None, deadline=None,
            suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )  # fmt: skip
        @given(case=self._cases(operation, mode))
        def check(case: Any) -> None:
            case.validate_response(send(case), checks=checks)

        check()

    def _cases(self, operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
        """Cases sent with one of the tokens; a case's path names one of the real cases or, now and then, any."""
        case_ids: list[str | None] = [*self.case_ids, None] if "{case_id}" in operation.path else [None]

        def build(token: dict[str, str], case_id: str | None) -> st.SearchStrategy[Any]:
            path = {"case_id": case_id} if case_id else None
            return operation.as_strategy(mode, headers=token, path_parameters=path)  # type: ignore[no-any-return]

        return st.tuples(st.sampled_from(self.tokens), st.sampled_from(case_ids)).flatmap(lambda t: build(*t))

    def _sender(self, loop: asyncio.AbstractEventLoop) -> Send:
        http = self.stack.http

        def send(case: Any) -> httpx.Response:
            kwargs = case.as_transport_kwargs(base_url=str(http.base_url).rstrip("/"))
            body = {"json": kwargs["json"]} if "json" in kwargs else {"content": kwargs.get("data")}
            request = http.request(
                kwargs["method"], kwargs["url"], headers=kwargs["headers"], params=kwargs["params"], **body
            )
            return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=120)

        return send
