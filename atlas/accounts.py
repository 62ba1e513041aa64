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

from atlas import access, audit, db

__all__ = [
    "AccountError", "TOKEN_PREFIX", "accept_partnership", "actor_for", "add_member", "add_org", "add_partnership",
    "add_token", "add_user", "check_password", "invite_to_partnership", "list_orgs", "list_partnerships",
    "list_tokens", "list_users", "remove_org", "remove_partnership", "remove_user", "revoke_token",
    "seed_authorities", "set_password", "user_for_token",
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
    """Every local authority is an organisation (code = its ONS code): add those missing. Returns how many."""
    with db.session(url) as s:
        have = set(s.execute(sa.select(db.Organisation.code)).scalars())
        new = [db.Organisation(code=a["code"], name=a["name"], authority=a["code"]) for a in authorities
               if a["code"] not in have]
        s.add_all(new)
        return len(new)


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


def remove_member(email: str, org: str, url: str | None = None) -> None:
    with db.session(url) as s:
        user, o = _user(s, email), _org(s, org)
        found = s.get(db.Membership, (user.id, o.id))
        if found is None:
            raise AccountError(f"{email} is not a member of {org}")
        s.delete(found)
        audit.record(s, "member.remove", org_id=o.id, detail=user.email)
        db.bump(s)


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


def set_password(email: str, password: str, url: str | None = None) -> None:
    with db.session(url) as s:
        user = _user(s, email)
        user.password_hash = _hasher.hash(password)
        user.session_nonce = secrets.token_hex(8)  # signs the user out everywhere else


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


def actor_for(user_id: int, via: str = "session", nonce: str | None = None, url: str | None = None
              ) -> access.Actor | None:
    """The actor of a user (their roles, and the partnerships their organisations accepted), or None for a
    user that no longer exists, is disabled, or signed out everywhere since (``nonce``)."""
    with db.session(url) as s:
        user = s.get(db.User, user_id)
        if user is None or not user.active or (nonce is not None and nonce != user.session_nonce):
            return None
        roles = tuple(sorted((m.org_id, m.role) for m in user.memberships))
        orgs = [org for org, _ in roles]
        partnerships = frozenset(s.execute(
            sa.select(db.PartnershipMember.partnership_id).where(
                db.PartnershipMember.org_id.in_(orgs), db.PartnershipMember.status == "accepted")).scalars()
        ) if orgs else frozenset()
        return access.Actor(user_id=user.id, email=user.email, roles=roles, partnerships=partnerships,
                            site_admin=user.site_admin, via=via)


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
    """A new API token for ``email``: returned once, stored only as its SHA-256."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session(url) as s:
        user = _user(s, email)
        expires = db.now() + timedelta(days=expires_days) if expires_days else None
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
    """The user id of a live token (not revoked, not expired), recording its use; else None."""
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
