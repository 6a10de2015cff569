"""The detectors: volume and cost spikes, model extraction, credential abuse, persistence.

``Detectors.observe(event)`` updates the per-subject state and returns the signals the
event raised; a signal is raised once per subject and severity per cooldown.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vallum.anomaly.baselines import Baseline
from vallum.anomaly.events import CallEvent, Sketch, network_of, similarity, sketch_text
from vallum.anomaly.signals import Severity, Signal, Thresholds, WindowCount

__all__ = ["Detectors", "KeyState", "RangeState"]

_DEAD_KEY = frozenset({"key_revoked", "key_expired", "bad_secret"})
_NETWORK_WINDOW = 600.0
T = TypeVar("T")


@dataclass(slots=True)
class _Probe:
    at: float
    sketch: Sketch
    params: int
    logprobs: bool
    near_twin: bool
    exact: bool
    request_id: str


@dataclass(slots=True)
class KeyState:
    """Everything kept per active key (about 2-3 KB; see ``size_bytes``)."""

    first_seen: float
    baseline: Baseline = field(default_factory=Baseline)
    probes: deque[_Probe] = field(default_factory=deque)
    networks: dict[str, float] = field(default_factory=dict)  # /16 -> last seen
    ranges: dict[str, float] = field(default_factory=dict)  # /24 -> last seen (max 8)
    home: set[str] = field(default_factory=set)  # /16s used during warm-up (max 8)
    guard_blocks: WindowCount = field(default_factory=WindowCount)

    def size_bytes(self) -> int:
        """Bytes this state takes serialized (the budget is 4 KB per active key)."""
        probe = 8 + 16 + 4 + 2 + 1 + 1 + 1 + 24  # time, minhash, shape, params, flags, req id
        nets = sum(len(k) + 8 for k in self.networks) + sum(len(k) + 8 for k in self.ranges)
        return 8 + len(self.baseline.pack()) + probe * len(self.probes) + nets + 2 * 24


@dataclass(slots=True)
class RangeState:
    failures: WindowCount = field(default_factory=WindowCount)
    failing_ips: dict[str, float] = field(default_factory=dict)  # max 64
    guard_blocks: WindowCount = field(default_factory=WindowCount)


class Detectors:
    """All detectors over one in-process state table (bounded; least recently used evicted)."""

    def __init__(self, thresholds: Thresholds, *, max_subjects: int = 100_000) -> None:
        self.t = thresholds
        self.keys: OrderedDict[str, KeyState] = OrderedDict()
        self.teams: OrderedDict[str, Baseline] = OrderedDict()
        self.ranges: OrderedDict[str, RangeState] = OrderedDict()
        self.ips: OrderedDict[str, WindowCount] = OrderedDict()
        self.max_subjects = max_subjects
        self._raised: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def observe(self, event: CallEvent) -> list[Signal]:
        if event.text is not None and event.sketch is None:
            event.sketch = sketch_text(event.text)
        event.text = None  # no raw text is kept past this point
        found: list[Signal] = []
        if event.auth_failure is not None:
            found.extend(self._auth_failure(event))
        elif event.key_id is not None:
            key = _get(self.keys, event.key_id, self.max_subjects, lambda: KeyState(event.at))
            team = None
            if event.team is not None:
                team = _get(self.teams, event.team, self.max_subjects, Baseline)
                team.add(event.at, event.input_tokens + event.output_tokens)
            found.extend(self._volume(event, key, team))
            found.extend(self._extraction(event, key))
            found.extend(self._networks(event, key))
            found.extend(self._persistence(event, key))
        return [s for s in found if self._fresh(s)]

    def _fresh(self, signal: Signal) -> bool:
        """Suppress a repeat of the same detector/subject at the same or a lower severity."""
        mark = (signal.detector, signal.subject)
        last = self._raised.get(mark)
        if (
            last is not None
            and signal.at - last[0] < self.t.cooldown
            and signal.severity <= last[1]
        ):
            return False
        self._raised[mark] = (signal.at, int(signal.severity))
        self._raised.move_to_end(mark)
        if len(self._raised) > self.max_subjects:
            self._raised.popitem(last=False)
        return True

    # ---- volume and cost ----------------------------------------------------------------
    def _volume(self, event: CallEvent, key: KeyState, team: Baseline | None) -> list[Signal]:
        tokens = event.input_tokens + event.output_tokens
        key.baseline.add(event.at, tokens)
        base, t = key.baseline, self.t
        if base.count < t.spike_min_requests and base.tokens < t.spike_min_tokens:
            return []
        if base.minutes < t.warmup_minutes:
            if base.count <= t.warmup_cap:
                return []
            return [self._spike(event, "spike", base.count, float(t.warmup_cap), warmup=True)]
        check = base.check(t.spike_sigmas, t.spike_ratio)
        team_check = team.check(t.spike_sigmas, t.spike_ratio) if team is not None else None
        # a key spikes only if its team spikes too (one key taking over its team's load is not)
        team_req = team_check is None or team_check.request_spike
        team_tok = team_check is None or team_check.token_spike
        found = []
        if check.request_spike and base.count >= t.spike_min_requests and team_req:
            found.append(self._spike(event, "spike", check.requests, check.expected_requests))
        if check.token_spike and base.tokens >= t.spike_min_tokens and team_tok:
            found.append(self._spike(event, "cost", check.tokens, check.expected_tokens))
        return found

    def _spike(
        self, event: CallEvent, detector: str, seen: float, expected: float, *, warmup: bool = False
    ) -> Signal:
        key = self.keys[event.key_id or ""]
        repeated = sum(p.exact or p.near_twin for p in key.probes)
        diverse = len(key.probes) > 0 and repeated < len(key.probes) / 2
        # a spike of one repeated prompt (a load test) is recorded, not acted upon
        severity = Severity.MEDIUM if diverse else Severity.LOW
        if seen > 10 * expected and diverse:
            severity = Severity.HIGH
        evidence = {
            "this_minute": round(seen, 1),
            "expected_max": round(expected, 1),
            "warmup": warmup,
            "diverse_prompts": diverse,
        }
        return _key_signal(detector, severity, event, evidence)

    def budget(self, event: CallEvent, tokens_per_day: float) -> Signal | None:
        """Cost against a budget trajectory: the short-scale token rate projected over a day."""
        key = self.keys.get(event.key_id or "")
        if key is None or tokens_per_day <= 0:
            return None
        projected = key.baseline.tokens_short.mean * 1440.0
        if projected <= tokens_per_day * self.t.budget_factor:
            return None
        evidence = {"projected_tokens_per_day": round(projected), "budget": tokens_per_day}
        signal = _key_signal("cost", Severity.MEDIUM, event, evidence, ranges=())
        return signal if self._fresh(signal) else None

    # ---- model extraction ---------------------------------------------------------------
    def _extraction(self, event: CallEvent, key: KeyState) -> list[Signal]:
        sketch = event.sketch
        if sketch is None or event.status >= 500:
            return []
        near = exact = False
        for probe in key.probes:
            score = similarity(sketch, probe.sketch)
            if score == 1.0 and probe.sketch.shape == sketch.shape:
                exact = True
            elif score >= self.t.near_duplicate:
                near = True
        probes = key.probes
        probes.append(
            _Probe(event.at, sketch, event.params, event.logprobs, near, exact, event.request_id)
        )
        while len(probes) > self.t.extraction_events:
            probes.popleft()
        if len(probes) < self.t.extraction_events:
            return []
        span = max(probes[-1].at - probes[0].at, 1.0)
        if span > self.t.extraction_span:
            return []
        return self._score_extraction(event, key, span)

    def _score_extraction(self, event: CallEvent, key: KeyState, span: float) -> list[Signal]:
        t, probes = self.t, key.probes
        count = len(probes)
        near_ratio = sum(p.near_twin for p in probes) / count
        templates = len({p.sketch.shape for p in probes})
        combos = len({p.params for p in probes})
        logprob_ratio = sum(p.logprobs for p in probes) / count
        score = 0.0
        score += 1.0 if near_ratio >= t.near_duplicate_ratio else 0.0
        score += (
            1.0
            if templates >= t.min_templates and near_ratio >= t.near_duplicate_ratio / 2
            else 0.0
        )
        score += 1.0 if combos >= t.sweep_combos else 0.0
        score += 0.5 if logprob_ratio >= 0.5 else 0.0
        if score < t.extraction_score:
            return []
        rate = (count - 1) * 60.0 / span
        severity = Severity.CRITICAL if rate >= t.extraction_fast_rate else Severity.HIGH
        evidence = {
            "score": score,
            "rate_per_min": round(rate, 1),
            "near_duplicate_ratio": round(near_ratio, 2),
            "templates": templates,
            "parameter_settings": combos,
            "logprobs_ratio": round(logprob_ratio, 2),
            "window": count,
        }
        samples = tuple(p.request_id for p in list(probes)[-5:])
        return [
            _key_signal(
                "extraction", severity, event, evidence, ranges=tuple(key.ranges), samples=samples
            )
        ]

    # ---- credential abuse ---------------------------------------------------------------
    def _networks(self, event: CallEvent, key: KeyState) -> list[Signal]:
        network = network_of(event.ip)
        warming = event.at - key.first_seen < self.t.warmup_minutes * 60.0
        if warming and len(key.home) < 8:
            key.home.add(network)
        home_active = any(
            event.at - key.networks.get(n, -1e18) <= _NETWORK_WINDOW for n in key.home
        )
        key.networks[network] = event.at
        key.ranges[event.ip_range] = event.at
        _trim(key.networks, 16)
        _trim(key.ranges, 8)
        if not warming and network not in key.home and home_active:
            # an established key used at the same time from a network it never used: leaked
            return [self._new_network(event, key)]
        recent = [n for n, seen in key.networks.items() if event.at - seen <= _NETWORK_WINDOW]
        if len(recent) < self.t.unrelated_networks:
            return []
        evidence = {"reason": "key_from_unrelated_networks", "networks": len(recent)}
        return [_key_signal("credential_abuse", Severity.HIGH, event, evidence, ranges=())]

    def _new_network(self, event: CallEvent, key: KeyState) -> Signal:
        evidence = {"reason": "key_from_new_network", "home_networks": len(key.home)}
        return _key_signal("credential_abuse", Severity.HIGH, event, evidence)

    def _auth_failure(self, event: CallEvent) -> list[Signal]:
        t, at = self.t, event.at
        found: list[Signal] = []
        ip_count = _get(self.ips, event.ip, self.max_subjects, WindowCount)
        per_ip = ip_count.add(at, t.auth_window)
        state = _get(self.ranges, event.ip_range, self.max_subjects, RangeState)
        per_range = state.failures.add(at, t.auth_window)
        state.failing_ips[event.ip] = at
        _trim(state.failing_ips, 64)
        ips = sum(1 for seen in state.failing_ips.values() if at - seen <= t.auth_window)
        if per_range >= t.auth_fail_range and ips >= t.auth_fail_range_ips:
            found.append(self._abuse(event, "range", "stuffing_from_range", per_range, ips))
        elif per_ip >= t.auth_fail_ip:
            found.append(self._abuse(event, "ip", "failures_from_ip", per_ip, 1))
        if event.key_id is not None and event.auth_failure in _DEAD_KEY:
            dead = _get(self.ips, f"key:{event.key_id}", self.max_subjects, WindowCount)
            tries = dead.add(at, t.auth_window * 10)
            if tries >= t.dead_key_tries:
                found.append(self._abuse(event, "key", "dead_key_tried", tries, 1))
        return found

    def _abuse(self, event: CallEvent, scope: str, reason: str, count: float, ips: int) -> Signal:
        subject = {"range": event.ip_range, "ip": event.ip, "key": event.key_id}[scope]
        severity = Severity.CRITICAL if scope == "range" else Severity.HIGH
        return Signal(
            "credential_abuse" if scope == "key" else "auth_failures",
            severity if scope != "key" else Severity.MEDIUM,
            f"{scope}:{subject}",
            event.at,
            key_id=event.key_id if scope == "key" else None,
            ranges=(event.ip_range if scope == "range" else f"{event.ip}/32",),
            evidence={"reason": reason, "failures": round(count), "distinct_ips": ips},
            samples=(event.request_id,),
        )

    # ---- attack persistence -------------------------------------------------------------
    def _persistence(self, event: CallEvent, key: KeyState) -> list[Signal]:
        # only confident attack verdicts count: a guard false positive on a benign app's
        # users (a borderline score, a pasted secret, personal data) is not persistence
        if not event.guard_blocked or event.guard_score < self.t.guard_min_score:
            return []
        t = self.t
        blocks = key.guard_blocks.add(event.at, t.guard_window)
        state = _get(self.ranges, event.ip_range, self.max_subjects, RangeState)
        range_blocks = state.guard_blocks.add(event.at, t.guard_window)
        worst = max(blocks, range_blocks)
        if worst < t.guard_blocks:
            return []
        severity = Severity.HIGH if worst >= t.guard_blocks_high else Severity.MEDIUM
        evidence = {"key_blocks": round(blocks), "range_blocks": round(range_blocks)}
        return [_key_signal("persistence", severity, event, evidence)]


def _key_signal(
    detector: str,
    severity: Severity,
    event: CallEvent,
    evidence: dict[str, Any],
    *,
    ranges: tuple[str, ...] | None = None,
    samples: tuple[str, ...] | None = None,
) -> Signal:
    """A signal about the event's key: its team, its range (unless given) and the request."""
    return Signal(
        detector,
        severity,
        f"key:{event.key_id}",
        event.at,
        key_id=event.key_id,
        team=event.team,
        ranges=(event.ip_range,) if ranges is None else ranges,
        evidence=evidence,
        samples=(event.request_id,) if samples is None else samples,
    )


def _get(table: OrderedDict[str, T], name: str, limit: int, make: type[T] | object) -> T:
    item = table.get(name)
    if item is None:
        item = make()  # type: ignore[operator]
        table[name] = item
        if len(table) > limit:
            table.popitem(last=False)
    else:
        table.move_to_end(name)
    return item


def _trim(table: dict[str, float], limit: int) -> None:
    while len(table) > limit:
        del table[min(table, key=table.__getitem__)]
