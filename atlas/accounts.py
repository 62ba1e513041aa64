"""People, organisations, partnerships and API tokens: the functions the CLI (`atlas ...`) and the web layer
both call, so every rule (a role is admin|editor|member, a token is stored only as its SHA-256, a partnership
member sees shared data only once its organisation accepted) holds whichever way a change is made.

Passwords are argon2id hashes (argon2-cffi's defaults), rehashed on sign-in when the parameters change.
Every change that alters what someone may see bumps the registry's generation (atlas/db.py) and is written
to the audit log (atlas/audit.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from atlas import access, audit, db, sessions, settings

__all__ = [
    "AccountError", "TOKEN_PREFIX", "accept_partnership", "actor_for", "add_member", "add_org", "add_partnership",
    "add_token", "add_user", "check_password", "invite_to_partnership", "list_orgs", "list_partnerships",
    "list_tokens", "list_users", "remove_member", "remove_org", "remove_partnership", "remove_user",
    "revoke_token", "seed_authorities", "set_password", "set_role", "sign_out_everywhere", "user_for_token",
    "leave_partnership", "invite", "reset_link", "peek_link", "redeem_link", "list_invitations",
    "revoke_invitation", "on_link", "user_id",
]

TOKEN_PREFIX = "atlas_"
_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request that cannot be carried out (unknown organisation, duplicate e-mail...): the message says why."""


def _norm_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise AccountError(f"{email!r} is not an e-mail address")
    return email


def _org(s: Any, code: str) -> db.Organisation:
    org = s.execute(sa.select(db.Organisation).where(db.Organisation.code == code)).scalar_one_or_none()
    if org is None:
        raise AccountError(f"no organisation with code {code!r}")
    return org


def _user(s: Any, email: str) -> db.User:
    user = s.execute(sa.select(db.User).where(db.User.email == _norm_email(email))).scalar_one_or_none()
    if user is None:
        raise AccountError(f"no user {email!r}")
    return user


# -- organisations ----------------------------------------------------------------------------------------

def add_org(code: str, name: str, authority: str | None = None, url: str | None = None) -> int:
    code = (code or "").strip()
    if not code or len(code) > 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise AccountError("an organisation code is 1-40 letters, digits, - or _")
    with db.session(url) as s:
        if s.execute(sa.select(db.Organisation).where(db.Organisation.code == code)).first():
            raise AccountError(f"organisation {code!r} exists already")
        org = db.Organisation(code=code, name=name.strip() or code, authority=authority)
        s.add(org)
        s.flush()
        audit.record(s, "org.add", org_id=org.id, detail=f"{code} {name}")
        return org.id


def seed_authorities(authorities: list[dict], url: str | None = None) -> int:
    """Every local authority is an organisation (code = its ONS code): add those missing. Returns how many.

    Several processes may seed at once (each gunicorn worker seeds on its first request): an insert that meets
    rows another added meanwhile (a UNIQUE violation, its whole transaction rolled back) is tried again with
    what is still missing."""
    for attempt in range(3):
        try:
            with db.session(url) as s:
                have = set(s.execute(sa.select(db.Organisation.code)).scalars())
                new = [db.Organisation(code=a["code"], name=a["name"], authority=a["code"]) for a in authorities
                       if a["code"] not in have]
                s.add_all(new)
                s.flush()
                return len(new)
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
    return 0


def list_orgs(url: str | None = None) -> list[dict]:
    with db.session(url) as s:
        return [{"code": o.code, "name": o.name, "authority": o.authority, "id": o.id}
                for o in s.execute(sa.select(db.Organisation).order_by(db.Organisation.code)).scalars()]


def remove_org(code: str, url: str | None = None) -> None:
    with db.session(url) as s:
        org = _org(s, code)
        if s.execute(sa.select(db.Dataset.id).where(db.Dataset.org_id == org.id)).first():
            raise AccountError(f"organisation {code!r} owns datasets; remove or move them first")
        audit.record(s, "org.remove", org_id=org.id, detail=code)
        s.delete(org)
        db.bump(s)


# -- users --------------------------------------------------------------------------------------------------

