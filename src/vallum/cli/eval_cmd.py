"""``vallum eval --detector NAME FILES…``: scores and latency of a detector on labelled data.

``vallum eval --detector NAME --loso [--data DIR]`` trains and scores leave-one-source-out
instead (needs the ``train`` extra) and prints the tables as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from vallum.errors import ConfigError

if TYPE_CHECKING:
    from vallum.eval import EvalDetector

__all__ = ["register"]


def register(commands: Any) -> None:
    from vallum.eval import eval_detectors

    parser = commands.add_parser("eval", help="score a detector on labelled JSONL / JSON files")
    parser.add_argument("--detector", "-d", required=True, choices=sorted(eval_detectors()))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--loso",
        action="store_true",
        help="leave-one-source-out: train without each source in turn and score it",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="data folder for --loso (default: ../shared/data)",
    )
    parser.add_argument("files", nargs="*", type=Path, help="data files")
    parser.set_defaults(func=_run)


def _progress(done: int, total: int) -> None:
    if done == total or done % 50 == 0:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _run(args: argparse.Namespace) -> int:
    from vallum.eval import eval_detectors, evaluate_files

    detector = eval_detectors()[args.detector]
    if args.loso:
        return _run_loso(detector, args.data, quiet=args.no_progress)
    if not args.files:
        raise ConfigError("name the data files to score, or pass --loso")
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise ConfigError(f"no such file: {', '.join(missing)}")
    show = None if args.no_progress or args.json else _progress
    reports, pooled = evaluate_files(detector, args.files, progress=show)
    summaries = [r.summary(detector) for r in reports]
    total = pooled.summary(detector)
    if args.json:
        document = {"detector": detector.name, "files": summaries, "pooled": total}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for summary in [*summaries, total]:
        _print(summary)
    return 0


def _run_loso(detector: EvalDetector, data: Path, quiet: bool) -> int:
    from vallum.eval.loso import format_report, run_loso

    if detector.loso is None:
        raise ConfigError(f"the {detector.name} detector has no leave-one-source-out task")
    if not data.is_dir():
        raise ConfigError(f"no such data folder: {data}")

    def show(fold: str) -> None:
        sys.stderr.write(f"fold {fold}\n")

    report = run_loso(detector.loso(data), progress=None if quiet else show)
    sys.stdout.write(format_report(report))
    return 0


def _print(summary: dict[str, Any]) -> None:
    print(
        f"== {summary['file']}: {summary['texts']} texts, latency p50 "
        f"{summary['latency_ms_p50']:.3f} ms, p99 {summary['latency_ms_p99']:.3f} ms, "
        f"{summary['mb_per_s']:.2f} MB/s"
    )
    if "pooled" in summary:
        print(
            f"  {'kind':<20}{'tp':>6}{'fp':>6}{'fn':>6}{'prec':>8}{'recall':>8}{'F1':>8}{'F2':>8}"
        )
        for kind, m in [*summary["per_kind"].items(), ("POOLED", summary["pooled"])]:
            print(
                f"  {kind:<20}{m['tp']:>6}{m['fp']:>6}{m['fn']:>6}{m['precision']:>8.3f}"
                f"{m['recall']:>8.3f}{m['f1']:>8.3f}{m['f2']:>8.3f}"
            )
    else:
        m = summary["labels"]
        print(
            f"  recall {m['recall']:.3f}  FPR {m['false_positive_rate']:.3f}  precision "
            f"{m['precision']:.3f}  F1 {m['f1']:.3f}  balanced accuracy {m['balanced_accuracy']:.3f}"  # noqa: E501 - one table row
        )
