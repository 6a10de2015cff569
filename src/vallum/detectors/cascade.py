"""The detection cascade: fast detectors decide what they are sure of, slower tiers the rest.

A *tier* is what a cascade consults after the fast detector of one kind (``injection``,
``content``). It is a class with:

- ``name`` (``"http_guard.lakera"``, ``"semantic"``), ``version`` and ``kinds``: the
  detector names whose texts it can judge;
- ``async score(texts, source) -> list[TierVerdict]``: one verdict per text, in order.
  A tier that computes on the CPU (an ONNX model) runs off the event loop through its
  own ``WorkerPool`` (bounded threads and queue: a full pool refuses at once, which the
  cascade treats as a tier error); a remote tier awaits its HTTP client;
- ``async close()``: releases its pool or connections.

A ``TierVerdict`` may say it is not ``sure``: the next tier is then asked, and the last
answer stands. Each tier's call runs under its ``timeout_s``; a timeout or a
``VallumError`` is settled by its ``on_error``: ``open`` leaves the text to the next tier
(or to the fast verdict), ``closed`` counts the text as flagged (kind ``tier_error``),
so the detector's action (block, flag, shadow) applies to it.

The fast detector's ``Inspection`` decides whether a text is consulted at all: never
when it is ``decisive`` (a rule hit, a deny term); when its score lies in the uncertain
band ``[band_low, band_high)``; and, where ``short_chars`` is set, for user turns of at
most that many characters (the fast content model reads little in a short turn).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vallum.detectors.base import Inspection, Source, Verdict
from vallum.errors import UpstreamError, VallumError

__all__ = [
    "Cascade",
    "Tier",
    "TierAnswer",
    "TierSettings",
    "TierVerdict",
    "WorkerPool",
]

T = TypeVar("T")


class TierSettings(BaseModel):
    """What every tier's config has: its ``type``, a timeout and ``on_error``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The tier's kind; selects its implementation.", max_length=64)
    timeout_s: float = Field(
        2.0, gt=0.0, le=60.0, description="Seconds one call to the tier may take."
    )
    on_error: Literal["open", "closed"] = Field(
        "open",
        description="On a timeout or failure: `open` keeps the fast verdict (or asks the "
        "next tier), `closed` counts the text as flagged.",
    )


@dataclass(frozen=True, slots=True)
class TierVerdict:
    """A tier's answer on one text. ``sure=False`` hands the text to the next tier."""

    flagged: bool
    score: float
    kind: str = "flagged"
    sure: bool = True


class Tier(Protocol):
    """A slower detector consulted for the texts the fast tier is unsure of."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kinds(self) -> frozenset[str]: ...

    async def score(self, texts: Sequence[str], source: Source) -> list[TierVerdict]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TierAnswer:
    """The answer that stands for one text, and which tier gave it."""

    tier: str
    version: str
    verdict: TierVerdict

    def inspection(self, detector: str, fast: Inspection) -> Inspection:
        """The fast inspection with its verdict replaced by this answer."""
        verdict = self.verdict
        verdicts: tuple[Verdict, ...] = ()
        if verdict.flagged:
            version = f"{self.tier}/{self.version}"
            verdicts = (Verdict(detector, verdict.kind, verdict.score, None, version),)
        return Inspection(verdicts, verdict.score, True, fast.text)


class WorkerPool:
    """Bounded threads for a synchronous tier: ``workers`` run, ``queue`` more wait.

    A call beyond that is refused at once (back-pressure instead of an unbounded
    backlog); a call whose caller timed out still holds its slot until it finishes.
    """

    def __init__(self, workers: int = 1, queue: int = 16, name: str = "vallum-tier") -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._limit = workers + queue
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._pending >= self._limit:
                raise UpstreamError("The detection tier is busy.", code="detector_busy")
            self._pending += 1
        try:
            future: Future[T] = self._executor.submit(fn, *args)
        except RuntimeError as exc:  # the pool was closed
            with self._lock:
                self._pending -= 1
            raise UpstreamError("The detection tier is closed.", code="detector_busy") from exc
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def _done(self, _: Future[T]) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_TIER_ERROR = TierVerdict(True, 1.0, "tier_error")


@dataclass(frozen=True, slots=True)
class _Member:
    tier: Tier
    settings: TierSettings


class Cascade:
    """The tiers of one detector kind, consulted in order for its uncertain texts."""

    def __init__(
        self,
        detector: str,
        tiers: Sequence[tuple[Tier, TierSettings]],
        band: tuple[float, float],
        short_chars: int = 0,
    ) -> None:
        self.detector = detector
        self.members = tuple(_Member(tier, settings) for tier, settings in tiers)
        self.band_low, self.band_high = band
        self.short_chars = short_chars

    def consults(self, fast: Inspection, source: Source) -> bool:
        """Whether a later tier should judge a text the fast detector inspected so."""
        if fast.decisive or not fast.text or not self.members:
            return False
        if self.band_low <= fast.score < self.band_high:
            return True
        return source is Source.USER and len(fast.text) <= self.short_chars

    async def decide(self, texts: Sequence[str], source: Source) -> list[TierAnswer | None]:
        """Each text's standing answer; ``None`` where no tier answered (the fast one holds)."""
        answers: list[TierAnswer | None] = [None] * len(texts)
        pending = list(range(len(texts)))
        for member in self.members:
            if not pending:
                break
            verdicts = await self._ask(member, [texts[i] for i in pending], source)
            if verdicts is None:
                continue
            still: list[int] = []
            for index, verdict in zip(pending, verdicts, strict=True):
                answers[index] = TierAnswer(member.tier.name, member.tier.version, verdict)
                if not verdict.sure:
                    still.append(index)
            pending = still
        return answers

    async def _ask(
        self, member: _Member, texts: list[str], source: Source
    ) -> list[TierVerdict] | None:
        try:
            async with asyncio.timeout(member.settings.timeout_s):
                verdicts = await member.tier.score(texts, source)
            if len(verdicts) != len(texts):
                raise UpstreamError("The detection tier answered for the wrong number of texts.")
        except (VallumError, TimeoutError):
            if member.settings.on_error == "open":
                return None
            return [_TIER_ERROR] * len(texts)
        return verdicts

    async def close(self) -> None:
        for member in self.members:
            await member.tier.close()
