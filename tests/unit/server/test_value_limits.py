"""POST /executions with a value that could not be stored: 422 naming the input and the limit,
and no execution created; one just under the limits is 201 and reads back exactly.

(Integers Python's JSON parser will not read, and bodies past the server's own depth cap, are
refused by the server before they are values.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .support import API, TestClient, launch_body

NINES = "9" * 4300


def post(client: TestClient, inputs_json: str) -> Any:
    """The request as raw JSON text: the test client's own encoder cannot write what is refused."""
    body = json.dumps(launch_body(inputs={})).replace('"inputs": {}', f'"inputs": {inputs_json}')
    return client.post(f"{API}/executions", content=body, headers={"content-type": "application/json"})


REFUSED = {
    "101 levels of nesting": ('{"x": ' + "[" * 101 + "]" * 101 + "}", "more than 100 levels deep"),
    "a NaN": ('{"x": NaN}', "non-finite float"),
    "a lone surrogate": ('{"x": "\\ud800"}', "not valid Unicode"),
    "a pickle reference": ('{"x": {"$pickle": "bundles/' + "0" * 64 + '.zip"}}', "$pickle"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_value_over_a_limit_is_422_naming_the_input_and_the_limit_and_creates_nothing(
    client: TestClient, case: str
) -> None:
    inputs_json, limit = REFUSED[case]
    answer = post(client, inputs_json)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    text = json.dumps(detail)
    assert detail["input"] == "x", detail
    assert limit in text, detail
    assert client.get(f"{API}/executions").json()["executions"] == []


def test_a_4300_digit_integer_is_201_and_reads_back_exactly(client: TestClient) -> None:
    answer = post(client, '{"x": -' + NINES + "}")
    assert answer.status_code == 201, answer.text
    record = client.get(f"{API}/executions/{answer.json()['id']}")
    assert record.json()["inputs"]["x"] == -int(NINES)
