"""``vallum audit tail | query | export | verify``: read and check the audit trail."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vallum.audit.chain import AuditEntry, load_public_key
from vallum.audit.config import JsonlSinkConfig, PostgresSinkConfig, SinkConfig, SqliteSinkConfig
from vallum.audit.query import AuditFilter, index_fields
from vallum.audit.sinks import AuditSink, open_sink
from vallum.audit.verify import verify_sink
from vallum.cli.durations import UNITS, parse_duration
from vallum.cli.keys import print_table
from vallum.cli.spend import SPEND_GROUPS, spend_rows
from vallum.errors import ConfigError

__all__ = ["parse_time", "register"]


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="read, export and verify the audit trail")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for name, help_text, func in (
        ("tail", "the newest records", _tail),
        ("query", "records matching filters, oldest first", _query),
        ("export", "matching records as JSON Lines (for a SIEM)", _export),
        ("verify", "check the hash chains and checkpoint signatures", _verify),
        ("spend", "what calls cost, per key, team or model (default: last 30 days)", _spend),
    ):
        parser = sub.add_parser(name, help=help_text)
        _source_options(parser)
        if name == "spend":
            _filter_options(parser, name)
            parser.set_defaults(since="30d")
            parser.add_argument("--by", choices=SPEND_GROUPS, default="key", help="group by")
            parser.add_argument("--json", action="store_true", help="print JSON")
        elif name != "verify":
            _filter_options(parser, name)
        else:
            parser.add_argument("--public-key", help="Ed25519 PEM key (default: the config's)")
            parser.add_argument("--chain", help="verify only this chain")
            parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(func=func)


def _source_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", "-c", help="gateway config; reads the audit layer's sink")
    source.add_argument("--sqlite", help="an audit SQLite file")
    source.add_argument("--postgres", help="a postgresql:// URL")
    source.add_argument("--jsonl", help="a JSON Lines audit folder")
    parser.add_argument("--schema", default="vallum_audit", help="PostgreSQL schema")
    parser.add_argument("--sink", type=int, default=0, help="which of the config's sinks (0..)")


def _filter_options(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--since", help="ISO time or a duration ago (30m, 2h, 7d)")
    parser.add_argument("--until", help="ISO time or a duration ago")
    parser.add_argument("--key", help="credential public id")
    parser.add_argument("--principal", help="principal id")
    parser.add_argument("--team", help="team")
    parser.add_argument("--decision", choices=["allow", "deny", "reject", "error"])
    parser.add_argument("--finding", help="finding kind (e.g. prompt_injection)")
    parser.add_argument("--request-id", help="one request id")
    parser.add_argument("--chain", help="one chain (instance)")
    parser.add_argument("--checkpoints", action="store_true", help="include checkpoint records")
    default = 20 if name == "tail" else (1_000_000 if name in ("export", "spend") else 100)
    parser.add_argument("--limit", "-n", type=int, default=default, help="most records")
    if name == "tail":
        parser.add_argument("--follow", "-f", action="store_true", help="keep printing new ones")
    if name == "export":
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")
    elif name != "spend":
        parser.add_argument("--json", action="store_true", help="print records as JSON Lines")


def parse_time(text: str | None, now: float) -> float | None:
    """An ISO time (``2024-05-01T12:00:00Z``) or a duration ago (``90s``, ``30m``, ``7d``)."""
    if text is None:
        return None
    ago = parse_duration(text) if text.strip()[-1:] in UNITS else None
    if ago is not None:
        return now - ago
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cannot read the time {text!r}; use ISO 8601 or 30m/2h/7d") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _sink_config(args: argparse.Namespace) -> tuple[SinkConfig, str | None]:
    if args.sqlite:
        return SqliteSinkConfig(path=args.sqlite), None
    if args.postgres:
        return PostgresSinkConfig(url=args.postgres, schema_name=args.schema), None
    if args.jsonl:
        return JsonlSinkConfig(directory=args.jsonl), None
    if args.config:
        from vallum.config import load_config
        from vallum.layers.audit import AuditConfig

        config = load_config(args.config)
        entries = [layer for layer in config.layers if layer.get("type") == "audit"]
        if not entries:
            raise ConfigError(f"{args.config}: no audit layer is configured")
        audit = AuditConfig.model_validate(entries[0])
        if not 0 <= args.sink < len(audit.sinks):
            raise ConfigError(f"--sink must be between 0 and {len(audit.sinks) - 1}")
        return audit.sinks[args.sink], audit.signing_key_file
    # no source given: the demo's audit trail, verified with the demo's key when it is there
    demo_key = Path(".vallum/audit.key")
    return SqliteSinkConfig(), str(demo_key) if demo_key.exists() else None


def _filter(args: argparse.Namespace, *, newest_first: bool = False) -> AuditFilter:
    now = time.time()
    return AuditFilter(
        since=parse_time(args.since, now),
        until=parse_time(args.until, now),
        key=args.key,
        principal=args.principal,
        team=args.team,
        decision=args.decision,
        finding=args.finding,
        request_id=args.request_id,
        chain=args.chain,
        include_checkpoints=args.checkpoints,
        limit=max(1, args.limit),
        newest_first=newest_first,
    )


def _run(args: argparse.Namespace, body: Callable[[AuditSink, str | None], Awaitable[int]]) -> int:
    config, key_file = _sink_config(args)

    async def main() -> int:
        sink = open_sink(config)
        await sink.open()
        try:
            return await body(sink, key_file)
        finally:
            await sink.close()

    return asyncio.run(main())


def _line(entry: AuditEntry) -> str:
    data = entry.data
    fields = index_fields(data)
    when = datetime.fromtimestamp(fields["at"], UTC).isoformat(timespec="milliseconds")
    if fields["kind"] == "checkpoint":
        signed = "signed" if data.get("sig") else "unsigned"
        return f"{when} {entry.chain}:{entry.seq} checkpoint covers={data.get('covers')} {signed}"
    kinds = (fields["findings"] or "").strip("|").replace("|", ",")
    return (
        f"{when} {entry.chain}:{entry.seq} {data.get('request_id')} {fields['decision']} "
        f"{fields['status']} {data.get('route')} model={fields['model'] or '-'} "
        f"team={fields['team'] or '-'} key={fields['key_id'] or '-'}"
        + (f" findings={kinds}" if kinds else "")
        + (f" code={data['error_code']}" if data.get("error_code") else "")
    )


def _emit(entries: list[AuditEntry], as_json: bool) -> None:
    out = sys.stdout
    for entry in entries:
        out.write(entry.line.decode() if as_json else _line(entry))
        out.write("\n")
    out.flush()


def _query(args: argparse.Namespace) -> int:
    async def body(sink: AuditSink, _key: str | None) -> int:
        _emit(await sink.query(_filter(args)), args.json)
        return 0

    return _run(args, body)


_FOLLOW_PAGE = 10_000


def _tail(args: argparse.Namespace) -> int:
    async def body(sink: AuditSink, _key: str | None) -> int:
        where = _filter(args, newest_first=True)
        entries = list(reversed(await sink.query(where)))
        _emit(entries, args.json)
        seen = {(e.chain, e.seq) for e in entries}
        since = entries[-1].at if entries else where.since
        while args.follow:
            await asyncio.sleep(1.0)
            # -n limits the first page only: new records are read up to _FOLLOW_PAGE a second
            # (with -n 1 the oldest match since `since` was always the record already shown)
            fresh = AuditFilter(
                **{
                    **_as_kwargs(where),
                    "since": since,
                    "newest_first": False,
                    "limit": _FOLLOW_PAGE,
                }
            )
            found = [e for e in await sink.query(fresh) if (e.chain, e.seq) not in seen]
            _emit(found, args.json)
            seen.update((e.chain, e.seq) for e in found)
            since = found[-1].at if found else since
        return 0

    return _run(args, body)


def _as_kwargs(where: AuditFilter) -> dict[str, Any]:
    return {name: getattr(where, name) for name in AuditFilter.__dataclass_fields__}


def _spend(args: argparse.Namespace) -> int:
    async def body(sink: AuditSink, _key: str | None) -> int:
        rows = spend_rows((e.data for e in await sink.query(_filter(args))), args.by)
        if args.json:
            print(orjson.dumps(rows).decode())
            return 0
        columns = (args.by, "calls", "priced_calls", "input_tokens", "output_tokens", "cost_usd")
        print_table([{**r, "cost_usd": f"{r['cost_usd']:.6f}"} for r in rows], columns)
        total = sum(r["cost_usd"] for r in rows)
        print(f"total: {total:.6f} USD over {sum(r['calls'] for r in rows)} calls")
        return 0

    return _run(args, body)


def _export(args: argparse.Namespace) -> int:
    async def body(sink: AuditSink, _key: str | None) -> int:
        entries = await sink.query(_filter(args))
        payload = b"".join(e.line + b"\n" for e in entries)
        if args.output:
            await asyncio.to_thread(Path(args.output).write_bytes, payload)
            print(f"exported {len(entries)} records to {args.output}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
        return 0

    return _run(args, body)


def _verify(args: argparse.Namespace) -> int:
    async def body(sink: AuditSink, key_file: str | None) -> int:
        key_path = args.public_key or key_file
        public = load_public_key(key_path) if key_path else None
        report = await verify_sink(sink, public, args.chain)
        if args.json:
            data = {"ok": report.ok, "chains": [c.as_dict() for c in report.chains]}
            print(orjson.dumps(data).decode())
        else:
            for chain in report.chains:
                state = "OK" if chain.ok else "TAMPERED"
                print(
                    f"{chain.chain}: {state} records={chain.records} seq={chain.first_seq}.."
                    f"{chain.last_seq} checkpoints={chain.checkpoints} "
                    f"signed={chain.signed_checkpoints} unsealed={chain.unsealed}"
                )
                for problem in chain.problems[:20]:
                    print(f"  {problem}")
            if public is None:
                print("note: no public key given; checkpoint signatures were not checked")
            first = report.first_problem
            print(f"first bad record: {first}" if first else "all chains verify")
        return 0 if report.ok else 1

    return _run(args, body)
