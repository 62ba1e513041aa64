"""Malformed Dash callback requests get a 400, not a 500 and a traceback in the log.

Dash 4 dispatches ``POST /_dash-update-component`` in ``dash/backends/_flask.py`` (``serve_callback``'s
``_dispatch``): ``request.get_json()``, then ``Dash._initialize_context`` (``body.get("inputs")`` ...),
``Dash._prepare_callback`` (``callback_map[body["output"]]``, grouping the inputs by index) and the
callback's wrapper (``_validate.validate_output_spec``, ``validate_and_group_input_args``), all trusting the
body's shape: ``null``, ``[]``, a missing ``output``, an unknown callback, too few inputs or an output of
another callback each raised ``AttributeError``/``KeyError``/``IndexError``/``InvalidCallbackReturnValue``,
answered 500 with about 2 KB of traceback in the log each.

Dash has no hook between reading the body and running the callback, so this module wraps the dispatch view
(``server.view_functions["/_dash-update-component"]``) and does two things:

1. **Checks the body against the callback it names** before Dash sees it (``problem``): a JSON object; an
   ``output`` that is a registered callback; ``outputs``, ``inputs`` and ``state`` with as many entries as the
   callback declares, each ``{"id", "property"}`` naming the declared component and property (pattern-matching
   ids, which the app does not use yet, are checked for shape only); ``changedPropIds`` a list of strings.
   The values themselves are the callbacks' to check (each validates its own inputs).
2. **Classifies whatever Dash still raises**: an exception raised while Dash was reading the request (no frame
   of the callback itself, ``dash._callback._invoke_callback``, nor of the answer's preparation,
   ``_prepare_response``, on its traceback) is the request's fault: 400. One raised by a callback or by what it
   returned is the server's: it goes on to Flask (and Dash's ``PreventUpdate`` to its 204) unchanged.

A 400 is logged as one line (no traceback) and answered ``{"error", "status"}`` in JSON. This module does not
import Dash (web/ never does): it is given the app's ``callback_map``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

__all__ = ["DISPATCH_PATH", "init_app", "problem"]

log = logging.getLogger(__name__)

DISPATCH_PATH = "/_dash-update-component"
#: Frames of dash/_callback.py inside which an exception is the callback's (or its return value's), not the body's.
_CALLBACK_FRAMES = ("_invoke_callback", "_async_invoke_callback", "_prepare_response")
_DASH_CALLBACK_FILE = os.path.join("dash", "_callback.py")


#: Checks of input values for callbacks the app does not own and so cannot make check their inputs: Dash's
#: page router (``use_pages``) takes a browser's Location, and raised on a pathname not starting with "/"
#: (``UnsupportedRelativePath``) or on anything but strings.
VALUE_CHECKS: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("_pages_location", "pathname"): (lambda v: v is None or (isinstance(v, str) and v.startswith("/")),
                                      "a path starting with /"),
    ("_pages_location", "search"): (lambda v: v is None or isinstance(v, str), "a string"),
}


def _declared(items: Any) -> list[tuple[Any, str]]:
    """(id, property) of each declared dependency, from callback_map's dicts or Dash's Output objects."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, Mapping):
            cid = item.get("id")
            if isinstance(cid, str) and cid.startswith("{"):
                # Dash's callback_map keeps a pattern-matching id as its JSON text ({"i":["ALL"],...})
                try:
                    cid = json.loads(cid)
                except ValueError:
                    pass
            out.append((cid, str(item.get("property"))))
        else:
            out.append((getattr(item, "component_id", None), str(getattr(item, "component_property", ""))))
    return out


def _prop(name: Any) -> str:
    # ``allow_duplicate`` outputs carry "@<hash>" after the property name.
    return str(name).split("@", 1)[0]


