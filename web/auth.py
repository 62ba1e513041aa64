"""Who is asking: sessions (Flask-Login), API tokens, OpenID Connect (Authlib) and local passwords (argon2),
CSRF on every form (Flask-WTF), and the per-request actor every access decision reads (atlas/access.py).

- **The actor, once per request.** ``before_request`` sets it (and the registry's per-request memo and the
  audit log's client address) in context variables, for every request including Dash's callback requests
  (they run inside a Flask request); ``teardown_request`` resets them, so a worker thread never carries one
  request's actor into the next. Who it is: a Bearer API token (``Authorization: Bearer atlas_...``) if one
  is sent; otherwise the signed-in session; otherwise nobody. The embeddable map, and every request a page
  under ``/embed`` makes (its Referer), is always anonymous: restricted data is never embeddable.
- **The action, once per request.** Every route declares the action it performs (``access.declares``; Dash's
  and Flask's own routes in ``FRAMEWORK_ACTIONS``). ``_begin`` finds it for the matched endpoint and checks
  it when it needs no resource (``account.self``: signed in; ``site.admin``: a site administrator, else 404);
  a route that declares none is refused (500, logged) and fails tests/test_actions.py.
- **Sessions, on the server.** Flask's signed cookie (``Secure`` by ATLAS_COOKIE_SECURE, ``HttpOnly``,
  ``SameSite=Lax``) holds only a random session secret; the session itself is a row (atlas/sessions.py):
  signing out ends it (a copied cookie stops working), "sign out everywhere" and a password change end all
  of the user's, and it ends after ATLAS_SESSION_IDLE_MINUTES idle or ATLAS_SESSION_MAX_HOURS.
- **Sign-in attempts are limited** per account (ATLAS_SIGNIN_RATE_LIMIT) and per client address
  (ATLAS_SIGNIN_CLIENT_RATE_LIMIT) by flask-limiter (web/ratelimit.py: its storage, Redis when the cache is):
  over either, 429 with Retry-After, and the refusal is audited.
- **Caching by who is asking.** A response that read restricted data is ``Cache-Control: private,
  no-store``; one to a signed-in requester ``private, no-cache``; one that shows council-published data to
  anyone ``public, max-age=60, must-revalidate`` (an access change reaches every cache within a minute);
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
import re
import threading
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit

import flask
import flask_login
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from atlas import access, accounts, audit, catalogue, db, extracts, registry, sessions, settings
from web import errors, ratelimit

__all__ = ["CSRF", "FRAMEWORK_ACTIONS", "FRAMEWORK_CALLBACKS", "actor", "blueprint", "callback_action",
           "endpoint_action", "init_app", "login_required_page"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("account", __name__, template_folder="templates")
CSRF = CSRFProtect()
_login = flask_login.LoginManager()
_OAUTH = "atlas_oauth"  # the app's Authlib registry, in its extensions (_oauth_registry)
_oauth_lock = threading.Lock()
EMBED_PATH = "/embed"
#: Paths whose responses depend on who asks (the data and the datastore pages, Dash's callbacks).
PRIVATE_PREFIXES = ("/api", "/export", "/datapack", "/datastore", "/_dash-update-component", "/account")


#: Routes the frameworks register (Dash's, Flask's static files), by endpoint, with the action each performs:
#: all open (what Dash's callbacks answer is decided by each callback's own action and the request's catalogue).
FRAMEWORK_ACTIONS: dict[str, str] = {endpoint: "site.view" for endpoint in (
    "static", "_dash_assets.static", "datastore.static", "/", "/<path:path>", "/_dash-layout", "/_dash-dependencies",
    "/_dash-update-component", "/_reload-hash", "/_favicon.ico",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>")}
#: Callbacks Dash registers itself (its pages router), by their outputs, with the action each performs.
FRAMEWORK_CALLBACKS: dict[str, str] = {".._pages_content.children..._pages_store.data..": "site.view"}
SIGNIN_LIMIT, SIGNIN_CLIENT_LIMIT = "ATLAS_SIGNIN_RATE_LIMIT", "ATLAS_SIGNIN_CLIENT_RATE_LIMIT"


class SessionUser(flask_login.UserMixin):
    """What Flask-Login keeps in the cookie: the server-side session's secret; and this request's actor."""

    def __init__(self, actor: access.Actor, secret: str) -> None:
        self.actor = actor
        self.secret = secret

    def get_id(self) -> str:
        return self.secret


@_login.user_loader
def _load(ident: str) -> SessionUser | None:
    found = sessions.get().resolve(ident)
    if found is None:
        return None
    actor = accounts.actor_for(found[0], via="session", session_id=found[1])
    return SessionUser(actor, ident) if actor else None


def actor() -> access.Actor:
    """This request's actor, resolved once by ``_begin`` (anonymous before it, or outside a request)."""
    return flask.g.get("atlas_actor", access.ANONYMOUS) if flask.has_request_context() else access.ANONYMOUS


