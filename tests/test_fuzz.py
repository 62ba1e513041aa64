"""Hostile requests to every route and every server callback: never a 5xx, never a traceback to the client.

Routes come from the app's own url_map and callbacks from its /_dash-dependencies, so a route or callback
added later is fuzzed without touching this file. Hypothesis draws the requests: wrong types, missing
fields, unknown ids, huge and odd values, hostile strings (formulas, markup, path traversal, control
characters, long text). Every 4xx must also be logged without a traceback (one line, web/callback_guard.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

CAMDEN = "E09000007"
VALID_SEARCH = (f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                "&variable_b=imd2019_imd_rank&areas=E01000842")
HOSTILE = [
    "", " ", "0", "-1", "1e309", "NaN", "null", "true", "[]", "{}", "..", "../../etc/passwd", "%00", "\x00",
    "\r\nSet-Cookie: a=b", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "=HYPERLINK(\"x\")",
    "@SUM(1)", "+1-1", "' OR 1=1 --", "; DROP TABLE areas", "${jndi:ldap://x}", "{{7*7}}", "\u202e\u0000\ufeff",
    "é" * 300, "x" * 5000, CAMDEN, "all", "lsoa11", "oa11", "lad", "ks102ew0002", "ks102ew0014_pct",
    "imd2019_imd_rank", "E01000842", "compare", "explore", "quantiles", "custom", VALID_SEARCH, "?" + "&" * 400,
    "P1", "p1", "P0", "P99999999999999999999", "ds1", "ds1_value",
    "?authority=E09000007&breaks=1,2,3&scheme=custom&k=99", "png", "svg", "pdf", "csv", "json", "pbf",
]
text = st.sampled_from(HOSTILE) | st.text(max_size=40)
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(text, inner, max_size=4), max_leaves=12)
compare_state = st.fixed_dictionaries({}, optional={
    "view": st.sampled_from(["compare", "explore"]) | values, "search": st.just(VALID_SEARCH) | values,
    "areas": st.lists(st.sampled_from(["E01000842", "E01000850"]) | text, max_size=5) | values,
    "variable_b": st.just("imd2019_imd_rank") | values, "authority": st.just(CAMDEN) | values,
    "level": st.just("lsoa11") | values, "key_b": values, "key_rel": values})
view_state = st.fixed_dictionaries({}, optional={"search": st.just(VALID_SEARCH) | values, "state": values})
#: Values shaped like the ones the browser sends, more often than pure noise, to reach deeper code.
plausible = values | compare_state | view_state


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Any]:
    mp = pytest.MonkeyPatch()
    mp.setenv("ATLAS_DATA_DIR", str(data_dir))
    mp.setenv("ATLAS_TILES_URL", "")
    mp.setenv("ATLAS_CACHE_TYPE", "SimpleCache")
    mp.setenv("ATLAS_EXPORT_POOL", "thread")  # no render processes to start; the pool itself is tested elsewhere
    import app as app_module

    client = app_module.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 200
    yield app_module.server
    mp.undo()


@pytest.fixture(scope="module")
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def _check(response: Any, records: _Records, what: str) -> None:
    body = response.get_data().decode("utf-8", "replace")
    assert response.status_code < 500, (what, response.status_code, body[:500])
    assert "Traceback" not in body and 'File "' not in body, (what, body[:500])
    if 400 <= response.status_code < 500:
        tracebacks = [r for r in records.records if r.exc_info]
        assert not tracebacks, (what, [r.getMessage() for r in tracebacks])
    records.records.clear()


# -- every route ------------------------------------------------------------------------------------------

def _rules(server: Any) -> list[Any]:
    return sorted(server.url_map.iter_rules(), key=lambda r: r.rule)


def _fill(rule: Any, draw: Any) -> str:
    """A path for ``rule`` with each <converter> replaced by a drawn segment (quoted, so it stays a path)."""
    def one(match: re.Match) -> str:
        segment = draw(text)
        kind = match.group(1) or "string"
        if kind == "path":
            return "/".join(quote(part, safe="") or "x" for part in segment.split("/"))
        return quote(segment, safe="") or "x"
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", one, rule.rule)


@st.composite
def route_requests(draw: Any, rules: list[Any]) -> tuple[str, str, dict]:
    rule = draw(st.sampled_from(rules))
    path = _fill(rule, draw)
    own = sorted((rule.methods or {"GET"}) - {"OPTIONS"})
    method = draw(st.sampled_from(own) if draw(st.integers(0, 4)) else st.sampled_from(["POST", "PUT", "DELETE"]))
    query = draw(st.lists(st.tuples(text, text), max_size=5))
    body = draw(st.none() | st.binary(max_size=200) | values.map(lambda v: json.dumps(v, default=str).encode()))
    return method, path + ("?" + urlencode(query) if query else ""), {"data": body}


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_route_answers_5xx_or_a_traceback(server, records, data) -> None:
    client = server.test_client()
    method, url, kwargs = data.draw(route_requests(_rules(server)))
    response = client.open(url, method=method, **kwargs)
    _check(response, records, f"{method} {url[:200]}")
    event(f"status {response.status_code}")


def test_every_route_is_fuzzed(server) -> None:
    """The strategy above samples the url_map itself: every rule, the data API's and the downloads' too."""
    rules = {r.rule for r in _rules(server)}
    assert {"/api/values/<authority>/<level>/<filename>", "/export/map.<format>", "/datapack/<authority>.zip",
            "/_dash-update-component", "/<path:path>"} <= rules


# -- every server callback --------------------------------------------------------------------------------

def _server_callbacks(server: Any) -> list[dict]:
    deps = server.test_client().get("/_dash-dependencies").get_json()
    return [d for d in deps if not d.get("clientside_function")]


def _outputs(output: str) -> list[dict] | dict:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    specs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    return specs if output.startswith("..") else specs[0]


@st.composite
def callback_bodies(draw: Any, callbacks: list[dict]) -> Any:
    cb = draw(st.sampled_from(callbacks))
    inputs = [{**i, "value": draw(plausible)} for i in cb["inputs"]]
    state = [{**s, "value": draw(plausible)} for s in cb["state"]]
    body: dict[str, Any] = {"output": cb["output"], "outputs": _outputs(cb["output"]), "inputs": inputs,
                            "state": state, "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs[:1]]}
    mutation = draw(st.sampled_from(["none"] * 6 + ["drop", "unknown_id", "wrong_type", "swap", "noise", "short"]))
    if mutation == "drop":
        body.pop(draw(st.sampled_from(sorted(body))))
    elif mutation == "unknown_id":
        target = draw(st.sampled_from(["output", "inputs", "state", "outputs"]))
        if target == "output":
            body["output"] = draw(text)
        elif body[target]:
            first = body[target][0] if isinstance(body[target], list) else body[target]
            first["id"] = draw(text)
    elif mutation == "wrong_type":
        body[draw(st.sampled_from(sorted(body)))] = draw(values)
    elif mutation == "swap":  # another callback's output with this one's inputs
        body["output"] = draw(st.sampled_from(callbacks))["output"]
    elif mutation == "short":
        body["inputs"] = body["inputs"][:-1]
    elif mutation == "noise":
        return draw(values)
    return body


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_callback_answers_5xx_or_a_traceback(server, records, data) -> None:
    callbacks = _server_callbacks(server)
    body = data.draw(callback_bodies(callbacks))
    response = server.test_client().post("/_dash-update-component", data=json.dumps(body, default=str),
                                         content_type="application/json")
    _check(response, records, json.dumps(body, default=str)[:300])
    assert response.status_code in (200, 204, 400), response.status_code
    event(f"status {response.status_code}")


def test_every_server_callback_is_fuzzed_and_a_valid_request_still_works(server) -> None:
    callbacks = _server_callbacks(server)
    outputs = " ".join(c["output"] for c in callbacks)
    assert "embed-snippet.value" in outputs and "compare-profile.children" in outputs
    assert "compare-download.data" in outputs
    # A well-formed request passes the guard and reaches the callback.
    cb = next(c for c in callbacks if "compare-profile.children" in c["output"])
    state = {"view": "compare", "search": VALID_SEARCH, "areas": ["E01000842"], "variable_b": "imd2019_imd_rank",
             "authority": CAMDEN, "level": "lsoa11"}
    values_ = {"compare-selected": "E01000850", "compare-state": state, "compare-topic": None, "compare-picks": None}
    body = {"output": cb["output"], "outputs": _outputs(cb["output"]),
            "inputs": [{**i, "value": values_[i["id"]]} for i in cb["inputs"]], "state": [],
            "changedPropIds": ["compare-selected.data"]}
    response = server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "E01000850" in response.get_data(as_text=True)


@pytest.mark.parametrize("body", [
    "not json", "null", "[]", "{}", '{"output": 1}', '{"output": "nope.children"}',
    '{"output": "compare-profile.children", "outputs": {"id": "compare-profile", "property": "children"}}',
    '{"output": "compare-profile.children", "outputs": {"id": "x", "property": "children"}, "inputs": []}',
])
def test_malformed_callback_bodies_are_400_with_one_log_line(server, records, body) -> None:
    records.records.clear()
    response = server.test_client().post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"].startswith("bad callback request")
    ours = [r for r in records.records if r.name == "web.callback_guard"]
    assert len(ours) == 1 and not ours[0].exc_info, [r.getMessage() for r in records.records]
    records.records.clear()
