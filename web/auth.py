"""Who is asking: sessions (Flask-Login), API tokens, OpenID Connect (Authlib) and local passwords (argon2),
CSRF on every form (Flask-WTF), and the per-request actor every access decision reads (atlas/access.py).

- **The actor, once per request.** ``before_request`` sets it (and the registry's per-request memo and the
  audit log's client address) in context variables, for every request including Dash's callback requests
  (they run inside a Flask request); ``teardown_request`` resets them, so a worker thread never carries one
  request's actor into the next. Who it is: a Bearer API token (``Authorization: Bearer atlas_...``) if one
  is sent; otherwise the signed-in session; otherwise nobody. The embeddable map, and every request a page
  under ``/embed`` makes (its Referer), is always anonymous: restricted data is never embeddable.
- **Sessions.** Flask's signed cookie, ``Secure`` (ATLAS_COOKIE_SECURE), ``HttpOnly``, ``SameSite=Lax``,
  holding the user id and the account's session nonce (changing the password, or signing out everywhere,
  changes the nonce and ends every session). The secret key is ATLAS_SECRET_KEY or one generated once.
- **Caching by who is asking.** A data response to a signed-in requester is ``Cache-Control: private``, and
  every data response varies on ``Cookie`` and ``Authorization``: a shared cache never hands one person's
  answer to another (the ETags name what the requester may see, web/api.py).
- **OIDC.** Each issuer of ATLAS_OIDC_ISSUERS (an allow-list) is an Authlib client discovered from its
  ``.well-known/openid-configuration``; the ID token is checked (signature, issuer, audience, nonce, expiry)
  and its ``iss`` must be the allowed issuer. The account is found by (issuer, subject), or linked to an
  account an admin made for the same e-mail.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import urlparse

import flask
import flask_login
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from atlas import access, accounts, audit, db, registry, settings, store
from web import errors

__all__ = ["CSRF", "blueprint", "current_actor", "init_app", "login_required_page"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("account", __name__, template_folder="templates")
CSRF = CSRFProtect()
_login = flask_login.LoginManager()
_oauth: Any = None
EMBED_PATH = "/embed"
#: Paths whose responses depend on who asks (the data and the datastore pages, Dash's callbacks).
PRIVATE_PREFIXES = ("/api", "/export", "/datapack", "/datastore", "/_dash-update-component", "/account")


class SessionUser(flask_login.UserMixin):
    """What Flask-Login keeps: the user id and the account's nonce, and the actor loaded for this request."""

    def __init__(self, actor: access.Actor, nonce: str) -> None:
        self.actor = actor
        self.nonce = nonce

    def get_id(self) -> str:
        return f"{self.actor.user_id}:{self.nonce}"


@_login.user_loader
def _load(ident: str) -> SessionUser | None:
    user_id, _, nonce = ident.partition(":")
    if not user_id.isdigit():
        return None
    actor = accounts.actor_for(int(user_id), via="session", nonce=nonce)
    return SessionUser(actor, nonce) if actor else None


def current_actor() -> access.Actor:
    return access.current()


def _embedded(request: flask.Request) -> bool:
    if request.path == EMBED_PATH or request.path.startswith(EMBED_PATH + "/"):
        return True
    referrer = urlparse(request.referrer or "")
    return referrer.netloc == request.host and (referrer.path == EMBED_PATH or
                                                 referrer.path.startswith(EMBED_PATH + "/"))


class TokenRefused(Exception):
    pass