def callback_action(key: str, function: Any) -> str | None:
    """The action a Dash callback (``key``: its outputs, as in Dash's callback map) declared, or None."""
    return access.action_of(function) or FRAMEWORK_CALLBACKS.get(key)


def endpoint_action(server: flask.Flask, endpoint: str | None) -> str | None:
    """The action the route ``endpoint`` declared, or None."""
    if endpoint is None:
        return None
    found = access.action_of(server.view_functions.get(endpoint))
    return found or FRAMEWORK_ACTIONS.get(endpoint)


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
        found = accounts.actor_for(user_id, via="token") if user_id else None
        if found is None:
            raise TokenRefused()
        audit.record_now("token.use", detail=f"{token[:12]}... {request.method} {request.path}"[:300], actor=found)
        return found
    if "_user_id" not in flask.session:
        return access.ANONYMOUS
    user = flask_login.current_user
    return user.actor if user.is_authenticated else access.ANONYMOUS


def _begin() -> flask.Response | flask.typing.ResponseReturnValue | None:
    g = flask.g
    g._atlas_tokens = (registry.begin_request(), audit.set_address(flask.request.remote_addr or ""))
    try:
        who = _actor_for_request()
    except TokenRefused:
        g._atlas_actor_token = access.set_current(access.ANONYMOUS)
        return errors.json_error(401, "the API token is not valid (unknown, revoked or expired)",
                                 headers={"WWW-Authenticate": 'Bearer realm="atlas"'})
    except tuple(errors.SHARED) as exc:  # the database (a token, an account) or Redis (a session)
        g._atlas_actor_token = access.set_current(access.ANONYMOUS)
        return errors.unavailable(exc)
    g.atlas_actor = who
    # The audit log's ``who`` (atlas/audit.py) when a caller names none; everything that reads data is handed
    # the request's catalogue, built from this actor (atlas/catalogue.py).
    g._atlas_actor_token = access.set_current(who)
    return _check_action(who)


def _check_action(who: access.Actor) -> Any:
    """The matched route's declared action: none declared is refused; one that needs no resource is checked
    here (one with a resource is checked inside, with the resource in hand)."""
    request = flask.request
    if request.url_rule is None:
        return None  # a 404 or 405 on its way
    action = endpoint_action(flask.current_app, request.endpoint)
    if action is None:
        log.error("route %s (%s) declares no action: refused", request.url_rule.rule, request.endpoint)
        return errors.json_error(500, "this route declares no action")
    flask.g.atlas_action = action
    if access.ACTIONS[action].resource != "-" or access.allowed(who, action):
        return None
    if action == "account.self":
        if errors.is_data_path(request.path):
            return errors.json_error(401, "sign in first")
        return flask.redirect(flask.url_for("account.sign_in", next=request.full_path))
    flask.abort(404)  # site administrators' pages: as if they did not exist


def _end(_: BaseException | None) -> None:
    g = flask.g
    token = g.pop("_atlas_actor_token", None)
    if token is not None:
        access.reset_current(token)
    tokens = g.pop("_atlas_tokens", None)
    if tokens is not None:
        registry.end_request(tokens[0])