def add_user(email: str, org: str | None = None, role: str = "member", password: str | None = None,
             name: str = "", site_admin: bool = False, url: str | None = None) -> int:
    if role not in db.ROLES:
        raise AccountError(f"role must be one of {', '.join(db.ROLES)}, not {role!r}")
    email = _norm_email(email)
    with db.session(url) as s:
        if s.execute(sa.select(db.User).where(db.User.email == email)).first():
            raise AccountError(f"user {email!r} exists already")
        user = db.User(email=email, name=name, site_admin=site_admin,
                       password_hash=_hasher.hash(password) if password else None)
        s.add(user)
        s.flush()
        org_id = None
        if org:
            o = _org(s, org)
            org_id = o.id
            s.add(db.Membership(user_id=user.id, org_id=o.id, role=role))
            db.bump(s)
        audit.record(s, "user.add", org_id=org_id, detail=f"{email} {role if org else ''}".strip())
        return user.id


def add_member(email: str, org: str, role: str, url: str | None = None) -> None:
    """Give a user a role in an organisation (or change it)."""
    if role not in db.ROLES:
        raise AccountError(f"role must be one of {', '.join(db.ROLES)}, not {role!r}")
    with db.session(url) as s:
        user, o = _user(s, email), _org(s, org)
        found = s.get(db.Membership, (user.id, o.id))
        if found:
            found.role = role
        else:
            s.add(db.Membership(user_id=user.id, org_id=o.id, role=role))
        audit.record(s, "member.set", org_id=o.id, detail=f"{user.email} {role}")
        db.bump(s)


def _last_admin(s: Any, org_id: int, user_id: int) -> bool:
    admins = set(s.execute(sa.select(db.Membership.user_id).where(db.Membership.org_id == org_id,
                                                                 db.Membership.role == "admin")).scalars())
    return admins == {user_id}


def set_role(email: str, org: str, role: str, url: str | None = None) -> None:
    """Change a member's role (an organisation keeps at least one admin)."""
    if role not in db.ROLES:
        raise AccountError(f"role must be one of {', '.join(db.ROLES)}, not {role!r}")
    with db.session(url) as s:
        user, o = _user(s, email), _org(s, org)
        found = s.get(db.Membership, (user.id, o.id))
        if found is None:
            raise AccountError(f"{email} is not a member of {org}")
        if found.role == "admin" and role != "admin" and _last_admin(s, o.id, user.id):
            raise AccountError(f"{email} is the last admin of {org}: make another member admin first")
        before, found.role = found.role, role
        audit.record(s, "member.role", org_id=o.id, detail=f"{user.email} {before} -> {role}")
        db.bump(s)


def remove_member(email: str, org: str, url: str | None = None) -> None:
    """Take a person out of an organisation: they lose what it gave them at their next request."""
    with db.session(url) as s:
        user, o = _user(s, email), _org(s, org)
        found = s.get(db.Membership, (user.id, o.id))
        if found is None:
            raise AccountError(f"{email} is not a member of {org}")
        if found.role == "admin" and _last_admin(s, o.id, user.id):
            raise AccountError(f"{email} is the last admin of {org}: make another member admin first")
        s.delete(found)
        audit.record(s, "member.remove", org_id=o.id, detail=user.email)
        db.bump(s)


def user_id(email: str, url: str | None = None) -> int:
    with db.session(url) as s:
        return _user(s, email).id


def list_users(url: str | None = None) -> list[dict]:
    with db.session(url) as s:
        out = []
        for user in s.execute(sa.select(db.User).order_by(db.User.email)).scalars():
            roles = [f"{m.org.code}:{m.role}" for m in user.memberships]
            out.append({"email": user.email, "roles": roles, "site_admin": user.site_admin,
                        "password": user.password_hash is not None, "oidc": user.oidc_issuer or ""})
        return out


def remove_user(email: str, url: str | None = None) -> None:
    with db.session(url) as s:
        user = _user(s, email)
        audit.record(s, "user.remove", detail=user.email)
        s.delete(user)
        db.bump(s)


MIN_PASSWORD = 10


