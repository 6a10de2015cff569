"""Alerts: the log, and webhooks (plain JSON, or Slack-compatible ``{"text": ...}``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field

from vallum.anomaly.incidents import Incident
from vallum.clock import Clock
from vallum.providers.base import UpstreamRequest

__all__ = ["AlertSettings", "Alerter", "SentAlert", "Webhook", "alert_payload"]

log = logging.getLogger("vallum.anomaly.alert")


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(max_length=2048, pattern=r"^https?://", description="Where to POST alerts.")
    format: Literal["json", "slack"] = Field(
        "json", description="json: the incident; slack: a Slack incoming-webhook message."
    )


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: tuple[Webhook, ...] = Field((), max_length=16, description="Alert webhooks.")
    log: bool = Field(True, description="Also log each alert (WARNING, logger vallum.anomaly).")
    queue_size: int = Field(1000, ge=1, le=100_000, description="Alerts waiting to be sent.")


class _Client(Protocol):
    async def request(self, request: UpstreamRequest) -> Any: ...


SentAlert = tuple[float, str, str]  # (time sent, incident id, channel)


def alert_payload(incident: Incident, actions: list[str], fmt: str) -> dict[str, Any]:
    """The message: evidence (counts, scores, sample request ids) and what was done."""
    if fmt == "slack":
        evidence = ", ".join(f"{k}={v}" for k, v in incident.evidence.items())
        return {
            "text": (
                f":rotating_light: Vallum {incident.severity} {incident.detector} on "
                f"{incident.subject} — actions: {', '.join(actions) or 'none'} — {evidence} — "
                f"incident {incident.id}, samples {', '.join(incident.samples[:3])}"
            )
        }
    return {
        "type": "vallum.anomaly",
        "incident": incident.model_dump(mode="json"),
        "actions": actions,
    }


class Alerter:
    """Logs at once; posts webhooks from a background task (never on the request path)."""

    def __init__(self, settings: AlertSettings, clock: Clock, client: _Client | None) -> None:
        self.settings = settings
        self.clock = clock
        self.client = client
        self.sent: deque[SentAlert] = deque(maxlen=1000)
        self.failures = 0
        self._queue: asyncio.Queue[tuple[Incident, list[str]]] = asyncio.Queue(
            maxsize=settings.queue_size
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.webhooks and self.client is not None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def alert(self, incident: Incident, actions: list[str]) -> None:
        if self.settings.log:
            log.warning(
                "anomaly incident",
                extra={
                    "incident": incident.id,
                    "detector": incident.detector,
                    "severity": incident.severity,
                    "subject": incident.subject,
                    "actions": actions,
                    "evidence": incident.evidence,
                },
            )
            self.sent.append((self.clock.now(), incident.id, "log"))
        if self._task is not None:
            try:
                self._queue.put_nowait((incident, actions))
            except asyncio.QueueFull:
                self.failures += 1

    async def _run(self) -> None:
        while True:
            incident, actions = await self._queue.get()
            for hook in self.settings.webhooks:
                await self._post(hook, incident, actions)

    async def _post(self, hook: Webhook, incident: Incident, actions: list[str]) -> None:
        body = orjson.dumps(alert_payload(incident, actions, hook.format))
        request = UpstreamRequest("POST", hook.url, [("content-type", "application/json")], body)
        try:
            assert self.client is not None  # noqa: S101 - the task runs only with a client
            response = await self.client.request(request)
            ok = 200 <= int(getattr(response, "status", 0)) < 300
        except Exception:  # a webhook failure must never stop detection
            ok = False
        if ok:
            self.sent.append((self.clock.now(), incident.id, hook.format))
        else:
            self.failures += 1
            log.warning("alert webhook failed", extra={"incident": incident.id})