SHORT = "public, max-age=60, must-revalidate"
_PUBLISHED = re.compile(r"\bds\d+")


def _private(response: flask.Response) -> flask.Response:
    path = flask.request.path
    if audit.restricted_read():
        # Restricted data: no cache keeps it, so an access change is never outlived by a copy.
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
        response.vary.add("Authorization")
        return response
    if not path.startswith(PRIVATE_PREFIXES):
        return response
    response.vary.add("Cookie")
    response.vary.add("Authorization")
    cc = response.headers.get("Cache-Control", "")
    if "public" in cc and "immutable" not in cc and _shows_published():
        # Council-published data can change access or version at any moment: a minute, then revalidate.
        response.headers["Cache-Control"] = SHORT
    if actor().signed_in:
        cc = response.headers.get("Cache-Control", "")
        # Geometry is open to all and named by its build, except a partnership area's (/api/areas/P<id>/...),
        # which is its members' only: private like the rest.
        if "immutable" in cc and path.startswith("/api/areas/") and not path.startswith(("/api/areas/P",
                                                                                         "/api/areas/A")):
            return response
        response.headers["Cache-Control"] = "private, no-cache"
    return response


def _shows_published() -> bool:
    """Whether this answer may show council-published data: it names a published dataset, or the
    requester's catalogue holds any."""
    request = flask.request
    if _PUBLISHED.search(request.path) or _PUBLISHED.search(request.query_string.decode("latin-1")):
        return True
    try:
        return catalogue.of_request().scope_key() != "open"
    except (db.Unavailable, FileNotFoundError):
        return True


def login_required_page() -> access.Actor:
    """The signed-in actor (by a browser session), or a redirect to the sign-in page (raised)."""
    who = actor()
    if not who.signed_in or who.via != "session":
        flask.abort(flask.redirect(flask.url_for("account.sign_in", next=flask.request.full_path)))
    return who


# -- forms and pages ----------------------------------------------------------------------------------------

class SignInForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class TokenForm(FlaskForm):
    name = StringField("What it is for", validators=[Length(max=200)])
    expires_days = StringField("Expires after (days)", validators=[Length(max=5)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[Length(max=1000)])
    new = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])


class JoinForm(FlaskForm):
    password = PasswordField("Choose a password", validators=[DataRequired(), Length(max=1000)])


_UNSAFE_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def _safe_next(target: str | None) -> str:
    """Only a path on this site, after the normalisation a browser does (an open redirect would hand a
    phishing page our sign-in): no control characters or spaces (a browser drops tabs and newlines, so
    ``/\t/evil.example`` is ``//evil.example``), no backslash, no scheme or host, not ``//``."""
    fallback = "/datastore"
    if not target or len(target) > 2000 or _UNSAFE_NEXT.search(target) or _UNSAFE_NEXT.search(unquote(target)):
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or unquote(target).startswith("//"):
        return fallback
    return target


def _signin_account_key() -> str:
    return "signin-account:" + (flask.request.form.get("email") or "").strip().lower()[:320]


def _limit(name: str) -> Any:
    return lambda: flask.current_app.config.get(name) or "1000000 per second"


def _unlimited(name: str) -> Any:
    return lambda: not flask.current_app.config.get(name)


def _limited(limit: Any) -> None:
    request = flask.request
    audit.record_now("signin.limited", user_id=None, email=(request.form.get("email") or "")[:320],
                     detail=f"too many attempts ({limit.limit})", actor=access.ANONYMOUS)


@blueprint.route("/account/sign-in", methods=["GET", "POST"])
@ratelimit.limiter.limit(_limit(SIGNIN_LIMIT), key_func=_signin_account_key, methods=["POST"], scope="signin-account",
                         exempt_when=_unlimited(SIGNIN_LIMIT), on_breach=_limited,
                         error_message="too many sign-in attempts for this account; wait (see Retry-After)")