def _check_one(where: str, item: Any, declared_id: Any, declared_prop: str) -> str | None:
    if isinstance(declared_id, Mapping):  # pattern-matching: a list of matches, or one
        matches = item if isinstance(item, list) else [item]
        for i, match in enumerate(matches):
            if not isinstance(match, Mapping) or not isinstance(match.get("id"), Mapping) \
                    or not isinstance(match.get("property"), str):
                return f"{where}[{i}] must be an object with a pattern id and a property"
        return None
    if not isinstance(item, Mapping):
        return f"{where} must be an object with an id and a property"
    if item.get("id") != declared_id or _prop(item.get("property")) != _prop(declared_prop):
        return (f"{where} is {_short(item.get('id'))}.{_short(item.get('property'))}, but this callback's is "
                f"{declared_id}.{_prop(declared_prop)}")
    check = VALUE_CHECKS.get((declared_id, _prop(declared_prop)))
    if check and not check[0](item.get("value")):
        return f"{where} ({declared_id}.{_prop(declared_prop)}) must be {check[1]}"
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:limit]
    return text if len(text) <= limit else text[:limit] + "…"


def _check_list(name: str, given: Any, declared: list[tuple[Any, str]]) -> str | None:
    if not isinstance(given, list):
        return f"{name} must be a list"
    if len(given) != len(declared):
        return f"{name} has {len(given)} entries; this callback has {len(declared)}"
    for i, (item, (cid, prop)) in enumerate(zip(given, declared, strict=True)):
        found = _check_one(f"{name}[{i}]", item, cid, prop)
        if found:
            return found
    return None


def problem(body: Any, callback_map: Mapping[str, Mapping[str, Any]]) -> str | None:
    """What is wrong with a callback request's JSON ``body`` for the app's ``callback_map``, or None."""
    if not isinstance(body, Mapping):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "the body must name the callback's output (a string)"
    callback = callback_map.get(output)
    if callback is None:
        return f"no callback has the output {_short(output)}"
    if not callback.get("no_output"):
        declared = _declared(callback.get("output"))
        outputs = body.get("outputs")
        if output.startswith(".."):  # several outputs: a list, in the declared order
            found = _check_list("outputs", outputs, declared)
        elif len(declared) == 1:
            found = _check_one("outputs", outputs, *declared[0])
        else:
            found = "outputs do not match this callback's"
        if found:
            return found
    for name, key in (("inputs", "inputs"), ("state", "state")):
        given = body.get(name, [] if name == "state" else None)
        found = _check_list(name, given, _declared(callback.get(key)))
        if found:
            return found
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    # Dash's own page router matches the address's path against the pages' templates (/profile/<place>):
    # a path that is not text would fail inside Dash, not in a callback of ours.
    for item in body.get("inputs") or []:
        if isinstance(item, Mapping) and item.get("id") == "_pages_location" and item.get("property") == "pathname" \
                and not isinstance(item.get("value"), str):
            return "_pages_location.pathname must be text"
    return None


def _raised_by_callback(exc: BaseException) -> bool:
    """True when the traceback passes through the callback itself or the preparation of its answer."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name in _CALLBACK_FRAMES and code.co_filename.endswith(_DASH_CALLBACK_FILE):
            return True
        tb = tb.tb_next
    return False


def _bad_request(message: str) -> flask.Response:
    log.warning("400 POST %s: %s", flask.request.path, message)
    body = json.dumps({"error": f"bad callback request: {message}", "status": 400}, ensure_ascii=False)
    return flask.Response(body, status=400, mimetype="application/json")


def guard(view: Callable[..., Any], callback_map: Callable[[], Mapping[str, Any]]) -> Callable[..., Any]:
    """``view`` (Dash's dispatch) behind the checks above."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        body = flask.request.get_json(silent=True)
        found = problem(body, callback_map())
        if found:
            return _bad_request(found)
        try:
            return view(*args, **kwargs)
        except HTTPException:
            raise
        except Exception as exc:
            if _raised_by_callback(exc):
                raise
            return _bad_request(f"{type(exc).__name__}: {_short(str(exc), 200)}")

    return guarded


def init_app(server: flask.Flask, callback_map: Callable[[], Mapping[str, Any]],
             endpoint: str = DISPATCH_PATH) -> None:
    """Put Dash's dispatch view on ``server`` behind the guard. ``callback_map`` returns the Dash app's
    (filled on its first request, so it is read per request)."""
    view = server.view_functions[endpoint]
    if getattr(view, "__atlas_guarded__", False):
        return
    guarded = guard(view, callback_map)
    guarded.__atlas_guarded__ = True  # type: ignore[attr-defined]
    server.view_functions[endpoint] = guarded