def set_password(email: str, password: str, url: str | None = None, keep_session: str | None = None) -> None:
    """A new password; every session of the account ends (but ``keep_session``, the one changing it)."""
    if len(password or "") < MIN_PASSWORD or len(password) > 1000:
        raise AccountError(f"a password has {MIN_PASSWORD} to 1000 characters")
    with db.session(url) as s:
        user = _user(s, email)
        user.password_hash = _hasher.hash(password)
        user.session_nonce = secrets.token_hex(8)
        audit.record(s, "password.change", user=user, detail=user.email)
        user_id = user.id
    sessions.get(url).end_all(user_id, keep=keep_session)


def sign_out_everywhere(user_id: int, keep_session: str | None = None, url: str | None = None) -> int:
    """End every session of a user (but ``keep_session``); their API tokens stay (revoke those one by one)."""
    ended = sessions.get(url).end_all(user_id, keep=keep_session)
    audit.record_now("signout.everywhere", user_id=user_id, detail=f"{ended} sessions ended", url=url)
    return ended


def check_password(email: str, password: str, url: str | None = None) -> int | None:
    """The user id when ``password`` is right for an active account, else None (same time either way)."""
    try:
        email = _norm_email(email)
    except AccountError:
        return None
    with db.session(url) as s:
        user = s.execute(sa.select(db.User).where(db.User.email == email)).scalar_one_or_none()
        stored = user.password_hash if user is not None and user.active else None
        try:
            # An unknown user is checked against a dummy hash, so timing does not say who has an account.
            _hasher.verify(stored or _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None or user is None:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        return user.id


_DUMMY = _hasher.hash(secrets.token_hex(8))


def oidc_user(issuer: str, subject: str, email: str, name: str, url: str | None = None) -> int:
    """The account of an OIDC sign-in: by (issuer, subject); the first sign-in links an account made for
    that e-mail (by an admin, with its roles) or makes one with no organisation."""
    email = _norm_email(email)
    with db.session(url) as s:
        user = s.execute(sa.select(db.User).where(db.User.oidc_issuer == issuer, db.User.oidc_subject == subject)
                         ).scalar_one_or_none()
        if user is None:
            user = s.execute(sa.select(db.User).where(db.User.email == email)).scalar_one_or_none()
            if user is not None and user.oidc_issuer and user.oidc_issuer != issuer:
                raise AccountError("this e-mail address signs in with another identity provider")
            if user is None:
                user = db.User(email=email, name=name)
                s.add(user)
            user.oidc_issuer, user.oidc_subject = issuer, subject
            s.flush()
        if not user.active:
            raise AccountError("this account is disabled")
        return user.id


def actor_for(user_id: int, via: str = "session", session_id: str | None = None, url: str | None = None
              ) -> access.Actor | None:
    """The actor of a user (their roles, and the partnerships their organisations accepted), or None for a
    user that no longer exists or is disabled."""
    with db.session(url) as s:
        user = s.get(db.User, user_id)
        if user is None or not user.active:
            return None
        roles = tuple(sorted((m.org_id, m.role) for m in user.memberships))
        orgs = [org for org, _ in roles]
        partnerships = frozenset(s.execute(
            sa.select(db.PartnershipMember.partnership_id).where(
                db.PartnershipMember.org_id.in_(orgs), db.PartnershipMember.status == "accepted")).scalars()
        ) if orgs else frozenset()
        return access.Actor(user_id=user.id, email=user.email, roles=roles, partnerships=partnerships,
                            site_admin=user.site_admin, via=via, session_id=session_id)


# -- partnerships -------------------------------------------------------------------------------------------

def add_partnership(name: str, orgs: list[str], created_by: str | None = None, accepted: bool = True,
                    description: str = "", url: str | None = None) -> int:
    """A partnership of ``orgs``. From the CLI (an administrator's act) members are ``accepted`` at once;
    from the web, the creating organisation is accepted and the others invited."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise AccountError("a partnership needs a name of at most 200 characters")
    with db.session(url) as s:
        if s.execute(sa.select(db.Partnership).where(db.Partnership.name == name)).first():
            raise AccountError(f"partnership {name!r} exists already")
        creator = _org(s, created_by) if created_by else None
        p = db.Partnership(name=name, description=description, created_by_org=creator.id if creator else None)
        s.add(p)
        s.flush()
        codes = list(dict.fromkeys([*(c for c in orgs if c), *([created_by] if created_by else [])]))
        for code in codes:
            o = _org(s, code)
            status = "accepted" if accepted or (creator is not None and o.id == creator.id) else "invited"
            s.add(db.PartnershipMember(partnership_id=p.id, org_id=o.id, status=status))
        audit.record(s, "partnership.add", org_id=creator.id if creator else None, detail=f"{name}: {','.join(codes)}")
        db.bump(s)
        return p.id


def invite_to_partnership(partnership_id: int, org: str, url: str | None = None) -> None:
    with db.session(url) as s:
        o = _org(s, org)
        if s.get(db.PartnershipMember, (partnership_id, o.id)) is None:
            s.add(db.PartnershipMember(partnership_id=partnership_id, org_id=o.id, status="invited"))
            audit.record(s, "partnership.invite", org_id=o.id, detail=str(partnership_id))


def leave_partnership(partnership_id: int, org: str, url: str | None = None) -> None:
    """An organisation leaves a partnership (or declines its invitation): its members stop seeing what is
    shared with the partnership at their next request; its own datasets stop being shared with it."""
    with db.session(url) as s:
        o = _org(s, org)
        member = s.get(db.PartnershipMember, (partnership_id, o.id))
        if member is None:
            raise AccountError(f"{org} is not in partnership {partnership_id}")
        s.delete(member)
        s.execute(sa.delete(db.DatasetShare).where(
            db.DatasetShare.partnership_id == partnership_id,
            db.DatasetShare.dataset_id.in_(sa.select(db.Dataset.id).where(db.Dataset.org_id == o.id))))
        audit.record(s, "partnership.leave", org_id=o.id, detail=str(partnership_id))
        db.bump(s)


def partnership_id(name: str, url: str | None = None) -> int:
    with db.session(url) as s:
        p = s.execute(sa.select(db.Partnership).where(db.Partnership.name == name)).scalar_one_or_none()
        if p is None:
            raise AccountError(f"no partnership {name!r}")
        return p.id


def accept_partnership(partnership_id: int, org: str, url: str | None = None) -> None:
    with db.session(url) as s:
        o = _org(s, org)
        member = s.get(db.PartnershipMember, (partnership_id, o.id))
        if member is None:
            raise AccountError(f"{org} was not invited to partnership {partnership_id}")
        member.status = "accepted"
        audit.record(s, "partnership.accept", org_id=o.id, detail=str(partnership_id))
        db.bump(s)


def list_partnerships(url: str | None = None) -> list[dict]:
    with db.session(url) as s:
        out = []
        for p in s.execute(sa.select(db.Partnership).order_by(db.Partnership.name)).scalars():
            out.append({"id": p.id, "name": p.name, "description": p.description,
                        "members": [{"code": m.org.code, "name": m.org.name, "authority": m.org.authority,
                                     "status": m.status} for m in p.members]})
        return out


def remove_partnership(name: str, url: str | None = None) -> None:
    with db.session(url) as s:
        p = s.execute(sa.select(db.Partnership).where(db.Partnership.name == name)).scalar_one_or_none()
        if p is None:
            raise AccountError(f"no partnership {name!r}")
        audit.record(s, "partnership.remove", detail=name)
        s.delete(p)
        db.bump(s)


# -- API tokens ---------------------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_token(email: str, expires_days: int | None = None, name: str = "", url: str | None = None) -> str:
    """A new API token for ``email``: returned once, stored only as its SHA-256. It expires after
    ``expires_days`` (default ATLAS_TOKEN_DEFAULT_DAYS; at most ATLAS_TOKEN_MAX_DAYS)."""
    config = settings.load()
    days = expires_days or config.token_default_days
    if not 1 <= days <= config.token_max_days:
        raise AccountError(f"a token lives 1 to {config.token_max_days} days (ATLAS_TOKEN_MAX_DAYS), not {days}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session(url) as s:
        user = _user(s, email)
        expires = db.now() + timedelta(days=days)
        t = db.Token(user_id=user.id, digest=_digest(token), prefix=token[:12], name=name, expires=expires)
        s.add(t)
        audit.record(s, "token.add", user=user, detail=f"{token[:12]}... {name}".strip())
    return token


def list_tokens(email: str | None = None, url: str | None = None) -> list[dict]:
    with db.session(url) as s:
        q = sa.select(db.Token, db.User.email).join(db.User, db.User.id == db.Token.user_id).order_by(db.Token.id)
        if email:
            q = q.where(db.User.email == _norm_email(email))
        return [{"id": t.id, "email": e, "prefix": t.prefix, "name": t.name, "created": t.created.isoformat(),
                 "expires": t.expires.isoformat() if t.expires else None,
                 "revoked": t.revoked.isoformat() if t.revoked else None,
                 "last_used": t.last_used.isoformat() if t.last_used else None}
                for t, e in s.execute(q).all()]


def revoke_token(token_id: int, email: str | None = None, url: str | None = None) -> None:
    with db.session(url) as s:
        t = s.get(db.Token, token_id)
        if t is None or (email and t.user.email != _norm_email(email)):
            raise AccountError(f"no token {token_id}")
        t.revoked = db.now()
        audit.record(s, "token.revoke", user=t.user, detail=t.prefix)


def user_for_token(token: str, url: str | None = None) -> int | None:
    """The user id of a live token (not revoked, not expired), recording when it was last used; else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with db.session(url) as s:
        t = s.execute(sa.select(db.Token).where(db.Token.digest == _digest(token))).scalar_one_or_none()
        if t is None or t.revoked is not None or (t.expires is not None and t.expires < db.now()):
            return None
        if not t.user.active:
            return None
        t.last_used = db.now()
        return t.user_id


# -- invitations and password resets ----------------------------------------------------------------------
#
# A link of the form /account/join/<secret>: used once, expiring after ATLAS_INVITATION_HOURS. There is no
# e-mail server here: the link is shown to the admin who made it (and printed by `atlas user invite`), and
# every function registered with ``on_link`` is called with it (a deployment's way to send it: SMTP, Notify).

_senders: list[Any] = []


def on_link(send: Any) -> Any:
    """Register ``send(kind, email, path)``: called for each new invitation or reset link (``path`` is the
    link's path on this site: /account/join/<secret>). A failing sender is logged, never fatal."""
    _senders.append(send)
    return send


def _deliver(kind: str, email: str, path: str) -> None:
    import logging  # noqa: PLC0415

    for send in list(_senders):
        try:
            send(kind, email, path)
        except Exception:  # noqa: BLE001 - the link is shown anyway; sending is a convenience
            logging.getLogger(__name__).exception("sending the %s link to %s failed", kind, email)


LINK_PATH = "/account/join/"


def _new_link(s: Any, kind: str, email: str, org_id: int | None, role: str, by: int | None) -> str:
    secret = secrets.token_urlsafe(24)
    hours = settings.load().invitation_hours
    s.add(db.Invitation(digest=_digest(secret), kind=kind, email=email, org_id=org_id, role=role, created_by=by,
                        expires=db.now() + timedelta(hours=hours)))
    return LINK_PATH + secret


def invite(email: str, org: str, role: str = "member", by: int | None = None, url: str | None = None) -> str:
    """An invitation to join ``org`` as ``role``: the link's path, shown once (and to ``on_link`` senders).
    Whoever opens it sets a password (a new account) or, signed in as that address, simply joins."""
    if role not in db.ROLES:
        raise AccountError(f"role must be one of {', '.join(db.ROLES)}, not {role!r}")
    email = _norm_email(email)
    with db.session(url) as s:
        o = _org(s, org)
        user = s.execute(sa.select(db.User).where(db.User.email == email)).scalar_one_or_none()
        if user is not None and s.get(db.Membership, (user.id, o.id)) is not None:
            raise AccountError(f"{email} is already a member of {org}")
        path = _new_link(s, "invite", email, o.id, role, by)
        audit.record(s, "member.invite", org_id=o.id, detail=f"{email} {role}")
    _deliver("invite", email, path)
    return path


def reset_link(email: str, by: int | None = None, url: str | None = None) -> str:
    """A one-time link to set a new password for an existing account (made by a site or organisation admin,
    or by `atlas user reset`)."""
    with db.session(url) as s:
        user = _user(s, email)
        path = _new_link(s, "reset", user.email, None, "member", by)
        audit.record(s, "password.reset_link", user=user, detail=user.email)
    _deliver("reset", user.email, path)
    return path


def _link(s: Any, secret: str) -> db.Invitation | None:
    if not secret or len(secret) > 100:
        return None
    found = s.execute(sa.select(db.Invitation).where(db.Invitation.digest == _digest(secret))).scalar_one_or_none()
    if found is None or found.used is not None or found.revoked is not None or found.expires <= db.now():
        return None
    return found


def peek_link(secret: str, url: str | None = None) -> dict | None:
    """What a live link is for (kind, email, organisation name, role), or None (unknown, used or expired)."""
    with db.session(url) as s:
        found = _link(s, secret)
        if found is None:
            return None
        has_account = s.execute(sa.select(db.User.id).where(db.User.email == found.email)).first() is not None
        return {"kind": found.kind, "email": found.email, "org": found.org.name if found.org else None,
                "org_code": found.org.code if found.org else None, "role": found.role, "has_account": has_account}


def redeem_link(secret: str, password: str | None, url: str | None = None) -> int:
    """Use a link once: set the password (a new account for an invitation to a new address) and join the
    organisation. Returns the user id. AccountError when the link is not live or the password too short."""
    if password is not None and (len(password) < MIN_PASSWORD or len(password) > 1000):
        raise AccountError(f"a password has {MIN_PASSWORD} to 1000 characters")
    with db.session(url) as s:
        found = _link(s, secret)
        if found is None:
            raise AccountError("this link is not valid: it was used already, has expired or never existed")
        # Claimed atomically: two tabs opening one link cannot both use it.
        claimed = s.execute(sa.update(db.Invitation).where(db.Invitation.id == found.id,
                                                           db.Invitation.used.is_(None))
                            .values(used=db.now())).rowcount
        if claimed != 1:
            raise AccountError("this link is not valid: it was used already, has expired or never existed")
        user = s.execute(sa.select(db.User).where(db.User.email == found.email)).scalar_one_or_none()
        if user is None:
            if password is None:
                raise AccountError("choose a password")
            user = db.User(email=found.email)
            s.add(user)
            s.flush()
            audit.record(s, "user.add", user=user, org_id=found.org_id, detail=f"{found.email} by invitation")
        if password is not None:
            user.password_hash = _hasher.hash(password)
        if found.kind == "invite" and found.org_id is not None:
            if s.get(db.Membership, (user.id, found.org_id)) is None:
                s.add(db.Membership(user_id=user.id, org_id=found.org_id, role=found.role))
            audit.record(s, "member.join", user=user, org_id=found.org_id, detail=f"{user.email} {found.role}")
            db.bump(s)
        else:
            audit.record(s, "password.reset", user=user, detail=user.email)
        user_id = user.id
    if password is not None:
        sessions.get(url).end_all(user_id)
    return user_id


def list_invitations(org: str, url: str | None = None) -> list[dict]:
    """An organisation's invitations that are still open (for its admins)."""
    with db.session(url) as s:
        o = _org(s, org)
        rows = s.execute(sa.select(db.Invitation).where(
            db.Invitation.org_id == o.id, db.Invitation.kind == "invite", db.Invitation.used.is_(None),
            db.Invitation.revoked.is_(None), db.Invitation.expires > db.now()).order_by(db.Invitation.id)).scalars()
        return [{"id": i.id, "email": i.email, "role": i.role, "expires": i.expires.isoformat(timespec="minutes")}
                for i in rows]


def revoke_invitation(invitation_id: int, org: str, url: str | None = None) -> None:
    with db.session(url) as s:
        o = _org(s, org)
        found = s.get(db.Invitation, invitation_id)
        if found is None or found.org_id != o.id:
            raise AccountError(f"no invitation {invitation_id}")
        found.revoked = db.now()
        audit.record(s, "member.invite_revoked", org_id=o.id, detail=found.email)
