"""``vallum keys | teams | roles | migrate``: the identity store from the command line.

Run in a directory, the commands use the same store as ``vallum demo`` / ``vallum serve``
started there (``./vallum.yaml`` if present, else the demo's ``.vallum/vallum.db``), or the
one ``--config`` names. Running gateways pick changes up without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from vallum.cli.durations import duration
from vallum.clock import SystemClock
from vallum.config import GatewayConfig, load_config
from vallum.errors import ConfigError
from vallum.identity.records import KeySpec, Permission, RoleRecord, TeamRecord
from vallum.identity.service import IdentityService, open_identity
from vallum.storage import Storage, open_storage

__all__ = ["key_warnings", "print_table", "register", "resolve_config"]

_ACTOR = "cli"


def resolve_config(path: str | None) -> GatewayConfig:
    if path:
        return load_config(path)
    if Path("vallum.yaml").exists():
        return load_config("vallum.yaml")
    from vallum.cli.serve import demo_config

    return demo_config()


async def _with_identity(
    config: GatewayConfig, action: Callable[[IdentityService], Awaitable[int]]
) -> int:
    from vallum.gateway import _ensure_sqlite_dir

    _ensure_sqlite_dir(config.storage.url)
    storage: Storage = await open_storage(config.storage.url, namespace=config.storage.namespace)
    counters = storage
    try:
        if config.storage.counters_url != config.storage.url:
            counters = await open_storage(
                config.storage.counters_url, namespace=config.storage.namespace
            )
        return await action(open_identity(storage, counters, SystemClock()))
    finally:
        if counters is not storage:
            await counters.close()
        await storage.close()


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row_cells in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row_cells, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float) and value > 1e9:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(value))
    return str(value)


def _emit(args: argparse.Namespace, data: Any, columns: Sequence[str] | None = None) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif columns is not None:
        print_table(data if isinstance(data, list) else [data], columns)
    else:
        for name, value in data.items():
            print(f"{name:>18}: {_cell(value)}")


_KEY_COLUMNS = ("public_id", "name", "team", "roles", "state", "expires_at", "created_at")


def _spec(args: argparse.Namespace) -> KeySpec:
    labels = dict(item.split("=", 1) for item in args.label or [] if "=" in item)
    quota = {
        "requests_per_minute": args.rpm,
        "tokens_per_minute": args.tpm,
        "max_concurrent": args.max_concurrency,
        "monthly_budget_usd": args.budget_usd,
    }
    data: dict[str, Any] = {
        "name": args.name or "",
        "owner": args.owner or "",
        "team": args.team,
        "roles": tuple(args.role or ()),
        "scopes": tuple(args.scope or ()),
        "labels": labels,
        "allowed_models": tuple(args.model) if args.model else None,
        "allowed_endpoints": tuple(args.endpoint) if args.endpoint else None,
        "allowed_ips": tuple(args.ip or ()),
        "expires_at": time.time() + args.expires_in if args.expires_in else None,
        "quota": {k: v for k, v in quota.items() if v is not None},
    }
    try:
        return KeySpec.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid key options: {exc}") from exc


async def _keys(args: argparse.Namespace, service: IdentityService) -> int:
    from vallum.admin.routes import key_view

    store, now = service.store, time.time()
    if args.keys_command == "create":
        spec = _spec(args)
        team = await store.get_team(spec.team) if spec.team else None
        for warning in key_warnings(resolve_config(args.config), spec, team):
            print(f"vallum: warning: {warning}", file=sys.stderr)
        record, issued = await store.create_key(spec, actor=_ACTOR)
        data = {"id": record.public_id, "key": issued.reveal(), **key_view(record, now)}
        if args.json:
            _emit(args, data)
        else:
            print(f"Created key {record.public_id}. Store it now; it is not shown again:\n")
            print(f"  {issued.reveal()}\n")
        return 0
    if args.keys_command == "list":
        _emit(args, [key_view(r, now) for r in await store.list_keys(team=args.team)], _KEY_COLUMNS)
        return 0
    public_id = args.id
    if args.keys_command == "rotate":
        record, issued = await store.rotate_key(public_id, grace=args.grace, actor=_ACTOR)
        _emit(args, {"id": public_id, "key": issued.reveal(), **key_view(record, now)})
        return 0
    if args.keys_command == "revoke":
        _emit(args, key_view(await store.revoke_key(public_id, actor=_ACTOR), now))
        return 0
    found = await store.get_key(public_id)
    if found is None:
        raise ConfigError(f"no key with id {public_id!r}")
    view = key_view(found, now)
    view["last_used_at"] = await store.last_used(public_id)
    _emit(args, view)
    return 0


def key_warnings(config: GatewayConfig, spec: KeySpec, team: TeamRecord | None) -> list[str]:
    """Why a new key would be refused on every call, as far as the config can tell."""
    layers = {str(layer.get("type")): layer for layer in config.layers}
    warnings: list[str] = []
    authz = layers.get("authz")
    team_roles = team.roles if team is not None else ()
    if authz is not None and not (
        spec.roles or spec.scopes or team_roles or authz.get("default_roles")
    ):
        warnings.append(
            "the key has no role or scope: authz refuses every call with 403 "
            "endpoint_not_allowed; give it --role (e.g. --role user)"
        )
    ratelimit = layers.get("ratelimit")
    quota = spec.quota
    if quota is not None and quota.monthly_budget_usd is not None:
        if ratelimit is None:
            warnings.append("--budget-usd needs a ratelimit layer; none is configured")
        elif not _any_model_priced(config, ratelimit):
            warnings.append(
                "--budget-usd needs prices: no configured model has one (add the ratelimit "
                "layer's `prices:`), so every call of this key is refused with 403 model_not_priced"
            )
    reserve = int((ratelimit or {}).get("default_max_tokens", 1024))
    if (
        quota is not None
        and quota.tokens_per_minute is not None
        and quota.tokens_per_minute < reserve
    ):
        warnings.append(
            f"--tpm {quota.tokens_per_minute} is below the {reserve} completion tokens reserved "
            "for a call without max_tokens: such calls are refused with 429"
        )
    return warnings


def _any_model_priced(config: GatewayConfig, ratelimit: dict[str, Any]) -> bool:
    from vallum.layers.ratelimit import RatelimitConfig
    from vallum.ratelimit.costs import PriceTable, shipped_prices

    settings = RatelimitConfig.model_validate(ratelimit)
    shipped = shipped_prices()[1] if settings.shipped_prices else []
    table = PriceTable([*settings.prices, *shipped])
    return any(table.find(route.name.rstrip("*") or "x") for route in config.models)


def _permission(text: str) -> Permission:
    """``chat,models:list:gpt-4o*,mock-*`` → actions, then ':' and model patterns (optional).

    ``models:list`` is an action with a colon in it, so the actions end at the first ':' that
    does not belong to one.
    """
    actions, models = _split_permission(text)
    try:
        return Permission.model_validate(
            {"actions": actions.split(","), "models": models.split(",") if models else ["*"]}
        )
    except ValueError as exc:
        raise ConfigError(f"invalid permission {text!r}: {exc}") from exc


async def _teams(args: argparse.Namespace, service: IdentityService) -> int:
    store = service.store
    if args.teams_command == "create":
        team = TeamRecord(name=args.name, description=args.description, roles=tuple(args.role))
        _emit(args, (await store.put_team(team, actor=_ACTOR)).model_dump(mode="json"))
    elif args.teams_command == "delete":
        deleted = await store.delete_team(args.name, actor=_ACTOR)
        _emit(args, {"deleted": args.name if deleted else None})
    else:
        rows = [t.model_dump(mode="json") for t in await store.list_teams()]
        _emit(args, rows, ("name", "roles", "description", "created_at"))
    return 0


async def _roles(args: argparse.Namespace, service: IdentityService) -> int:
    store = service.store
    if args.roles_command == "create":
        permissions = tuple(_permission(p) for p in args.allow)
        role = RoleRecord(name=args.name, description=args.description, permissions=permissions)
        _emit(args, (await store.put_role(role, actor=_ACTOR)).model_dump(mode="json"))
    elif args.roles_command == "delete":
        deleted = await store.delete_role(args.name, actor=_ACTOR)
        _emit(args, {"deleted": args.name if deleted else None})
    else:
        rows = []
        for role in await store.list_roles():
            grants = [f"{','.join(p.actions)}:{','.join(p.models)}" for p in role.permissions]
            rows.append({"name": role.name, "permissions": grants, "builtin": role.builtin})
        _emit(args, rows, ("name", "permissions", "builtin"))
    return 0


async def _migrate(args: argparse.Namespace, service: IdentityService) -> int:
    # opening the storage applied every pending SQL migration already
    backend = service.store.storage.backend
    _emit(
        args,
        {"storage": backend, "status": "migrated", "changes": await service.store.last_change()},
    )
    return 0


def _runner(action: Callable[[argparse.Namespace, IdentityService], Awaitable[int]]) -> Any:
    def run(args: argparse.Namespace) -> int:
        config = resolve_config(args.config)
        return asyncio.run(_with_identity(config, lambda service: action(args, service)))

    return run


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="vallum.yaml (default: ./vallum.yaml or demo)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _register_keys(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list, show, rotate and revoke API keys")
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a key (printed once)")
    for flag, help_text in (
        ("--name", "label"),
        ("--owner", "owner"),
        ("--team", "team"),
    ):
        create.add_argument(flag, help=help_text)
    for flag, help_text in (
        ("--role", "role (repeat)"),
        ("--model", "allowed model pattern (repeat; narrows the roles)"),
        ("--endpoint", "allowed action (repeat; narrows the roles)"),
        ("--scope", "scope (repeat)"),
        ("--ip", "allowed client CIDR (repeat)"),
        ("--label", "label key=value (repeat)"),
    ):
        create.add_argument(flag, action="append", help=help_text)
    create.add_argument(
        "--expires-in", type=duration, help="until the key expires: seconds or 30m, 12h, 90d"
    )
    create.add_argument("--rpm", type=int, help="requests per minute (rate-limit layer)")
    create.add_argument("--tpm", type=int, help="tokens per minute (rate-limit layer)")
    create.add_argument("--max-concurrency", type=int, help="calls in flight (rate-limit layer)")
    create.add_argument("--budget-usd", type=float, help="USD per 30 days (rate-limit layer)")
    listing = sub.add_parser("list", help="list keys")
    listing.add_argument("--team")
    for name in ("show", "rotate", "revoke"):
        one = sub.add_parser(name, help=f"{name} a key")
        one.add_argument("id", help="the key's public id")
        if name == "rotate":
            one.add_argument(
                "--grace",
                type=duration,
                default=3600.0,
                help="how long the old secret keeps working: seconds or 30m, 1h, 7d (default 1h)",
            )
    for parser in (create, listing, *(sub.choices[n] for n in ("show", "rotate", "revoke"))):
        _common(parser)
    keys.set_defaults(func=_runner(_keys))


def _split_permission(text: str) -> tuple[str, str]:
    position = 0
    while True:
        colon = text.find(":", position)
        if colon < 0:
            return text, ""
        if text[: colon + len(":list")].endswith("models:list"):
            position = colon + 1
            continue
        return text[:colon], text[colon + 1 :]


def _register_named(commands: Any, kind: str, action: Any) -> None:
    parser = commands.add_parser(f"{kind}s", help=f"manage {kind}s")
    sub = parser.add_subparsers(dest=f"{kind}s_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help=f"create or replace a {kind}")
    create.add_argument("name")
    create.add_argument("--description", default="")
    if kind == "team":
        create.add_argument("--role", action="append", default=[], help="role (repeat)")
    else:
        create.add_argument(
            "--allow", action="append", required=True, help="'chat,embeddings:gpt-4o*' (repeat)"
        )
    delete = sub.add_parser("delete", help=f"delete a {kind}")
    delete.add_argument("name")
    listing = sub.add_parser("list", help=f"list {kind}s")
    for p in (create, delete, listing):
        _common(p)
    parser.set_defaults(func=_runner(action))


def register(commands: Any) -> None:
    _register_keys(commands)
    _register_named(commands, "team", _teams)
    _register_named(commands, "role", _roles)
    migrate = commands.add_parser("migrate", help="apply pending storage migrations")
    _common(migrate)
    migrate.set_defaults(func=_runner(_migrate))
