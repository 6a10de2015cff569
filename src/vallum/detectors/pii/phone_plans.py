"""Phone-number validity from ``phonenumbers``' own metadata, without its slow parse.

``phonenumbers.parse`` + ``is_valid_number`` cost 100-200 µs a number in pure Python.
The same metadata holds, per region, the lengths a national number may have, one
pattern (``general_desc``) for every valid number and one per number type (fixed line,
mobile, toll free …). ``is_valid_number`` means "matches the general pattern and the
pattern of some type"; here that is two compiled-regex ``fullmatch`` calls, the type
patterns joined into one alternation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

__all__ = ["NumberingPlans"]


_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Plan:
    country_code: str
    national_prefix: str
    lengths: frozenset[int]
    pattern: re.Pattern[str]
    types: re.Pattern[str]

    def valid(self, digits: str, bare_code: bool = True) -> bool:
        if self._matches(digits):
            return True
        prefix = self.national_prefix
        if prefix and digits.startswith(prefix) and self._matches(digits[len(prefix) :]):
            return True
        # written with the calling code but no "+" ("49 30 1234567"), as ``parse`` allows
        code = self.country_code
        return bare_code and digits.startswith(code) and self._matches(digits[len(code) :])

    def _matches(self, digits: str) -> bool:
        # the type check first: it rejects most non-numbers, and the type patterns are
        # narrower than the general one, which is then rarely needed
        return (
            len(digits) in self.lengths
            and self.types.fullmatch(digits) is not None
            and self.pattern.fullmatch(digits) is not None
        )


class NumberingPlans:
    """National plans of the configured regions (loaded now) and, for international
    numbers, of any region (loaded on first sight and kept: at most ~250)."""

    def __init__(self, regions: Sequence[str]) -> None:
        self._plans: dict[str, _Plan | None] = {}
        # calling codes as digit strings: the prefix test needs no int() per size
        self._codes = {str(code): regions for code, regions in COUNTRY_CODE_TO_REGION_CODE.items()}
        self.national = [p for p in (self._plan(r.upper()) for r in regions) if p is not None]

    def _plan(self, region: str) -> _Plan | None:
        if region not in self._plans:
            meta = PhoneMetadata.metadata_for_region(region)
            desc = meta.general_desc if meta is not None else None
            if meta is None or desc is None or not desc.national_number_pattern:
                self._plans[region] = None
            else:
                types = [
                    d.national_number_pattern
                    for d in (getattr(meta, name, None) for name in _TYPES)
                    if d is not None and d.national_number_pattern
                ]
                self._plans[region] = _Plan(
                    str(meta.country_code),
                    meta.national_prefix or "",
                    frozenset(desc.possible_length),
                    re.compile(desc.national_number_pattern),
                    re.compile("|".join(f"(?:{t})" for t in types) or "(?!)"),
                )
        return self._plans[region]

    def valid_national(self, digits: str) -> bool:
        """A number dialled inside one of the configured regions."""
        return any(plan.valid(digits) for plan in self.national)

    def valid_international(self, digits: str) -> bool:
        """Digits after ``+`` / ``00``: a calling code, then a national number."""
        for size in (1, 2, 3):
            regions = self._codes.get(digits[:size])
            if regions:
                rest = digits[size:]
                for region in regions:
                    plan = self._plans[region] if region in self._plans else self._plan(region)
                    if plan is not None and plan.valid(rest, bare_code=False):
                        return True
                return False
        return False
