"""Vallum's PII detector beside Presidio's pattern recognizers: same texts, same scorer.

Run (one command, from the repo root, after creating the scratch Presidio venv once:
``python3 -m venv /tmp/presidio-env && /tmp/presidio-env/bin/pip install presidio-analyzer``)::

    .venv/bin/python bench/presidio_compare.py --presidio-python /tmp/presidio-env/bin/python

Vallum runs in this process. Presidio runs in a subprocess under the scratch interpreter
(this same file, ``--worker`` mode: standard library + presidio only), with an
``AnalyzerEngine`` whose NLP engine is ``spacy.blank("en")`` — no spaCy model, so no NER:
only Presidio's pattern recognizers, validators and context words run. A blank pipeline
gives empty lemmas, which would silence Presidio's context words, so one small component
copies each token's lower-case form into ``lemma_``. The worker writes its spans as JSON;
both sides are replayed here through ``vallum eval``'s runner and scorer
(``evaluate_files`` → ``match_spans``), on the kinds Vallum reports (``PII_KINDS``), after
mapping Presidio's names (``PRESIDIO_TO_VALLUM``); whatever matching rule ``vallum eval``
uses applies to both.

Speed (both sides, same texts, CPU time of the process): p50 / p99 per 1 KB text (dataset
texts packed into 1,024 characters, each dataset text used once) and MB/s on 10 KB and
100 KB texts, each on a freshly built detector (so no cache carries over from scoring).
Results go to docs/performance.md ("PII: Vallum beside Presidio's pattern recognizers").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared/data/pii"
FILES = (DATA / "pii_synth_dev.jsonl", DATA / "presidio_synth_dataset_v2.json")
# Presidio's entity names where they differ from Vallum's (Vallum reports an ITIN as US_SSN).
PRESIDIO_TO_VALLUM = {"US_PASSPORT": "PASSPORT", "US_ITIN": "US_SSN"}
LONG_SIZES = (10_000, 100_000)
KB = 1024
WARMUP = 10
# Not from the data sets: touches the lazy paths (phone, e-mail, card, name) before timing.
WARMUP_TEXT = (
    "Contact Dr Ann Lee at ann.lee@example.org or +1 212 555 0101, card 4111 1111 1111 1111."
)
SEED = 20251126

Span = tuple[str, int, int, float]  # kind, start, end, score
Detect = Callable[[str], list[Span]]


# --- shared by both sides (standard library only) -------------------------------------


def pack(texts: Sequence[str], size: int, seed: int) -> list[str]:
    """Shuffle ``texts`` and join them (newline-separated) into pieces of exactly ``size``
    characters; each text is used once, a trailing short piece is dropped."""
    order = list(texts)
    random.Random(seed).shuffle(order)
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for text in order:
        current.append(text)
        length += len(text) + 1
        if length >= size:
            pieces.append("\n".join(current)[:size])
            current, length = [], 0
    return pieces


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_call(detect: Detect, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    detect(text)
    return time.process_time() - cpu, time.perf_counter() - wall


def run_side(build: Callable[[], Detect], job: dict[str, Any]) -> dict[str, Any]:
    """Spans on the evaluation texts, then speed on fresh detectors (no cache carried over)."""
    started = time.perf_counter()
    detect = build()
    load_s = time.perf_counter() - started
    spans = [detect(text) for text in job["eval_texts"]]
    detect = build()
    kb_texts: list[str] = job["kb_texts"]
    for text in kb_texts[:WARMUP]:
        detect(text)
    timings = [cpu_call(detect, text) for text in kb_texts[WARMUP:]]
    cpu = [t[0] for t in timings]
    long_runs = []
    for texts in job["long_texts"]:
        detect = build()
        detect(WARMUP_TEXT)
        runs = [cpu_call(detect, text) for text in texts]
        long_runs.append(
            {
                "size": len(texts[0]),
                "chars": sum(map(len, texts)),
                "cpu_s": sum(r[0] for r in runs),
                "wall_s": sum(r[1] for r in runs),
            }
        )
    return {
        "load_s": load_s,
        "spans": spans,
        "kb_cpu_ms_p50": percentile(cpu, 50) * 1e3,
        "kb_cpu_ms_p99": percentile(cpu, 99) * 1e3,
        "kb_wall_ms_p50": percentile([t[1] for t in timings], 50) * 1e3,
        "kb_texts": len(cpu),
        "long": long_runs,
    }


# --- Presidio side (runs under the scratch interpreter) -------------------------------


def presidio_build() -> tuple[Callable[[], Detect], dict[str, Any]]:
    import logging
    from importlib.metadata import version

    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from spacy.language import Language

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    @Language.component("lower_case_lemma")
    def lower_case_lemma(doc: Any) -> Any:
        for token in doc:
            token.lemma_ = token.lower_
        return doc

    class BlankSpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
        """``spacy.blank("en")``: tokenizer only, nothing downloaded, no NER."""

        def load(self) -> None:
            nlp = spacy.blank("en")
            nlp.add_pipe("lower_case_lemma")
            self.nlp = {"en": nlp}

    def build() -> Detect:
        engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank_en"}])
        engine.load()
        analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

        def detect(text: str) -> list[Span]:
            return [
                (r.entity_type, r.start, r.end, r.score)
                for r in analyzer.analyze(text, language="en")
            ]

        return detect

    probe = AnalyzerEngine(
        nlp_engine=_loaded(
            BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank_en"}])
        ),
        supported_languages=["en"],
    )
    pattern_kinds = sorted(
        {
            kind
            for recognizer in probe.registry.recognizers
            if type(recognizer).__name__ != "SpacyRecognizer"  # NER: finds nothing here
            for kind in recognizer.supported_entities
        }
    )
    meta = {
        "presidio_version": version("presidio-analyzer"),
        "spacy_version": spacy.__version__,
        "recognizers": sorted(type(r).__name__ for r in probe.registry.recognizers),
        "pattern_kinds": pattern_kinds,
    }
    return build, meta


def _loaded(engine: Any) -> Any:
    engine.load()
    return engine


def worker(job_path: str, out_path: str) -> None:
    # tldextract (Presidio's e-mail validator) would fetch the public suffix list at
    # import; an empty URL list makes it use its bundled snapshot: nothing downloaded.
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    build, meta = presidio_build()
    result = run_side(build, job)
    result.update(meta)
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")


# --- Vallum side and the report (runs in Vallum's venv) -------------------------------


def vallum_build() -> Detect:
    from vallum.eval import eval_detectors

    detect = eval_detectors()["pii"].build()
    return lambda text: [(m.kind, m.start, m.end, m.score) for m in detect(text)]


def run_presidio(python: str, job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="presidio-compare-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
        cmd = [python, str(Path(__file__).resolve()), "--worker", str(job_path), str(out_path)]
        subprocess.run(cmd, check=True, env=env)
        result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
        return result


def score(
    paths: Sequence[Path], texts: Sequence[str], spans: Sequence[Any], floor: float
) -> dict[str, Any]:
    """Replay recorded spans through ``vallum eval``'s own runner and scorer, so both sides
    are matched exactly as ``vallum eval --detector pii`` matches Vallum; per-file reports."""
    from vallum.detectors.base import Match
    from vallum.detectors.pii import PII_KINDS
    from vallum.eval import EvalDetector, evaluate_files

    recorded = iter(zip(texts, spans, strict=True))

    def replay(text: str) -> list[Match]:
        expected, found = next(recorded)
        if expected != text:
            raise SystemExit("replay out of step with the evaluation files")
        return [
            Match(PRESIDIO_TO_VALLUM.get(kind, kind), start, end, value, "bench", "")
            for kind, start, end, value in found
            if value >= floor
        ]

    detector = EvalDetector("replay", "spans", lambda: replay, frozenset(PII_KINDS))
    files, pooled = evaluate_files(detector, paths)
    return {"pooled": pooled.spans, **{f.name: f.spans for f in files}}


def _prf(metrics: dict[str, float]) -> str:
    """P | R | F2, with "-" where there is nothing to measure (no predictions / no gold)."""
    predicted, gold = metrics["tp"] + metrics["fp"], metrics["tp"] + metrics["fn"]
    precision = f"{metrics['precision']:.3f}" if predicted else "-"
    recall = f"{metrics['recall']:.3f}" if gold else "-"
    f2 = f"{metrics['f2']:.3f}" if gold else "-"
    return f"{precision} | {recall} | {f2}"


def accuracy_table(
    vallum: Any, presidio: dict[float, Any], common: list[str], scored: list[str]
) -> list[str]:
    floors = sorted(presidio)
    head = "| entity | gold | Vallum P | R | F2 |" + "".join(
        f" Presidio >={f:g} P | R | F2 |" for f in floors
    )
    lines = [head, "|" + "---|" * (5 + 3 * len(floors))]

    def gold(kinds: list[str]) -> int:  # merged gold spans: tp + fn, the same for every side
        return sum(vallum.tp[k] + vallum.fn[k] for k in kinds)

    counted = [vallum, *presidio.values()]
    kinds = [k for k in scored if any(c.tp[k] or c.fp[k] or c.fn[k] for c in counted)]
    for kind in kinds:
        mark = "" if kind in common else " (no Presidio pattern)"
        row = f"| {kind}{mark} | {gold([kind])} | {_prf(vallum.metrics([kind]))} |"
        lines.append(row + "".join(f" {_prf(presidio[f].metrics([kind]))} |" for f in floors))
    for label, selected in (("pooled, all kinds", scored), ("pooled, common kinds", common)):
        row = f"| **{label}** | {gold(selected)} | {_prf(vallum.metrics(selected))} |"
        lines.append(row + "".join(f" {_prf(presidio[f].metrics(selected))} |" for f in floors))
    return lines


def file_lines(vallum: dict[str, Any], presidio: dict[float, Any], common: list[str]) -> list[str]:
    lines = ["| file | kinds | Vallum P / R / F2 | Presidio >=0 P / R / F2 |", "|---|---|---|---|"]
    for name in vallum:
        if name == "pooled":
            continue
        for label, kinds in (("all", None), ("common", common)):
            mine, theirs = vallum[name].metrics(kinds), presidio[0.0][name].metrics(kinds)
            lines.append(
                f"| {name} | {label} | {_prf(mine).replace(' |', ' /')} |"
                f" {_prf(theirs).replace(' |', ' /')} |"
            )
    return lines


def speed_table(vallum: dict[str, Any], presidio: dict[str, Any]) -> list[str]:
    def row(label: str, key: Callable[[dict[str, Any]], float], fmt: str) -> str:
        mine, theirs = key(vallum), key(presidio)
        ratio = theirs / mine if mine else float("nan")
        return f"| {label} | {mine:{fmt}} | {theirs:{fmt}} | {ratio:.2f} |"

    lines = [
        "| speed (CPU time) | Vallum | Presidio | Presidio / Vallum |",
        "|---|---|---|---|",
        row("detector build, s (wall)", lambda r: r["load_s"], ".2f"),
        row(f"1 KB text p50, ms ({vallum['kb_texts']} texts)", lambda r: r["kb_cpu_ms_p50"], ".3f"),
        row("1 KB text p99, ms", lambda r: r["kb_cpu_ms_p99"], ".3f"),
        row("1 KB text p50, ms wall", lambda r: r["kb_wall_ms_p50"], ".3f"),
    ]
    for index, run in enumerate(vallum["long"]):
        lines.append(
            row(
                f"{run['size'] // 1000} KB texts x{run['chars'] // run['size']}, MB/s",
                lambda r, i=index: r["long"][i]["chars"] / r["long"][i]["cpu_s"] / 1e6,
                ".3f",
            )
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The scratch venv's interpreter (only run, never written to).
    parser.add_argument("--presidio-python", default="/tmp/presidio-env/bin/python")  # noqa: S108
    parser.add_argument("--files", nargs="+", type=Path, default=list(FILES))
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    report(args)


def report(args: argparse.Namespace) -> None:
    from vallum.detectors.pii import PII_KINDS
    from vallum.eval.data import load_examples

    examples = [e for path in args.files for e in load_examples(path)]
    texts = [e.text for e in examples]
    job = {
        "eval_texts": texts,
        "kb_texts": pack(texts, KB, SEED),
        "long_texts": [pack(texts, size, SEED + size) for size in LONG_SIZES],
    }
    print(f"{len(texts)} texts; Vallum …", file=sys.stderr, flush=True)
    mine = run_side(vallum_build, job)
    print("Presidio (subprocess) …", file=sys.stderr, flush=True)
    theirs = run_presidio(args.presidio_python, job)
    scored = frozenset(PII_KINDS)
    pattern_kinds = {PRESIDIO_TO_VALLUM.get(k, k) for k in theirs["pattern_kinds"]}
    common = sorted(scored & pattern_kinds)
    vallum_counts = score(args.files, texts, mine["spans"], 0.0)
    presidio_counts = {f: score(args.files, texts, theirs["spans"], f) for f in (0.0, 0.5)}
    print(
        f"Presidio {theirs['presidio_version']} (spaCy {theirs['spacy_version']}, blank 'en'); "
        f"recognizers: {', '.join(theirs['recognizers'])}"
    )
    ignored = sorted(set(theirs["pattern_kinds"]) - set(PRESIDIO_TO_VALLUM) - scored)
    print(f"Presidio kinds not scored (Vallum has no such kind): {', '.join(ignored)}")
    print(f"files: {', '.join(p.name for p in args.files)}; {len(texts)} texts\n")
    pooled = {f: c["pooled"] for f, c in presidio_counts.items()}
    print("\n".join(accuracy_table(vallum_counts["pooled"], pooled, common, sorted(scored))))
    print()
    print("\n".join(file_lines(vallum_counts, presidio_counts, common)))
    print()
    print("\n".join(speed_table(mine, theirs)))
    if args.json:
        raw = {"vallum": mine, "presidio": theirs, "common_kinds": common}
        args.json.write_text(json.dumps(raw), encoding="utf-8")


if __name__ == "__main__":
    main()