@ratelimit.limiter.limit(_limit(SIGNIN_CLIENT_LIMIT), methods=["POST"], scope="signin-client",
                         exempt_when=_unlimited(SIGNIN_CLIENT_LIMIT), on_breach=_limited,
                         error_message="too many sign-in attempts from your address; wait (see Retry-After)")
@access.declares("site.view")
def sign_in() -> Any:
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user_id = accounts.check_password(form.email.data, form.password.data)
        if user_id is None:
            audit.record_now("signin.failed", user_id=None, email=(form.email.data or "")[:320], detail="password",
                             actor=access.ANONYMOUS)
            error = "That e-mail address and password do not match an account."
        else:
            _sign_in(user_id, "password")
            return flask.redirect(_safe_next(flask.request.args.get("next")))
    issuers = list(enumerate(settings.load().oidc_issuers))
    return flask.render_template("account/sign_in.html", form=form, error=error, issuers=issuers,
                                 next=_safe_next(flask.request.args.get("next")) if flask.request.args.get("next")
                                 else ""), 401 if error else 200


@blueprint.errorhandler(429)
def _too_many(exc: Any) -> Any:
    return flask.render_template("account/message.html", title="Too many attempts",
                                 message=f"{exc.description}. Try again in a few minutes."), 429


def _sign_in(user_id: int, how: str) -> None:
    who = accounts.actor_for(user_id, via="session")
    if who is None:
        flask.abort(403)
    flask.session.clear()  # no session fixation: a fresh session for the signed-in user
    secret = sessions.get().create(user_id, how, flask.request.remote_addr or "")
    flask_login.login_user(SessionUser(who, secret))
    audit.record_now("signin", detail=how, actor=who)


def _end_session() -> None:
    user = flask_login.current_user
    if user.is_authenticated:
        sessions.get().end(user.secret)
    flask_login.logout_user()
    flask.session.clear()


@blueprint.route("/account/sign-out", methods=["POST"])
@access.declares("site.view")
def sign_out() -> Any:
    CSRF.protect()
    who = actor()
    _end_session()
    if who.signed_in:
        audit.record_now("signout", actor=who)
    return flask.redirect("/datastore")


@blueprint.route("/account/sign-out-everywhere", methods=["POST"])
@access.declares("account.self")
def sign_out_everywhere() -> Any:
    who = login_required_page()
    CSRF.protect()
    accounts.sign_out_everywhere(who.user_id)
    _end_session()
    return flask.redirect("/datastore")


@blueprint.route("/account/oidc/<int:index>/start")
@access.declares("site.view")
def oidc_start(index: int) -> Any:
    client = _oidc_client(index)
    flask.session["oidc_next"] = _safe_next(flask.request.args.get("next"))
    return client.authorize_redirect(flask.url_for("account.oidc_callback", index=index, _external=True))


@blueprint.route("/account/oidc/<int:index>/callback")
@access.declares("site.view")
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
    if not flask.current_app.extensions.get("atlas_auth") or not 0 <= index < len(issuers):
        flask.abort(404)
    issuer = issuers[index]
    name = "oidc_" + hashlib.sha256(f"{issuer}|{config.oidc_client_id}".encode()).hexdigest()[:12]
    oauth = _oauth_registry()
    client = oauth.create_client(name)
    if client is None:
        oauth.register(name, client_id=config.oidc_client_id, client_secret=config.oidc_client_secret,
                        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                        client_kwargs={"scope": "openid email profile"})
        client = oauth.create_client(name)
    return client


def _oauth_registry() -> Any:
    """Authlib's Flask client registry, made on the first OpenID Connect sign-in of this process: Authlib
    imports joserfc, requests and its own clients (15 MB), which a worker that signs no one in by OIDC (no
    issuer configured, or sign-in by password and API tokens only) need not hold."""
    app = flask.current_app._get_current_object()
    with _oauth_lock:
        registry = app.extensions.get(_OAUTH)
        if registry is None:
            from authlib.integrations.flask_client import OAuth  # noqa: PLC0415

            registry = app.extensions[_OAUTH] = OAuth(app)  # clients are registered by _oidc_client
        return registry


