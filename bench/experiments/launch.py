"""Throwaway launcher for the server / client / before-after experiments (bench/compare.py).

    python bench/experiments/launch.py --port 18481 [--src SNAPSHOT/src]
        [--server uvicorn|granian] [--client own|aiohttp|httpx]

Serves bench/vallum-bench.yaml. ``--src`` puts another copy of ``src/`` first on the path
(a snapshot taken before a change), so two versions of the code run side by side.
``--client`` swaps the upstream client for an adapter from ``clients.py``.
Settings travel in environment variables so granian's worker process sees them too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "vallum-bench.yaml"


def _prepare() -> None:
    src = os.environ.get("VALLUM_LAUNCH_SRC")
    if src:
        sys.path.insert(0, src)
    sys.path.insert(0, str(HERE))


def _gateway() -> Any:
    _prepare()
    from vallum.config import load_config
    from vallum.gateway import Gateway

    gateway = Gateway(load_config(CONFIG))
    kind = os.environ.get("VALLUM_LAUNCH_CLIENT", "own")
    if kind != "own":
        import clients

        adapter = clients.make(kind, gateway.config)
        gateway.client = adapter
        for provider in gateway.router.providers.values():
            provider._client = adapter
    return gateway


def granian_factory() -> Any:
    from vallum.proxy.app import GatewayApp

    return GatewayApp(_gateway())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--src", default="")
    ap.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    ap.add_argument("--client", choices=("own", "aiohttp", "httpx"), default="own")
    a = ap.parse_args()
    os.environ["VALLUM_BENCH_PORT"] = str(a.port)
    os.environ["VALLUM_LAUNCH_CLIENT"] = a.client
    if a.src:
        os.environ["VALLUM_LAUNCH_SRC"] = str(Path(a.src).resolve())
    _prepare()
    import vallum

    print("vallum from", vallum.__file__, flush=True)
    if a.server == "granian":
        from granian import Granian

        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path[:2])
        Granian(
            "launch:granian_factory",
            address="127.0.0.1",
            port=a.port,
            interface="asgi",  # type: ignore[arg-type]
            loop="uvloop",  # type: ignore[arg-type]
            workers=1,
            factory=True,
            log_level="warning",  # type: ignore[arg-type]
            working_dir=HERE,
        ).serve()
        return
    import vallum.cli.serve as serve_module

    gateway = _gateway()
    serve_module.Gateway = lambda config: gateway  # type: ignore[assignment,misc]
    serve_module.serve(gateway.config)


if __name__ == "__main__":
    main()
