"""Running the rules: each around its triggers, skipping those that cannot match.

``match_rules`` is the reference: every rule is searched around each occurrence of its
trigger substrings (linear time on long texts).

``TriggerIndex`` makes it cheap: which rules can match a text is read off the model's
hashed byte n-grams.

The model already hashes every byte 3-, 4- and 5-gram of the prepared text. A literal of
the rules (a trigger or a gate word, ``rules.literals()``) can occur in the lower-cased
text only if every byte n-gram of it (5-grams; 3- or 4-grams for shorter literals) occurs
in the prepared bytes (preparing folds digits and collapses whitespace; literals contain
neither digits nor whitespace other than single spaces). So a few table lookups give a
*superset* of the literals present, and from it the rules whose gates pass: the others
cannot match and are skipped, these run exactly as before. Literals of one or two bytes
are looked up with ``in``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set

import numpy as np
import numpy.typing as npt

from vallum.detectors.injection.ngram import hash_orders
from vallum.detectors.injection.rules import RULES, Rule, RuleHit

__all__ = ["ORDERS", "TriggerIndex", "gate_passes", "literals", "match_lowered", "match_rules"]

ORDERS = (3, 4, 5)  # n-gram orders the index reads (the shipped model hashes these)
_TABLE_BITS = 17  # a 256 KB table; collisions only loosen the superset

_BEFORE, _AFTER = 120, 520  # the widest pattern spans less than this around its trigger
_MAX_TRIES = 256  # per trigger: bounds the work on adversarially repetitive text

IntArray = npt.NDArray[np.int64]


def literals() -> frozenset[str]:
    """Every trigger and gate literal: what ``present`` must report when it occurs."""
    return frozenset(
        literal
        for rule in RULES
        for alternative in rule.gate
        for group in alternative
        for literal in group
    )


def match_rules(text: str) -> list[RuleHit]:
    """Every rule that matches ``text`` (already normalized), first match per rule."""
    return match_lowered(text.lower())


def match_lowered(
    lowered: str, rules: Iterable[int] | None = None, present: Set[str] | None = None
) -> list[RuleHit]:
    """``match_rules`` on text that is already lower-cased.

    ``rules``: the indexes in ``RULES`` to run (``None``: all) and ``present``: a superset
    of the literals that occur in ``lowered`` (``None``: unknown), both from
    ``TriggerIndex.candidates``; skipping the rules that cannot match and the triggers
    that do not occur leaves the result unchanged.
    """
    first: dict[str, int] = {}  # trigger -> first position (-1: absent), shared by rules
    hits: list[RuleHit] = []
    for index in range(len(RULES)) if rules is None else rules:
        rule = RULES[index]
        match = _search(rule, lowered, first, present)
        if match is not None:
            hits.append(RuleHit(rule.family, rule.score, match.start(), match.end()))
    return hits


def gate_passes(rule: Rule, present: Set[str]) -> bool:
    """Whether ``rule`` can match a text whose literals are (a subset of) ``present``."""
    return any(
        all(not group.isdisjoint(present) for group in alternative) for alternative in rule.gate
    )


def _search(
    rule: Rule, text: str, first: dict[str, int], present: Set[str] | None
) -> re.Match[str] | None:
    """Run the pattern only around occurrences of its triggers: linear time on long texts."""
    for trigger in rule.triggers:
        if present is not None and trigger not in present:
            continue  # absent: ``find`` would return -1
        position = first.get(trigger)
        if position is None:
            position = first[trigger] = text.find(trigger)
        tries = 0
        while position >= 0 and tries < _MAX_TRIES:
            match = rule.pattern.search(text, max(0, position - _BEFORE), position + _AFTER)
            if match is not None:
                return match
            position = text.find(trigger, position + _AFTER - _BEFORE)
            tries += 1
    return None


class TriggerIndex:
    """Tables from n-gram bucket to literal to rule gate; immutable once built."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.shift = max(0, bits - _TABLE_BITS)
        names = sorted(
            literals(), key=lambda literal: (len(literal.encode()) >= ORDERS[0], literal)
        )
        self.short = tuple(name for name in names if len(name.encode()) < ORDERS[0])
        self.names = tuple(names)
        gram_ids: dict[int, int] = {}  # bucket -> gram id (1-based; 0: no literal uses it)
        needs: list[list[int]] = []  # per long literal: the ids of all its n-grams
        for literal in names[len(self.short) :]:
            raw = np.frombuffer(literal.encode("utf-8"), dtype=np.uint8)
            order = min(len(raw), ORDERS[-1])
            buckets = (hash_orders(raw, (order,), bits)[0] >> self.shift).tolist()
            needs.append([gram_ids.setdefault(b, len(gram_ids) + 1) for b in buckets])
        table = np.zeros(2 ** (bits - self.shift), dtype=np.uint16)
        table[np.asarray(list(gram_ids), dtype=np.int64)] = list(gram_ids.values())
        table.flags.writeable = False
        self.table = table
        self.grams = len(gram_ids) + 1
        self.needs, self.need_starts = _ragged(needs)
        self.long = self.names[len(self.short) :]
        triggers: dict[str, set[int]] = {}  # trigger -> the rules it triggers
        for index, rule in enumerate(RULES):
            for trigger in rule.triggers:
                triggers.setdefault(trigger, set()).add(index)
        self.triggers = {trigger: frozenset(rules) for trigger, rules in triggers.items()}

    def candidates(self, lowered: str, hashed: IntArray) -> tuple[list[int], set[str]]:
        """Indexes in ``RULES`` of the rules that may match ``lowered`` and a superset of the
        literals in it; ``hashed``: its ``ORDERS`` n-gram buckets at ``self.bits``
        (``hash_joined(prepare_lowered(lowered), ORDERS, bits)[0]``)."""
        seen = np.zeros(self.grams, dtype=np.uint8)
        seen[self.table[hashed >> self.shift]] = 1
        complete = np.minimum.reduceat(seen[self.needs], self.need_starts)
        found = {self.long[i] for i in np.flatnonzero(complete).tolist()}
        found.update(literal for literal in self.short if literal in lowered)
        triggered: set[int] = set()
        for literal in found & self.triggers.keys():
            triggered |= self.triggers[literal]
        return [i for i in sorted(triggered) if gate_passes(RULES[i], found)], found


def _ragged(rows: list[list[int]]) -> tuple[IntArray, IntArray]:
    """Rows of ids as one flat array and the start of each row (rows are not empty)."""
    flat = np.asarray([value for row in rows for value in row], dtype=np.int64)
    starts = np.cumsum([0] + [len(row) for row in rows[:-1]]).astype(np.int64)
    return flat, starts