@blueprint.route("/account", methods=["GET", "POST"])
@access.declares("account.self")
def account() -> Any:
    who = login_required_page()
    form = TokenForm()
    password_form = PasswordForm(prefix="password")
    new_token = message = None
    config = settings.load()
    if flask.request.method == "POST" and flask.request.form.get("what") == "password":
        if password_form.validate_on_submit():
            if accounts.check_password(who.email, password_form.current.data or "") is None:
                password_form.current.errors = ["that is not your current password"]
            else:
                try:
                    accounts.set_password(who.email, password_form.new.data, keep_session=who.session_id)
                    message = "Password changed; every other session of yours has ended."
                except accounts.AccountError as exc:
                    password_form.new.errors = [str(exc)]
    elif form.validate_on_submit():
        days = (form.expires_days.data or "").strip()
        if days and not (days.isdigit() and 1 <= int(days) <= config.token_max_days):
            form.expires_days.errors = [f"a whole number of days from 1 to {config.token_max_days}, or empty for "
                                        f"{config.token_default_days}"]
        else:
            new_token = accounts.add_token(who.email, int(days) if days else None, name=form.name.data or "")
    with db.session() as s:
        user = s.get(db.User, who.user_id)
        memberships = [(m.org.code, m.org.name, m.role) for m in user.memberships]
        feed_secret = user.feed_secret
        follows = [(f.kind, f.target) for f in s.query(db.Follow).filter_by(user_id=user.id)]
    return flask.render_template("account/account.html", actor=who, memberships=memberships, form=form,
                                 password_form=password_form, message=message,
                                 tokens=accounts.list_tokens(who.email), new_token=new_token,
                                 sessions=sessions.get().list(who.user_id), this_session=who.session_id,
                                 feed_url=flask.url_for("datastore.feed_user", secret=feed_secret),
                                 follows=follows, token_days=config.token_default_days,
                                 token_max=config.token_max_days)


@blueprint.route("/account/sessions/<sid>/end", methods=["POST"])
@access.declares("account.self")
def end_session(sid: str) -> Any:
    who = login_required_page()
    CSRF.protect()
    if any(x["id"] == sid for x in sessions.get().list(who.user_id)):
        sessions.get().end(sid)
        audit.record_now("signout", detail="one session, from the account page", actor=who)
    return flask.redirect(flask.url_for("account.account"))


@blueprint.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@access.declares("account.self")
def revoke(token_id: int) -> Any:
    who = login_required_page()
    CSRF.protect()
    try:
        accounts.revoke_token(token_id, who.email)
    except accounts.AccountError:
        flask.abort(404)
    return flask.redirect(flask.url_for("account.account"))


@blueprint.route("/account/join/<secret>", methods=["GET", "POST"])
@access.declares("site.view")
def join(secret: str) -> Any:
    """An invitation or a password reset: a one-time, expiring link (atlas/accounts.py)."""
    info = accounts.peek_link(secret)
    if info is None:
        return flask.render_template("account/message.html", title="This link does not work",
                                     message="It was used already, has expired, or never existed. Ask your "
                                             "organisation's admin for a new one."), 404
    form = JoinForm()
    error = None
    if form.validate_on_submit():
        try:
            user_id = accounts.redeem_link(secret, form.password.data)
        except accounts.AccountError as exc:
            error = str(exc)
        else:
            _sign_in(user_id, "invitation" if info["kind"] == "invite" else "password reset")
            return flask.redirect(flask.url_for("datastore.org_page", code=info["org_code"]) if info["org_code"]
                                  else "/datastore")
    return flask.render_template("account/join.html", info=info, form=form, error=error)


@blueprint.route("/-/allowed")
@access.declares("site.admin")
def allowed_page() -> Any:
    """May X do Y to Z, and why: for site administrators (datasette's /-/allowed)."""
    args = flask.request.args
    email, action, resource = (args.get("actor", "").strip()[:320], args.get("action", "").strip()[:40],
                               args.get("resource", "").strip()[:100])
    answer = None
    if action:
        answer = _explain(email, action, resource)
    return flask.render_template("account/allowed.html", actions=list(access.ACTIONS.values()), email=email,
                                 action=action, resource=resource, answer=answer)