def _bearer(request: flask.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _actor_for_request() -> access.Actor:
    request = flask.request
    if _embedded(request):
        return access.ANONYMOUS
    token = _bearer(request)
    if token is not None:
        user_id = accounts.user_for_token(token)
        actor = accounts.actor_for(user_id, via="token") if user_id else None
        if actor is None:
            raise TokenRefused()
        audit.record_now("token.use", detail=f"{token[:12]}... {request.method} {request.path}"[:300])
        return actor
    if "_user_id" not in flask.session:
        return access.ANONYMOUS
    user = flask_login.current_user
    return user.actor if user.is_authenticated else access.ANONYMOUS


def _begin() -> flask.Response | None:
    g = flask.g
    g._atlas_tokens = (registry.begin_request(), audit.set_address(flask.request.remote_addr or ""))
    try:
        actor = _actor_for_request()
    except TokenRefused:
        g._atlas_actor_token = access.set_current(access.ANONYMOUS)
        return errors.json_error(401, "the API token is not valid (unknown, revoked or expired)",
                                 headers={"WWW-Authenticate": 'Bearer realm="atlas"'})
    except db.Unavailable as exc:
        g._atlas_actor_token = access.set_current(access.ANONYMOUS)
        return _unavailable(exc)
    g._atlas_actor_token = access.set_current(actor)
    return None


def _end(_: BaseException | None) -> None:
    g = flask.g
    token = g.pop("_atlas_actor_token", None)
    if token is not None:
        access.reset_current(token)
    tokens = g.pop("_atlas_tokens", None)
    if tokens is not None:
        registry.end_request(tokens[0])


def _unavailable(exc: Exception) -> flask.Response:
    log.error("503 %s: %s", flask.request.path, exc)
    if errors.is_data_path(flask.request.path) or flask.request.path.startswith("/_dash"):
        return errors.json_error(503, "the datastore's database is unavailable; try again shortly",
                                 headers={"Retry-After": "5"})
    return flask.Response("The datastore's database is unavailable; try again shortly.\n", status=503,
                          mimetype="text/plain", headers={"Retry-After": "5"})


def _private(response: flask.Response) -> flask.Response:
    path = flask.request.path
    if not path.startswith(PRIVATE_PREFIXES):
        return response
    response.vary.add("Cookie")
    response.vary.add("Authorization")
    if access.current().signed_in:
        cc = response.headers.get("Cache-Control", "")
        # Geometry is open to all and named by its build, except a partnership area's (/api/areas/P<id>/...),
        # which is its members' only: private like the rest.
        if "immutable" in cc and path.startswith("/api/areas/") and not path.startswith("/api/areas/P"):
            return response
        response.headers["Cache-Control"] = "private, no-cache"
    return response


def login_required_page() -> access.Actor:
    """The signed-in actor, or a redirect to the sign-in page (raised)."""
    actor = access.current()
    if not actor.signed_in or actor.via != "session":
        flask.abort(flask.redirect(flask.url_for("account.sign_in", next=flask.request.full_path)))
    return actor


# -- forms and pages ----------------------------------------------------------------------------------------

class SignInForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class TokenForm(FlaskForm):
    name = StringField("What it is for", validators=[Length(max=200)])
    expires_days = StringField("Expires after (days, empty for never)", validators=[Length(max=5)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site (an open redirect would hand a phishing page our sign-in)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/datastore"
    return target


@blueprint.route("/account/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user_id = accounts.check_password(form.email.data, form.password.data)
        if user_id is None:
            audit.record_now("signin.failed", user_id=None, email=(form.email.data or "")[:320], detail="password")
            error = "That e-mail address and password do not match an account."
        else:
            _sign_in(user_id, "password")
            return flask.redirect(_safe_next(flask.request.args.get("next")))
    issuers = list(enumerate(settings.load().oidc_issuers))
    return flask.render_template("account/sign_in.html", form=form, error=error, issuers=issuers,
                                 next=flask.request.args.get("next", "")), 401 if error else 200


def _sign_in(user_id: int, how: str) -> None:
    actor = accounts.actor_for(user_id, via="session")
    if actor is None:
        flask.abort(403)
    with db.session() as s:
        nonce = s.get(db.User, user_id).session_nonce
    flask.session.clear()  # no session fixation: a fresh session for the signed-in user
    flask_login.login_user(SessionUser(actor, nonce))
    with access.acting_as(actor):
        audit.record_now("signin", detail=how)


@blueprint.route("/account/sign-out", methods=["POST"])
def sign_out() -> Any:
    CSRF.protect()
    flask_login.logout_user()
    flask.session.clear()
    return flask.redirect("/datastore")


@blueprint.route("/account/oidc/<int:index>/start")
def oidc_start(index: int) -> Any:
    client = _oidc_client(index)
    flask.session["oidc_next"] = _safe_next(flask.request.args.get("next"))
    return client.authorize_redirect(flask.url_for("account.oidc_callback", index=index, _external=True))


@blueprint.route("/account/oidc/<int:index>/callback")
def oidc_callback(index: int) -> Any:
    client = _oidc_client(index)
    issuer = settings.load().oidc_issuers[index]
    try:
        token = client.authorize_access_token()
    except Exception as exc:  # noqa: BLE001 - any failure of the flow is a refused sign-in, said plainly
        log.info("OIDC sign-in refused: %s", exc)
        audit.record_now("signin.failed", detail=f"oidc {issuer}: {exc.__class__.__name__}")
        return flask.render_template("account/message.html", title="Sign-in failed",
                                     message="The identity provider's answer could not be accepted."), 401
    claims = token.get("userinfo") or {}
    if str(claims.get("iss", "")).rstrip("/") != issuer:
        audit.record_now("signin.failed", detail=f"oidc issuer {str(claims.get('iss'))[:200]} not allowed")
        return flask.render_template("account/message.html", title="Sign-in failed",
                                     message="That identity provider is not accepted here."), 401
    email = claims.get("email") or claims.get("preferred_username") or claims.get("upn") or ""
    try:
        user_id = accounts.oidc_user(issuer, str(claims["sub"]), str(email), str(claims.get("name") or ""))
    except (accounts.AccountError, KeyError) as exc:
        audit.record_now("signin.failed", detail=f"oidc {issuer}: {exc}")
        return flask.render_template("account/message.html", title="Sign-in failed", message=str(exc)), 401
    _sign_in(user_id, f"oidc {issuer}")
    return flask.redirect(flask.session.pop("oidc_next", "/datastore"))


def _oidc_client(index: int) -> Any:
    """The Authlib client of the allowed issuer ``index`` (registered on first use, from the settings)."""
    config = settings.load()
    issuers = config.oidc_issuers
    if _oauth is None or not 0 <= index < len(issuers):
        flask.abort(404)
    issuer = issuers[index]
    name = "oidc_" + hashlib.sha256(f"{issuer}|{config.oidc_client_id}".encode()).hexdigest()[:12]
    client = _oauth.create_client(name)
    if client is None:
        _oauth.register(name, client_id=config.oidc_client_id, client_secret=config.oidc_client_secret,
                        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                        client_kwargs={"scope": "openid email profile"})
        client = _oauth.create_client(name)
    return client


@blueprint.route("/account", methods=["GET", "POST"])
def account() -> Any:
    actor = login_required_page()
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        days = (form.expires_days.data or "").strip()
        if days and not (days.isdigit() and 1 <= int(days) <= 3650):
            form.expires_days.errors = ["a whole number of days from 1 to 3650, or empty"]
        else:
            new_token = accounts.add_token(actor.email, int(days) if days else None, name=form.name.data or "")
    with db.session() as s:
        user = s.get(db.User, actor.user_id)
        memberships = [(m.org.code, m.org.name, m.role) for m in user.memberships]
        feed_secret = user.feed_secret
        follows = [(f.kind, f.target) for f in s.query(db.Follow).filter_by(user_id=user.id)]
    return flask.render_template("account/account.html", actor=actor, memberships=memberships, form=form,
                                 tokens=accounts.list_tokens(actor.email), new_token=new_token,
                                 feed_url=flask.url_for("datastore.feed_user", secret=feed_secret),
                                 follows=follows)


@blueprint.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int) -> Any:
    actor = login_required_page()
    CSRF.protect()
    try:
        accounts.revoke_token(token_id, actor.email)
    except accounts.AccountError:
        flask.abort(404)
    return flask.redirect(flask.url_for("account.account"))


def init_app(server: flask.Flask) -> None:
    """Sessions, CSRF, sign-in routes and the per-request actor on ``server``."""
    global _oauth
    if server.extensions.get("atlas_auth"):
        return
    server.extensions["atlas_auth"] = True
    config = settings.load()
    server.secret_key = db.secret_key(config)
    server.config.update(
        SESSION_COOKIE_SECURE=config.cookie_secure, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="atlas_session", REMEMBER_COOKIE_SECURE=config.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        # Forms are checked by their own FlaskForm (and POST routes without one call CSRF.protect()): Dash's
        # callbacks (read-only JSON) and the Bearer-token API (no cookies) need no CSRF token.
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None)
    CSRF.init_app(server)
    _login.init_app(server)
    _login.session_protection = "basic"
    server.before_request(_begin)
    server.teardown_request(_end)
    server.after_request(_private)
    server.register_error_handler(db.Unavailable, _unavailable)
    from authlib.integrations.flask_client import OAuth  # noqa: PLC0415

    _oauth = OAuth(server)  # clients are registered on first use, one per allowed issuer (_oidc_client)
    server.register_blueprint(blueprint)

    @server.before_request
    def _seed_once() -> None:
        # Every local authority is an organisation: seeded on the first request of a process that finds
        # the table without them (cheap afterwards: a flag).
        if server.extensions.get("atlas_seeded"):
            return
        try:
            accounts.seed_authorities(store.get_store().authorities())
        except (db.Unavailable, FileNotFoundError):
            return
        server.extensions["atlas_seeded"] = True
