"""Which limits apply to a call: key record, team, roles and config rules, all at once.

Each applicable limit becomes a counter keyed by dimension and kind (``key:<id>:rpm``).
When two sources set the same counter (a key's record and a config rule), both apply to
the same usage, so the smaller limit is the one kept.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vallum.identity.model import compile_patterns
from vallum.pipeline.exchange import Exchange
from vallum.ratelimit.spec import Charge, Limit, Measure, Quota, Term, quota_terms

__all__ = ["COST_SLOTS", "SETTLED_FROM", "Plan", "Resolver", "Rule", "Scope", "counter_id"]

Scope = Literal["global", "key", "principal", "team", "ip", "cidr", "model", "key_model"]
_PLAN_CACHE_SIZE = 4096  # distinct (caller, model, address) combinations; cleared when full
_TOKEN_MEASURES = frozenset(
    {Measure.INPUT_TOKENS, Measure.OUTPUT_TOKENS, Measure.TOTAL_TOKENS, Measure.SPEND}
)
# where each measure's cost sits in the cost tuple the layer builds per call (a tuple
# indexed by int: looking enum members up in a dict calls Enum.__hash__ in Python)
COST_SLOTS = {
    Measure.REQUESTS: 0,
    Measure.CONCURRENT: 1,
    Measure.INPUT_TOKENS: 2,
    Measure.OUTPUT_TOKENS: 3,
    Measure.TOTAL_TOKENS: 4,
    Measure.SPEND: 5,
}
# requests and leases cost 1 whatever the call did: only the slots from here on are settled
SETTLED_FROM = COST_SLOTS[Measure.INPUT_TOKENS]
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@/|-]{1,96}$")
_SCOPE_CODE = {
    "global": "g",
    "key": "k",
    "principal": "p",
    "team": "t",
    "ip": "ip",
    "cidr": "net",
    "model": "m",
    "key_model": "km",
}


class Rule(Quota):
    """Limits from config for one dimension; ``match`` narrows where the rule applies."""

    scope: Scope = Field(description="Who shares a counter: one per key, team, IP, ...")
    match: str | None = Field(
        None,
        max_length=128,
        description=(
            "ip / cidr: a CIDR (cidr: required; one counter for the whole range); "
            "model / key_model: a model pattern ('*' matches any run); "
            "key / principal / team: one exact id."
        ),
    )

    @field_validator("match")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("match must not be blank")
        return value

    @model_validator(mode="after")
    def _match_fits_scope(self) -> Rule:
        if self.scope in ("ip", "cidr") and self.match is not None:
            ipaddress.ip_network(self.match, strict=False)
        if self.scope == "cidr" and self.match is None:
            raise ValueError("a cidr rule needs match: a CIDR such as 10.0.0.0/8")
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global rule takes no match")
        return self


def counter_id(raw: str) -> str:
    """An id safe in a counter key: as is when short and plain, else a hash of it."""
    if _SAFE_ID.match(raw):
        return raw
    return "h" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:24]


class _CompiledRule:
    __slots__ = ("match", "matcher", "network", "scope", "terms")

    def __init__(self, rule: Rule) -> None:
        self.scope: str = rule.scope
        self.match = rule.match
        self.terms = quota_terms(rule)
        self.network = (
            ipaddress.ip_network(rule.match, strict=False)
            if rule.scope in ("ip", "cidr") and rule.match
            else None
        )
        self.matcher = (
            compile_patterns((rule.match,))
            if rule.scope in ("model", "key_model") and rule.match
            else None
        )


class Plan:
    """The limits of one kind of call, resolved once and reused (see ``Resolver.plan``).

    ``fixed``: the charges when no limit depends on tokens or spend (requests and leases
    cost 1), so such calls build nothing per request. ``slots``: each limit with the
    ``COST_SLOTS`` index of its cost.
    """

    __slots__ = ("fixed", "leases", "limits", "needs_spend", "needs_tokens", "slots")

    def __init__(self, limits: list[Limit]) -> None:
        self.limits = tuple(limits)
        self.slots = tuple((limit, COST_SLOTS[limit.measure]) for limit in limits)
        self.needs_tokens = any(limit.measure in _TOKEN_MEASURES for limit in limits)
        self.needs_spend = any(limit.measure is Measure.SPEND for limit in limits)
        self.leases = tuple(lim.key for lim in limits if lim.measure is Measure.CONCURRENT)
        self.fixed = None if self.needs_tokens else tuple(Charge(limit, 1) for limit in limits)


class Resolver:
    """Turns an exchange into the set of limits that apply to it."""

    def __init__(
        self,
        rules: Sequence[Rule],
        teams: dict[str, Quota],
        roles: dict[str, Quota],
    ) -> None:
        self.rules = [_CompiledRule(rule) for rule in rules]
        self.teams = {name: quota_terms(q) for name, q in teams.items()}
        self.roles = {name: quota_terms(q) for name, q in roles.items()}
        self._quota_terms: dict[tuple[tuple[str, float], ...], tuple[Term, ...]] = {}
        self._by_ip = any(rule.scope in ("ip", "cidr") for rule in self.rules)
        self._by_model = any(rule.scope in ("model", "key_model") for rule in self.rules)
        self._plans: dict[tuple[Any, ...], Plan | None] = {}
        self._generation = -1

    def plan(self, exchange: Exchange, directory: Any = None) -> Plan | None:
        """``limits`` of the call, memoised per caller, model and address that matter.

        The memo is keyed by the identity's quota, team and roles (a changed key record
        yields a new identity), and dropped whole when the directory's ``generation``
        moves (team or role records changed) or when it is full.
        """
        generation = getattr(directory, "generation", 0)
        if generation != self._generation or len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
            self._generation = generation
        identity = exchange.identity
        memo_key = (
            None
            if identity is None
            else (
                identity.credential_id,
                identity.principal_id,
                identity.team,
                identity.roles,
                identity.quota,
            ),
            exchange.client_ip if self._by_ip else None,
            exchange.request.model if self._by_model and exchange.request is not None else None,
        )
        try:
            return self._plans[memo_key]
        except KeyError:
            pass
        limits = self.limits(exchange, directory)
        plan = self._plans[memo_key] = Plan(limits) if limits else None
        return plan

    def limits(self, exchange: Exchange, directory: Any = None) -> list[Limit]:
        """Every limit of the call, one per counter (the smallest where sources overlap)."""
        found: dict[str, Limit] = {}
        identity = exchange.identity
        model = exchange.request.model if exchange.request is not None else None
        if identity is not None:
            self._identity(found, identity, directory)
        for rule in self.rules:
            ident = self._rule_id(rule, exchange, identity, model)
            if ident is not None:
                _add(found, rule.scope, ident, rule.terms)
        return list(found.values())

    def _identity(self, found: dict[str, Limit], identity: Any, directory: Any) -> None:
        key_id = counter_id(identity.credential_id)
        _add(found, "key", key_id, self._key_terms(identity.quota))
        team = identity.team
        if team:
            _add(found, "team", counter_id(team), self.teams.get(team, ()))
            record = directory.team(team) if directory is not None else None
            if record is not None and getattr(record, "quota", None) is not None:
                _add(found, "team", counter_id(team), quota_terms(record.quota))
        if identity.roles:
            principal = counter_id(identity.principal_id)
            for role in sorted(identity.roles):
                _add(found, "principal", principal, self.roles.get(role, ()))
                record = directory.role(role) if directory is not None else None
                if record is not None and getattr(record, "quota", None) is not None:
                    _add(found, "principal", principal, quota_terms(record.quota))

    def _key_terms(self, quota: tuple[tuple[str, float], ...]) -> tuple[Term, ...]:
        terms = self._quota_terms.get(quota)
        if terms is None:
            if len(self._quota_terms) > 10_000:  # bounded: quotas are few distinct tuples
                self._quota_terms.clear()
            terms = self._quota_terms[quota] = quota_terms(quota)
        return terms

    def _rule_id(
        self, rule: _CompiledRule, exchange: Exchange, identity: Any, model: str | None
    ) -> str | None:
        scope = rule.scope
        if scope == "global":
            return "all"
        if scope in ("ip", "cidr"):
            return self._network_id(rule, exchange.client_ip)
        if scope in ("model", "key_model"):
            if model is None or (rule.matcher is not None and not rule.matcher.match(model)):
                return None
            if scope == "model":
                return counter_id(model)
            return None if identity is None else counter_id(f"{identity.credential_id}|{model}")
        if identity is None:
            return None
        raw = {"key": identity.credential_id, "principal": identity.principal_id}.get(
            scope, identity.team
        )
        if raw is None or (rule.match is not None and rule.match != raw):
            return None
        return counter_id(raw)

    def _network_id(self, rule: _CompiledRule, client_ip: str) -> str | None:
        if rule.network is not None:
            try:
                address = ipaddress.ip_address(client_ip)
            except ValueError:
                return None
            if address not in rule.network:
                return None
            if rule.scope == "cidr":
                return counter_id(str(rule.network))
        return counter_id(client_ip)


def _add(found: dict[str, Limit], scope: str, ident: str, terms: Iterable[Term]) -> None:
    for term in terms:
        key = f"{_SCOPE_CODE[scope]}:{ident}:{term.code}"
        known = found.get(key)
        if known is None or term.limit < known.limit:
            found[key] = Limit(key, term.measure, term.limit, term.period, scope)
