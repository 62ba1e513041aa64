"""Saved areas over HTTP: ``POST /api/places`` makes one (codes, a GeoJSON polygon, or a centre and radius),
``GET /api/places/<code>`` and ``DELETE /api/places/<code>`` read and delete it (atlas/areas.py). A saved
area is then a place of the profile and of areas like mine (web/profile.py resolves its code).

Writes take an API token (``Authorization: Bearer``) or a signed-in session with its CSRF token
(``X-CSRFToken``); an area one may not read answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Any

import flask

from atlas import access, areas, catalogue
from atlas import profile as atlas_profile
from web import auth, errors
from web import profile as web_profile

__all__ = ["ROUTES", "blueprint", "init_app"]

blueprint = flask.Blueprint("areas", __name__)

ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/places (POST)",
     "Save your own area (signed in: a Bearer token, or the session with X-CSRFToken): JSON {name, level, and one "
     "of codes [...], polygon (GeoJSON, WGS84) or centre {lat, lon} with radius (metres); access private "
     "(default), organisation (+ organisation id), partnership (+ partnership id) or public}. An area is in when "
     "its representative point is inside the polygon or circle. 201 with its code (A<id>) and its areas."),
    ("/api/places/<code>", "GET: a saved area you may open (its name, level, codes, access, how it was made). "
                           "DELETE: its owner deletes it. 404 for one you may not open."),
)


def _json(payload: Any, status: int = 200) -> flask.Response:
    response = web_profile._json(payload, status)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _writer() -> access.Actor:
    actor = auth.actor()
    if actor.via == "session":
        auth.CSRF.protect()  # a cookie alone never makes or deletes an area
    if not actor.signed_in or actor.user_id is None:
        flask.abort(errors.json_error(401, "sign in (or send an API token) to save or delete an area"))
    return actor


@access.declares("area.save")
def create() -> flask.Response:
    actor = _writer()
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        return errors.json_error(400, "send a JSON object: {name, level, codes | polygon | centre + radius, access}",
                                 parameter="body")
    known = {"name", "level", "codes", "polygon", "centre", "radius", "access", "organisation", "partnership"}
    extra = sorted(k for k in body if k not in known)
    if extra:
        return errors.json_error(400, f"unknown field {extra[0][:40]!r}; fields: {', '.join(sorted(known))}",
                                 parameter=extra[0][:40])
    s = catalogue.of_request()
    level = body.get("level")
    if not isinstance(level, str):
        return errors.json_error(400, "level must be one of " + ", ".join(lv for lv in s.levels if lv != "lad"),
                                 parameter="level")
    try:
        chosen, how, definition = areas.select(s, level, codes=body.get("codes"), polygon=body.get("polygon"),
                                               centre=body.get("centre"), radius=body.get("radius"))
        saved = areas.create(actor, body.get("name"), level, chosen, how, definition, body.get("access", "private"),
                             body.get("organisation"), body.get("partnership"))
    except areas.BadArea as exc:
        return errors.json_error(400, str(exc), parameter=exc.field)
    except PermissionError as exc:
        return errors.json_error(403, f"you may not save an area so: {exc}")
    response = _json(saved.as_json(), 201)
    response.headers["Location"] = flask.url_for("areas.one", code=saved.code)
    return response


def _unknown(code: str) -> flask.Response:
    return errors.json_error(404, f"no saved area {code[:20]!r} that you may open", what="place", value=code[:20])


@access.declares("area.read")
def one(code: str) -> flask.Response:
    found = areas.get(auth.actor(), code)
    return _unknown(code) if found is None else _json(found.as_json())


@access.declares("area.delete")
def remove(code: str) -> flask.Response:
    actor = _writer()
    try:
        done = areas.delete(actor, code)
    except PermissionError as exc:
        return errors.json_error(403, f"you may not delete it: {exc}")
    return _unknown(code) if not done else flask.Response(status=204)


def _resolve(s: catalogue.Catalogue, code: str) -> atlas_profile.Subject | None:
    """A saved area as a profile's subject, for the request's actor (None: not one, or not theirs to open)."""
    return areas.subject(s, code, auth.actor())


blueprint.add_url_rule("/api/places", "create", create, methods=["POST"])
blueprint.add_url_rule("/api/places/<code>", "one", one, methods=["GET"])
blueprint.add_url_rule("/api/places/<code>", "remove", remove, methods=["DELETE"])
errors.register(blueprint)


def init_app(server: flask.Flask) -> None:
    """Register the saved areas' routes, and their codes as places of the profile and areas like mine."""
    errors.init_app(server)
    server.register_blueprint(blueprint)
    web_profile.saved_resolver(_resolve)
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
