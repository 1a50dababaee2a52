"""``synthgen users ...``: users and API keys, administered on the server.

The commands work on the deployment's store (SYNTHGEN_DATA_DIR / SYNTHGEN_DATABASE_URL);
``pipelines`` is imported inside them, so the rest of the CLI never loads it.
"""

from __future__ import annotations

import typer

from synthgen.cli.app import Typer, app, fail, reports_errors

users_app = Typer(
    help="Users and API keys (on the server: reads SYNTHGEN_DATA_DIR / SYNTHGEN_DATABASE_URL).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


@users_app.command("create")
@reports_errors
def users_create(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="steward, ml_engineer, auditor or admin."),
) -> None:
    """Create a user and print its API key (shown once, alone on the last line)."""
    from pipelines import auth
    from pipelines.store.models import Role
    from pipelines.user_admin import operator_transaction

    if role not in Role.__members__:
        raise fail(f"--role must be one of {', '.join(Role.__members__)}")
    with operator_transaction() as (session, actor):
        issued = auth.create_user(session, name=name, role=role, actor=actor)
    typer.echo(f"created {role} {name!r}; its API key is shown once, store it now:", err=True)
    typer.echo(issued.key)


@users_app.command("key")
@reports_errors
def users_key(name: str = typer.Argument(..., help="User name or id.")) -> None:
    """Issue another API key for a user (printed alone on the last line)."""
    from pipelines import auth
    from pipelines.user_admin import operator_transaction

    with operator_transaction() as (session, actor):
        issued = auth.issue_key(session, name_or_id=name, actor=actor)
    typer.echo(f"new key for {issued.user.name!r}; shown once, store it now:", err=True)
    typer.echo(issued.key)


@users_app.command("list")
@reports_errors
def users_list() -> None:
    """List users, their roles and how many active keys they have."""
    from pipelines import auth
    from pipelines.user_admin import operator_transaction

    with operator_transaction(write=False) as (session, _):
        users = auth.list_users(session)
    typer.echo(f"{'name':24s} {'role':12s} {'keys':>4s}  status")
    for u in users:
        status = f"disabled {u.disabled_at:%Y-%m-%d}" if u.disabled_at else "active"
        typer.echo(f"{u.name:24s} {u.role:12s} {u.active_keys:4d}  {status}")


@users_app.command("revoke")
@reports_errors
def users_revoke(name: str = typer.Argument(..., help="User name or id.")) -> None:
    """Disable a user and revoke all their API keys."""
    from pipelines import auth
    from pipelines.user_admin import operator_transaction

    with operator_transaction() as (session, actor):
        count = auth.revoke_user(session, name_or_id=name, actor=actor)
    typer.echo(f"revoked {count} key(s) of {name!r}; the user is disabled")


@users_app.command("role")
@reports_errors
def users_role(
    name: str = typer.Argument(..., help="User name or id."),
    role: str = typer.Option(..., "--role", help="steward, ml_engineer, auditor or admin."),
) -> None:
    """Give a user another role (from their next request; the last admin stays an admin)."""
    from pipelines import auth
    from pipelines.user_admin import operator_transaction

    with operator_transaction() as (session, actor):
        user = auth.change_role(session, name_or_id=name, role=role, actor=actor)
    typer.echo(f"{user.name!r} is now {user.role}")
