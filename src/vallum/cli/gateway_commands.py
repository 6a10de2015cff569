"""``vallum serve``, ``vallum demo`` and ``vallum check-config``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vallum.config import load_config
from vallum.errors import ConfigError

__all__ = ["register"]

_DEMO_BANNER = """\
Vallum demo gateway on http://{host}:{port}  (built-in mock model; Ctrl-C to stop)

Demo API key (also in .vallum/demo.key; manage keys with `vallum keys`):
  {key}

  curl http://{host}:{port}/v1/chat/completions \\
    -H 'Authorization: Bearer {key}' \\
    -H 'Content-Type: application/json' \\
    -d '{{"model": "mock-echo", "messages": [{{"role": "user", "content": "Hello, Vallum"}}]}}'

  from openai import OpenAI
  client = OpenAI(base_url="http://{host}:{port}/v1", api_key="{key}")
  reply = client.chat.completions.create(
      model="mock-echo", messages=[{{"role": "user", "content": "hi"}}])
  print(reply.choices[0].message.content)

Models: mock-fast (fixed reply), mock-echo (echoes your last message), mock-embed (embeddings).
"""


_DEMO_ADMIN = """
Admin API and metrics on http://{host}:{port} (token in .vallum/admin.token):
  curl http://{host}:{port}/metrics
  curl http://{host}:{port}/v1/keys -H "Authorization: Bearer $(cat .vallum/admin.token)"
"""


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the gateway from a config file")
    serve.add_argument("--config", "-c", required=True, help="path to vallum.yaml")
    serve.set_defaults(func=_serve)
    demo = commands.add_parser("demo", help="run the gateway on embedded defaults, mock model")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument(
        "--admin-port",
        type=int,
        default=8081,
        help="admin API and /metrics (token in .vallum/admin.token); 0: no admin listener",
    )
    demo.set_defaults(func=_demo)
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config", help="path to vallum.yaml")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from vallum.admin.config import require_admin_credentials
    from vallum.gateway import Gateway

    config = load_config(args.config)
    Gateway(config)  # builds every layer and provider, exactly as serve does
    require_admin_credentials(config.admin)
    _print_warnings(config)
    print(f"{args.config}: OK ({len(config.layers)} layers, {len(config.models)} models)")
    return 0


def _require_free_ports(config: Any) -> None:
    """A port already in use is one clear line and exit code 2, before any banner."""
    import socket

    listeners = [("proxy", config.server.host, config.server.port)]
    if config.admin.enabled:
        listeners.append(("admin", config.admin.host, config.admin.port))
    for name, host, port in listeners:
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host}:{port} for the {name} listener: {exc.strerror}"
                    " (another process uses the port? choose another with --port or server.port)"
                ) from exc


def _print_warnings(config: Any) -> None:
    from vallum.config.advice import config_warnings

    for warning in config_warnings(config):
        print(f"vallum: warning: {warning}", file=sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    from vallum.admin.config import AdminConfig, AdminCredential, hash_token
    from vallum.cli.serve import demo_config, serve
    from vallum.identity.demo import ensure_demo_admin_token, ensure_demo_key

    config = demo_config(args.port, args.host)
    if args.admin_port:
        token = ensure_demo_admin_token()
        admin = AdminConfig(
            enabled=True,
            host=args.host,
            port=args.admin_port,
            credentials=(AdminCredential(name="demo-admin", token_sha256=hash_token(token)),),
        )
        config = config.model_copy(update={"admin": admin})
    _require_free_ports(config)
    key = ensure_demo_key(config)
    banner = _DEMO_BANNER.format(host=args.host, port=args.port, key=key)
    if args.admin_port:
        banner += _DEMO_ADMIN.format(host=args.host, port=args.admin_port)
    print(banner, flush=True)
    serve(config)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from vallum.cli.serve import serve

    config = load_config(args.config)
    _print_warnings(config)
    _require_free_ports(config)
    print(f"Vallum on http://{config.server.host}:{config.server.port}", flush=True)
    serve(config, config_path=args.config)
    return 0
