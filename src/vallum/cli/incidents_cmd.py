"""``vallum incidents list | show | resolve`` and ``vallum blocks list | add | remove``.

They act on the same durable store as the running gateways (``--config``, else
``./vallum.yaml``, else the demo store); gateways pick changes up within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from vallum.anomaly.actions import reverse_actions
from vallum.anomaly.incidents import IncidentStore
from vallum.anomaly.state import Enforcement, announcing, parse_cidr
from vallum.cli.keys import print_table, resolve_config
from vallum.clock import SystemClock
from vallum.storage import Storage, open_storage

__all__ = ["register"]


async def _with_store(
    args: argparse.Namespace, action: Callable[[Storage, Enforcement], Awaitable[int]]
) -> int:
    """Run ``action`` on the store, with an Enforcement whose changes are announced where
    running gateways listen (the counters backend too, when it is another one)."""
    from vallum.gateway import _ensure_sqlite_dir

    config = resolve_config(args.config)
    urls = config.storage
    _ensure_sqlite_dir(urls.url)
    storage = await open_storage(urls.url, namespace=urls.namespace)
    counters = storage
    try:
        if urls.counters_url != urls.url and not urls.counters_url.startswith("memory:"):
            counters = await open_storage(urls.counters_url, namespace=urls.namespace)
        return await action(storage, announcing(storage, counters, SystemClock()))
    finally:
        if counters is not storage:
            await counters.close()
        await storage.close()


def _emit(args: argparse.Namespace, data: Any, columns: list[str]) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif isinstance(data, list):
        print_table(data, columns)
    else:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _list(args: argparse.Namespace) -> int:
    async def run(storage: Storage, enforcement: Enforcement) -> int:
        found = await IncidentStore(storage).recent(status=args.status, limit=args.limit)
        rows = [
            {
                **i.model_dump(
                    mode="json", include={"id", "detector", "severity", "subject", "status"}
                ),
                "opened_at": i.opened_at,
                "actions": [f"{a.kind}:{a.status}" for a in i.actions if a.kind != "alert"],
            }
            for i in found
        ]
        _emit(
            args, rows, ["id", "opened_at", "detector", "severity", "subject", "status", "actions"]
        )
        return 0

    return asyncio.run(_with_store(args, run))


def _show(args: argparse.Namespace) -> int:
    async def run(storage: Storage, enforcement: Enforcement) -> int:
        incident = await IncidentStore(storage).get(args.id)
        _emit(args, incident.model_dump(mode="json"), [])
        return 0

    return asyncio.run(_with_store(args, run))


def _resolve(args: argparse.Namespace) -> int:
    async def run(storage: Storage, enforcement: Enforcement) -> int:
        store = IncidentStore(storage)
        incident = await store.get(args.id)
        await reverse_actions(incident, enforcement, store, actor="cli")
        incident.status, incident.resolved_at = "resolved", time.time()
        incident.resolved_by, incident.note = "cli", args.note[:512]
        await store.save(incident)
        _emit(args, incident.model_dump(mode="json"), [])
        return 0

    return asyncio.run(_with_store(args, run))


def _blocks(args: argparse.Namespace) -> int:
    async def run(storage: Storage, enforcement: Enforcement) -> int:
        if args.blocks_command == "add":
            cidr = str(parse_cidr(args.cidr))
            until = time.time() + args.ttl if args.ttl else None
            await enforcement.change("blocks", cidr, {"until": until, "by": "cli"})
            await IncidentStore(storage).audit(
                {"at": time.time(), "actor": "cli", "action": "anomaly.block", "target": cidr}
            )
        elif args.blocks_command == "remove":
            cidr = str(parse_cidr(args.cidr))
            await enforcement.change("blocks", cidr, None)
            await IncidentStore(storage).audit(
                {"at": time.time(), "actor": "cli", "action": "anomaly.unblock", "target": cidr}
            )
        document = await enforcement.document()
        rows = [
            {"kind": k, "target": t, **v} for k, items in document.items() for t, v in items.items()
        ]
        _emit(args, rows, ["kind", "target", "until", "incident", "by"])
        return 0

    return asyncio.run(_with_store(args, run))


def register(commands: Any) -> None:
    incidents = commands.add_parser("incidents", help="Anomaly incidents: list, show, resolve.")
    sub = incidents.add_subparsers(dest="incidents_command", required=True)
    for name, func, help_text in (
        ("list", _list, "Most recent incidents first."),
        ("show", _show, "One incident with its evidence and actions."),
        ("resolve", _resolve, "Close an incident and reverse its actions."),
    ):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--config", help="gateway config (default ./vallum.yaml or the demo)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.set_defaults(func=func)
        if name == "list":
            parser.add_argument("--status", choices=["open", "resolved"], default=None)
            parser.add_argument("--limit", type=int, default=50)
        else:
            parser.add_argument("id", help="incident id (inc_...)")
        if name == "resolve":
            parser.add_argument("--note", default="", help="why it is resolved")
    blocks = commands.add_parser("blocks", help="Blocked ranges, suspended and throttled keys.")
    bsub = blocks.add_subparsers(dest="blocks_command", required=True)
    for name in ("list", "add", "remove"):
        parser = bsub.add_parser(name, help=f"{name} IP/CIDR blocks")
        parser.add_argument("--config", help="gateway config (default ./vallum.yaml or the demo)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.set_defaults(func=_blocks)
        if name != "list":
            parser.add_argument("cidr", help="an address or CIDR range")
        if name == "add":
            parser.add_argument("--ttl", type=float, default=3600.0, help="seconds (0: forever)")
