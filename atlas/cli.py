"""``atlas``: the administrators' and scripts' command (installed by the project: pyproject's [project.scripts]).

It reads the same settings as the app (ATLAS_DATA_DIR, ATLAS_DATABASE_URL...) and changes the same records
through the same functions (atlas/accounts.py), so every rule and audit entry holds whichever way a change
is made::

    atlas org add CODE NAME            atlas org list          atlas org remove CODE
    atlas org seed                     (every local authority of the build as an organisation)
    atlas user add EMAIL --org CODE --role admin|editor|member [--password-stdin] [--site-admin]
    atlas user list                    atlas user remove EMAIL
    atlas partnership add NAME --orgs CODE,CODE,...
    atlas partnership list             atlas partnership remove NAME
    atlas user reset EMAIL             (prints a one-time link to set a new password)
    atlas user sign-out EMAIL          (ends every session of the account)
    atlas member invite EMAIL --org CODE --role ROLE   (prints a one-time invitation link)
    atlas member role EMAIL --org CODE --role ROLE     atlas member remove EMAIL --org CODE
    atlas partnership leave NAME --org CODE
    atlas token add EMAIL [--expires-days N]   (prints the new token on its last line)
    atlas token list [EMAIL]           atlas token remove ID
    atlas pull [--all]                 (pull the live feeds that are due, or all of them)
    atlas db upgrade                   (migrate the database: the app does it too, at its first use)
    atlas check                        (version rows without files, files without rows, checksums)
    atlas sweep                        (remove version files no row refers to, an hour old or more)
    atlas sync                         (fetch the build object storage names current, check it, switch to it)

Every command declares the action it performs (``COMMANDS``; a test fails on one that does not) and runs
as the operator (``access.OPERATOR``, "atlas command" in the audit log): whoever runs it holds the server.
Exit status 0 on success, 1 with a one-line message on stderr when the request cannot be carried out (and
for ``check``, when it found a problem).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from atlas import access, accounts, db, settings, storage

__all__ = ["COMMANDS", "main"]

#: Every command, (what, action) as typed, with the access action it performs.
COMMANDS: dict[tuple[str, str | None], str] = {
    **{("org", a): "site.admin" for a in ("add", "list", "seed", "remove")},
    **{("user", a): "site.admin" for a in ("add", "list", "remove", "role", "reset", "sign-out")},
    **{("member", a): "site.admin" for a in ("invite", "role", "remove")},
    **{("partnership", a): "site.admin" for a in ("add", "list", "remove", "leave")},
    **{("token", a): "site.admin" for a in ("add", "list", "remove")},
    ("pull", None): "site.admin", ("db", "upgrade"): "site.admin", ("sweep", None): "site.admin",
    ("check", None): "site.admin", ("sync", None): "site.admin",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="Neighbourhood Atlas administration")
    sub = parser.add_subparsers(dest="what", required=True)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="action", required=True)
    add = org.add_parser("add", help="add an organisation")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--authority", help="the local authority code it is, if it is one")
    org.add_parser("list")
    org.add_parser("seed", help="every local authority of the build as an organisation")
    rm = org.add_parser("remove")
    rm.add_argument("code")

    user = sub.add_parser("user", help="people").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add a user (and their role in an organisation)")
    add.add_argument("email")
    add.add_argument("--org")
    add.add_argument("--role", choices=db.ROLES, default="member")
    add.add_argument("--password-stdin", action="store_true", help="read a password from standard input")
    add.add_argument("--site-admin", action="store_true")
    add.add_argument("--name", default="")
    user.add_parser("list")
    rm = user.add_parser("remove")
    rm.add_argument("email")
    role = user.add_parser("role", help="give a user a role in an organisation")
    role.add_argument("email")
    role.add_argument("--org", required=True)
    role.add_argument("--role", choices=db.ROLES, required=True)
    reset = user.add_parser("reset", help="print a one-time link to set a new password")
    reset.add_argument("email")
    out = user.add_parser("sign-out", help="end every session of an account")
    out.add_argument("email")

    member = sub.add_parser("member", help="members of organisations").add_subparsers(dest="action", required=True)
    inv = member.add_parser("invite", help="print a one-time link inviting EMAIL to join an organisation")
    inv.add_argument("email")
    inv.add_argument("--org", required=True)
    inv.add_argument("--role", choices=db.ROLES, default="member")
    role = member.add_parser("role", help="change a member's role")
    role.add_argument("email")
    role.add_argument("--org", required=True)
    role.add_argument("--role", choices=db.ROLES, required=True)
    rm = member.add_parser("remove", help="take a member out of an organisation")
    rm.add_argument("email")
    rm.add_argument("--org", required=True)

    part = sub.add_parser("partnership", help="partnerships").add_subparsers(dest="action", required=True)
    add = part.add_parser("add")
    add.add_argument("name")
    add.add_argument("--orgs", required=True, help="comma-separated organisation codes")
    add.add_argument("--description", default="")
    part.add_parser("list")
    rm = part.add_parser("remove")
    rm.add_argument("name")
    leave = part.add_parser("leave", help="an organisation leaves a partnership")
    leave.add_argument("name")
    leave.add_argument("--org", required=True)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    add = token.add_parser("add")
    add.add_argument("email")
    add.add_argument("--expires-days", type=int)
    add.add_argument("--name", default="")
    ls = token.add_parser("list")
    ls.add_argument("email", nargs="?")
    rm = token.add_parser("remove", help="revoke a token")
    rm.add_argument("id", type=int)

    pull = sub.add_parser("pull", help="pull the live feeds that are due")
    pull.add_argument("--all", action="store_true", help="every live feed, due or not")
    dbp = sub.add_parser("db", help="the database").add_subparsers(dest="action", required=True)
    dbp.add_parser("upgrade")
    sub.add_parser("sweep", help="remove unreferenced version files")
    sub.add_parser("check", help="check every version's file against its row (and files without rows), and the "
                                 "builds in object storage against their manifests")
    sub.add_parser("sync", help="fetch the build object storage names current (ATLAS_STORAGE_URL), check every "
                                "file and switch this host to it (app hosts also do this by themselves)")
    return parser


def _link(path: str) -> str:
    return settings.load().public_url + path


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False, default=str))


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    settings.load()  # a bad setting stops here, naming the variable
    what, action = args.what, getattr(args, "action", None)
    declared = COMMANDS.get((what, action))
    if declared is None or not access.allowed(access.OPERATOR, declared):
        raise accounts.AccountError(f"`atlas {what} {action or ''}` declares no action it may perform")
    with access.acting_as(access.OPERATOR):
        return _run(args, what, action)


def _run(args: argparse.Namespace, what: str, action: str | None) -> int:
    if what == "org":
        if action == "add":
            accounts.add_org(args.code, args.name, authority=args.authority)
            print(f"added organisation {args.code}")
        elif action == "list":
            _print_rows(accounts.list_orgs())
        elif action == "seed":
            from atlas import extracts  # noqa: PLC0415 - only this command needs the build

            reader = extracts.current()
            print(f"added {accounts.seed_authorities([reader.authority_dict(c) for c in reader.authority_rows])} "
                  "authorities")
        else:
            accounts.remove_org(args.code)
            print(f"removed organisation {args.code}")
    elif what == "user":
        if action == "add":
            password = None
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
                if not password:
                    raise accounts.AccountError("no password on standard input")
            accounts.add_user(args.email, org=args.org, role=args.role, password=password, name=args.name,
                              site_admin=args.site_admin)
            print(f"added user {args.email}" + (f" ({args.role} of {args.org})" if args.org else ""))
        elif action == "list":
            _print_rows(accounts.list_users())
        elif action == "role":
            accounts.add_member(args.email, args.org, args.role)
            print(f"{args.email} is {args.role} of {args.org}")
        elif action == "reset":
            print(f"a one-time link to set a new password for {args.email} "
                  f"(valid {settings.load().invitation_hours} hours):")
            print(_link(accounts.reset_link(args.email)))
        elif action == "sign-out":
            user_id = accounts.user_id(args.email)
            print(f"ended {accounts.sign_out_everywhere(user_id)} sessions of {args.email}")
        else:
            accounts.remove_user(args.email)
            print(f"removed user {args.email}")
    elif what == "member":
        if action == "invite":
            print(f"an invitation for {args.email} to join {args.org} as {args.role} "
                  f"(one use, valid {settings.load().invitation_hours} hours):")
            print(_link(accounts.invite(args.email, args.org, args.role)))
        elif action == "role":
            accounts.set_role(args.email, args.org, args.role)
            print(f"{args.email} is {args.role} of {args.org}")
        else:
            accounts.remove_member(args.email, args.org)
            print(f"{args.email} is no longer a member of {args.org}")
    elif what == "partnership":
        if action == "add":
            orgs = [c.strip() for c in args.orgs.split(",") if c.strip()]
            pid = accounts.add_partnership(args.name, orgs, description=args.description)
            print(f"added partnership {pid}: {args.name} ({', '.join(orgs)})")
        elif action == "list":
            _print_rows(accounts.list_partnerships())
        elif action == "leave":
            accounts.leave_partnership(accounts.partnership_id(args.name), args.org)
            print(f"{args.org} left partnership {args.name}")
        else:
            accounts.remove_partnership(args.name)
            print(f"removed partnership {args.name}")
    elif what == "token":
        if action == "add":
            token = accounts.add_token(args.email, args.expires_days, name=args.name)
            print(f"token for {args.email}" + (f", expires in {args.expires_days} days" if args.expires_days else "")
                  + "; shown once:")
            print(token)
        elif action == "list":
            _print_rows(accounts.list_tokens(args.email))
        else:
            accounts.revoke_token(args.id)
            print(f"revoked token {args.id}")
    elif what == "pull":
        from atlas import feeds  # noqa: PLC0415

        for line in feeds.pull_due(everything=args.all):
            print(line)
    elif what == "db":
        db.ensure_schema()
        print("database at the newest revision")
    elif what == "sweep":
        from atlas import publish  # noqa: PLC0415

        removed = publish.sweep(settings.load().data_dir)
        print(f"removed {len(removed)} unreferenced files")
    elif what == "check":
        from atlas import publish  # noqa: PLC0415

        problems = publish.check_files(settings.load().data_dir)
        for line in problems:
            print(line)
        print(f"{len(problems)} problems" if problems else "every version's file is there and matches its checksum")
        return 1 if problems else 0
    elif what == "sync":
        from atlas import builds  # noqa: PLC0415

        found = builds.sync()
        state = builds.status(settings.load().data_dir)
        print(f"switched to build {found}" if found else f"build {state['id'] or '(none)'} is current here"
              + (f"; object storage names {state.get('stored')}" if "stored" in state else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except (accounts.AccountError, settings.SettingsError, db.Unavailable, storage.Unavailable,
            storage.Corrupt) as exc:
        print(f"atlas: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