def _explain(email: str, action: str, resource: str) -> dict:
    """The decision and its reason, with the actor and resource as the checks see them."""
    who = access.ANONYMOUS
    if email:
        user_id = _user_id(email)
        found = accounts.actor_for(user_id) if user_id else None
        if found is None:
            return {"allowed": False, "why": f"no active account {email!r}", "actor": email, "resource": resource}
        who = found
    try:
        thing = _resource(action, resource)
    except LookupError as exc:
        return {"allowed": False, "why": str(exc), "actor": who.describe(), "resource": resource}
    ok, why = access.explain(who, action, thing)
    return {"allowed": ok, "why": why, "actor": who.describe(), "resource": repr(thing)}


def _user_id(email: str) -> int | None:
    import sqlalchemy as sa  # noqa: PLC0415

    with db.session() as s:
        return s.execute(sa.select(db.User.id).where(db.User.email == email.lower())).scalar_one_or_none()


def _resource(action: str, text: str) -> Any:
    """The resource an action takes, from the page's text: ds<id>, an organisation code, P<id> or a
    partnership id, an authority code, or ``<org code> <authority>`` for place.publish."""
    import sqlalchemy as sa  # noqa: PLC0415

    kind = access.ACTIONS[action].resource if action in access.ACTIONS else "-"
    snap = registry.snapshot()
    if kind == "-":
        return None
    if kind == "dataset":
        m = re.fullmatch(r"(?:ds)?(\d+)", text)
        pub = snap.datasets.get(f"ds{m.group(1)}") if m else None
        if pub is None:
            raise LookupError(f"no published dataset {text!r} (give ds<id>)")
        return pub.rule
    def org(code: str) -> access.Org:
        with db.session() as s:
            found = s.execute(sa.select(db.Organisation.id).where(db.Organisation.code == code)).scalar_one_or_none()
        if found is None:
            raise LookupError(f"no organisation {code!r}")
        return snap.org(found)
    if kind == "organisation":
        return org(text)
    if kind == "organisation + authority":
        code, _, authority = text.partition(" ")
        return access.Target(org(code), authority.strip().upper())
    if kind in ("partnership", "place", "partnership + organisation"):
        first, _, rest = text.partition(" ")
        m = re.fullmatch(r"P?(\d+)", first)
        if m is None:
            if kind == "place":
                return first.upper()
            raise LookupError(f"no partnership {first!r} (give its id, or P<id>)")
        ref = snap.partnerships.get(int(m.group(1)))
        if ref is None:
            raise LookupError(f"no partnership {first!r}")
        return access.Share(ref, org(rest.strip()).id) if kind == "partnership + organisation" else ref
    raise LookupError(f"resources of {action!r} cannot be named here")


def init_app(server: flask.Flask) -> None:
    """Sessions, CSRF, sign-in routes and the per-request actor on ``server``."""
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
    _login.session_protection = None  # the session is the server's row (atlas/sessions.py), not a cookie hash
    ratelimit.init_app(server, config)
    server.config[SIGNIN_LIMIT] = config.signin_rate_limit
    server.config[SIGNIN_CLIENT_LIMIT] = config.signin_client_rate_limit
    server.before_request(_begin)
    server.teardown_request(_end)
    server.after_request(_private)
    server.register_blueprint(blueprint)  # OIDC's clients: on first use, one per allowed issuer (_oidc_client)

    @server.before_request
    def _seed_once() -> None:
        # Every local authority is an organisation: seeded on the first request of a process that finds
        # the table without them (cheap afterwards: a flag).
        if server.extensions.get("atlas_seeded"):
            return
        try:
            reader = extracts.current()
            accounts.seed_authorities([reader.authority_dict(c) for c in reader.authority_rows])
        except (db.Unavailable, FileNotFoundError):
            return
        server.extensions["atlas_seeded"] = True
