"""Every decision a named action (atlas/access.py): every HTTP route, Dash callback and `atlas` command declares
the action it performs, and one that does not fails here (CKAN's "did not call its auth function"); a route
that declares none is refused at run time; the matrix of actions for every kind of user; the site
administrators' "may X do Y to Z, and why" page; docs/security.md holds the table the code generates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas import access

ROOT = Path(__file__).resolve().parent.parent

CAMDEN, ISLINGTON, HACKNEY, LEEDS = 1, 2, 3, 4
P_NORTH_LONDON = access.PartnershipRef(7, accepted=frozenset({CAMDEN, ISLINGTON}), invited=frozenset({HACKNEY}))
ACTORS = {
    "anonymous": access.ANONYMOUS,
    "outsider": access.Actor(user_id=10, email="o@x"),
    "owner_member": access.Actor(user_id=11, roles=((CAMDEN, "member"),), partnerships=frozenset({7})),
    "owner_editor": access.Actor(user_id=12, roles=((CAMDEN, "editor"),), partnerships=frozenset({7})),
    "owner_admin": access.Actor(user_id=13, roles=((CAMDEN, "admin"),), partnerships=frozenset({7})),
    "partner_member": access.Actor(user_id=14, roles=((ISLINGTON, "member"),), partnerships=frozenset({7})),
    "invited_admin": access.Actor(user_id=15, roles=((HACKNEY, "admin"),)),
    "other_editor": access.Actor(user_id=16, roles=((LEEDS, "editor"),)),
    "site_admin": access.Actor(user_id=17, site_admin=True),
}
CAMDEN_ORG = access.Org(CAMDEN, "E09000007", frozenset({"E09000007", "E09000019"}))
RESOURCES = {
    "public": access.Rule(1, CAMDEN, "public"),
    "registered": access.Rule(2, CAMDEN, "registered"),
    "organisation": access.Rule(3, CAMDEN, "organisation"),
    "partnership": access.Rule(4, CAMDEN, "partnership", partnerships=frozenset({7})),
    # saved areas of owner_member (user 11), and areas asked to be saved so
    "area private": access.SavedArea(11, "private"),
    "area organisation": access.SavedArea(11, "organisation", org_id=CAMDEN),
    "area partnership": access.SavedArea(11, "partnership", partnership_id=7),
    "area public": access.SavedArea(11, "public"),
    "new private": access.SavedArea(None, "private"),
    "new organisation": access.SavedArea(None, "organisation", org_id=CAMDEN),
    "new partnership": access.SavedArea(None, "partnership", partnership_id=7),
}
Y, N = True, False
#: (action, resource) -> who may, in the order of ACTORS.
EXPECTED: dict[tuple[str, str], tuple[bool, ...]] = {
    #                               anon out  mem  ed   adm  part inv  other site
    ("dataset.read", "public"):       (Y, Y, Y, Y, Y, Y, Y, Y, Y),
    ("dataset.read", "registered"):   (N, Y, Y, Y, Y, Y, Y, Y, Y),
    ("dataset.read", "organisation"): (N, N, Y, Y, Y, N, N, N, Y),
    ("dataset.read", "partnership"):  (N, N, Y, Y, Y, Y, N, N, Y),
    ("dataset.embed", "public"):      (Y, Y, Y, Y, Y, Y, Y, Y, Y),
    ("dataset.embed", "organisation"): (N, N, N, N, N, N, N, N, N),
    ("dataset.embed", "partnership"): (N, N, N, N, N, N, N, N, N),
    ("dataset.version", "public"):    (N, N, N, Y, Y, N, N, N, Y),
    ("dataset.version", "partnership"): (N, N, N, Y, Y, N, N, N, Y),
    ("dataset.feed", "public"):       (N, N, N, Y, Y, N, N, N, Y),
    ("dataset.share", "public"):      (N, N, N, N, Y, N, N, N, Y),
    ("dataset.share", "organisation"): (N, N, N, N, Y, N, N, N, Y),
    ("dataset.publish", "camden"):    (N, N, N, Y, Y, N, N, N, Y),
    ("place.publish", "camden onto camden"): (N, N, N, Y, Y, N, N, N, Y),
    ("place.publish", "camden onto islington"): (N, N, N, Y, Y, N, N, N, Y),
    ("place.publish", "camden onto hackney"): (N, N, N, N, N, N, N, N, N),
    ("place.read", "P7"):             (N, N, Y, Y, Y, Y, N, N, Y),
    ("place.read", "E09000007"):      (Y, Y, Y, Y, Y, Y, Y, Y, Y),
    ("partnership.view", "P7"):       (N, N, Y, Y, Y, Y, Y, N, Y),
    ("area.read", "area private"):    (N, N, Y, N, N, N, N, N, Y),
    ("area.read", "area organisation"): (N, N, Y, Y, Y, N, N, N, Y),
    ("area.read", "area partnership"): (N, N, Y, Y, Y, Y, N, N, Y),
    ("area.read", "area public"):     (Y, Y, Y, Y, Y, Y, Y, Y, Y),
    ("area.save", "new private"):     (N, Y, Y, Y, Y, Y, Y, Y, Y),
    ("area.save", "new organisation"): (N, N, Y, Y, Y, N, N, N, Y),
    ("area.save", "new partnership"): (N, N, Y, Y, Y, Y, N, N, Y),
    ("area.delete", "area public"):   (N, N, Y, N, N, N, N, N, Y),
    ("area.delete", "area private"):  (N, N, Y, N, N, N, N, N, Y),
    ("org.view", "camden"):           (N, N, Y, Y, Y, N, N, N, Y),
    ("org.members", "camden"):        (N, N, N, N, Y, N, N, N, Y),
    ("account.self", "-"):            (N, Y, Y, Y, Y, Y, Y, Y, Y),
    ("site.admin", "-"):              (N, N, N, N, N, N, N, N, Y),
    ("site.view", "-"):               (Y, Y, Y, Y, Y, Y, Y, Y, Y),
}


def _resource(name: str) -> object:
    if name in RESOURCES:
        return RESOURCES[name]
    if name == "camden":
        return CAMDEN_ORG
    if name == "P7":
        return P_NORTH_LONDON
    if name.startswith("camden onto "):
        return access.Target(CAMDEN_ORG, {"camden": "E09000007", "islington": "E09000019",
                                          "hackney": "E09000012"}[name.rsplit(" ", 1)[1]])
    return None if name == "-" else name


@pytest.mark.parametrize(("action", "resource"), list(EXPECTED))
def test_the_matrix_of_actions_for_every_kind_of_user(action: str, resource: str) -> None:
    got = tuple(access.allowed(actor, action, _resource(resource)) for actor in ACTORS.values())
    assert got == EXPECTED[(action, resource)], dict(zip(ACTORS, got, strict=True))
    for actor in ACTORS.values():  # every answer says why, and the reason is words, not a code
        ok, why = access.explain(actor, action, _resource(resource))
        assert ok == access.allowed(actor, action, _resource(resource)) and len(why) > 10


def test_every_action_is_in_the_matrix_and_an_unknown_one_is_refused() -> None:
    assert {a for a, _ in EXPECTED} | {"partnership.share"} == set(access.ACTIONS)
    assert access.explain(access.OPERATOR, "dataset.delete_all") == (False, "no action 'dataset.delete_all'")
    share = access.Share(P_NORTH_LONDON, CAMDEN)
    assert access.allowed(access.ANONYMOUS, "partnership.share", share)
    assert not access.allowed(access.ANONYMOUS, "partnership.share", access.Share(P_NORTH_LONDON, HACKNEY))
    with pytest.raises(ValueError, match="unknown action"):
        access.declares("dataset.nothing")


def test_every_route_callback_and_command_declares_its_action(atlas_env: Path) -> None:
    import dash

    import app
    from atlas import cli
    from web import auth

    server = app.server
    undeclared = [(rule.rule, rule.endpoint) for rule in server.url_map.iter_rules()
                  if auth.endpoint_action(server, rule.endpoint) not in access.ACTIONS]
    assert undeclared == [], "routes that declare no action (access.declares, or auth.FRAMEWORK_ACTIONS)"
    callbacks = dict(dash._callback.GLOBAL_CALLBACK_MAP) | dict(app.app.callback_map)
    server_side = {k: v["callback"] for k, v in callbacks.items() if v.get("callback") is not None}
    assert len(server_side) >= 8
    missing = [k for k, fn in server_side.items() if auth.callback_action(k, fn) not in access.ACTIONS]
    assert missing == [], "callbacks that declare no action"
    # every command the parser accepts is in cli.COMMANDS
    parser = cli._parser()
    commands = set()
    for what, sub in parser._subparsers._group_actions[0].choices.items():
        inner = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        if inner:
            commands |= {(what, action) for action in inner[0].choices}
        else:
            commands.add((what, None))
    assert commands == set(cli.COMMANDS), commands ^ set(cli.COMMANDS)
    assert set(cli.COMMANDS.values()) <= set(access.ACTIONS)


def test_a_route_that_declares_no_action_is_refused(atlas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``before_request`` does with the matched route's declaration (web/auth.py ``_check_action``)."""
    import flask
    import werkzeug.exceptions

    import app
    from web import auth

    server = app.server
    declared: dict[str, str | None] = {"api.index": None}
    monkeypatch.setattr(auth, "endpoint_action", lambda _, endpoint: declared.get(endpoint))
    rule = next(r for r in server.url_map.iter_rules() if r.rule == "/api")
    with server.test_request_context("/api", base_url="https://localhost"):
        flask.request.url_rule = rule
        refused = auth._check_action(access.ANONYMOUS)
        assert refused is not None and refused.status_code == 500  # declares nothing: refused
        declared["api.index"] = "site.view"
        assert auth._check_action(access.ANONYMOUS) is None  # declared, and allowed
        declared["api.index"] = "site.admin"
        with pytest.raises(werkzeug.exceptions.NotFound):  # declared, not allowed: as if it were not there
            auth._check_action(access.ANONYMOUS)
        assert auth._check_action(access.Actor(user_id=1, site_admin=True)) is None


def test_the_action_table_in_the_docs_is_the_one_the_code_generates() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    found = re.search(r"<!-- actions:begin -->\n(.*?)<!-- actions:end -->", text, re.S)
    assert found, "docs/security.md has no generated action table"
    assert found.group(1) == access.action_table(), "paste access.action_table() between the markers"
