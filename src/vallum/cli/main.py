"""``vallum``: serve, demo, check-config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vallum.config import load_config
from vallum.errors import VallumError

__all__ = ["main"]

_DEMO_BANNER = """\
Vallum demo gateway on http://{host}:{port}  (built-in mock model; Ctrl-C to stop)

  curl http://{host}:{port}/v1/chat/completions \\
    -H 'Content-Type: application/json' \\
    -d '{{"model": "mock-echo", "messages": [{{"role": "user", "content": "Hello, Vallum"}}]}}'

  from openai import OpenAI
  client = OpenAI(base_url="http://{host}:{port}/v1", api_key="demo")
  reply = client.chat.completions.create(
      model="mock-echo", messages=[{{"role": "user", "content": "hi"}}])
  print(reply.choices[0].message.content)

Models: mock-fast (fixed reply), mock-echo (echoes your last message), mock-embed (embeddings).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vallum", description="Security gateway for AI model APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway from a config file")
    serve.add_argument("--config", "-c", required=True, help="path to vallum.yaml")
    demo = commands.add_parser(
        "demo", help="run the gateway on embedded defaults with a mock model"
    )
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config", help="path to vallum.yaml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except VallumError as error:
        print(f"vallum: {error.public_message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from vallum.cli.serve import demo_config, serve

    if args.command == "check-config":
        config = load_config(args.config)
        from vallum.gateway import Gateway

        Gateway(config)  # builds every layer and provider, exactly as serve does
        print(f"{args.config}: OK ({len(config.layers)} layers, {len(config.models)} models)")
        return 0
    if args.command == "demo":
        config = demo_config(args.port, args.host)
        print(_DEMO_BANNER.format(host=args.host, port=args.port), flush=True)
        serve(config)
        return 0
    config = load_config(args.config)
    print(f"Vallum on http://{config.server.host}:{config.server.port}", flush=True)
    serve(config, config_path=args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
