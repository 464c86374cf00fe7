"""Signed, durable webhook delivery: Standard Webhooks signatures and the ``WebhookOutbox``.

Signing (https://www.standardwebhooks.com)
------------------------------------------
Each session has a secret ``whsec_<base64 of 32 random bytes>``. Every attempt carries
``webhook-id`` (the event id ``msg_…``, the same on every retry so receivers can deduplicate),
``webhook-timestamp`` (Unix seconds of THIS attempt: verifiers reject stale timestamps, so a
retry a day later must be signed anew) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
"{id}.{timestamp}.{body}")>``. Any Standard Webhooks verifier library accepts them.

Delivery
--------
Events are rows of ``webhook_outbox``, written in the same transaction as what caused them
(``store.py``). ``WebhookOutbox`` delivers them:

- at least once: a row stops being pending only when a 2xx was received and recorded, so a
  crash (even ``kill -9``) mid-attempt means the event is simply sent again after restart;
- in order per session: one attempt in flight per session, always the oldest pending event;
- independently across sessions: each session has its own worker, so a slow or dead receiver
  delays only its own session (a global ``concurrency`` cap bounds the attempts starting at
  once; an attempt slower than ``SLOW_ATTEMPT`` leaves it, so hanging receivers cannot fill it);
- with exponential backoff and ±jitter (``WebhookSettings.retry_delays``, about a day by
  default), then dead-lettered; events that waited the whole horizon behind a dead one are
  dead-lettered with it instead of hammering the receiver one by one;
- promptly: the store calls the outbox after every commit that queued an event (no polling);
- safely: the URL goes through ``url_guard`` on every attempt (DNS may change), the request is
  pinned to the checked address, redirects are failures (never followed), and every attempt
  has a hard time limit.
``replay(event_id)`` queues an event again (same id and body); ``deliveries(session_id)``
lists a session's outbox. ``wait_delivery``/``wait_settled`` let callers (and tests) await a
state change instead of polling.

Public API: ``new_webhook_secret()``, ``secret_bytes(secret)``, ``sign(secret, msg_id,
timestamp, body)``, ``signature_headers(...)``, ``verify_signature(...)``, ``RetryPolicy``,
``WebhookOutbox(store, settings, policy)`` with ``start``, ``aclose``, ``wake``,
``deliveries``, ``attempts``, ``replay``, ``wait_delivery``, ``wait_settled``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from buzpo_nb.gateway.config import WebhookSettings
from buzpo_nb.gateway.store import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryTarget,
    EventNotFound,
    GatewayStore,
    read_secret,
)
from buzpo_nb.gateway.url_guard import UrlPolicy, UrlRefused, new_http_client, pinned_request

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 5 * 60  # seconds, as the Standard Webhooks reference libraries
IDLE_RESCAN = 60.0  # belt and braces: re-read the queue this often even if nobody woke us
SLOW_ATTEMPT = 1.0  # seconds after which an attempt stops counting against the global cap
BATCH = 32  # a session's pending events read at once (delivered one at a time, in order)


# -- signing ---------------------------------------------------------------------------------------
def new_webhook_secret(random_bytes: bytes | None = None) -> str:
    data = random_bytes if random_bytes is not None else secrets.token_bytes(SECRET_BYTES)
    if not 24 <= len(data) <= 64:
        raise ValueError("a webhook secret needs 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(data).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (the base64 part, decoded)."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("empty webhook secret")
    return key


def _as_bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``."""
    signed = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + _as_bytes(body)
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    secret: str | None, msg_id: str, timestamp: int, body: str | bytes
) -> dict[str, str]:
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp))}
    if secret:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """A receiver's check (for notebooks and tests): any ``v1`` signature matches and the
    timestamp is within ``tolerance`` seconds."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, sigs = (
        lower.get("webhook-id"),
        lower.get("webhook-timestamp"),
        lower.get("webhook-signature"),
    )
    if not (msg_id and stamp and sigs and stamp.isdigit()):
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(stamp), body).encode()
    return any(
        hmac.compare_digest(candidate.encode(), expected)
        for candidate in sigs.split()
        if candidate.startswith(SIGNATURE_VERSION + ",")
    )


# -- retry schedule --------------------------------------------------------------------------------
@dataclass
class RetryPolicy:
    """When to try again after a failed attempt, and when to give up."""

    delays: tuple[float, ...]
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(
        cls, settings: WebhookSettings, rng: random.Random | None = None
    ) -> RetryPolicy:
        return cls(settings.retry_delays, settings.jitter, rng or random.Random())

    @property
    def horizon(self) -> float:
        """The longest an event can stay pending: every delay at its longest jitter."""
        return sum(self.delays) * (1 + self.jitter)

    def delay_after(self, failed_attempts: int) -> float | None:
        """Seconds until the next attempt after ``failed_attempts`` failures (None: give up)."""
        if failed_attempts > len(self.delays):
            return None
        base = self.delays[failed_attempts - 1]
        return base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)


# -- the outbox worker -----------------------------------------------------------------------------
class WebhookOutbox:
    """Delivers the store's webhook outbox; see the module docstring."""

    def __init__(
        self,
        store: GatewayStore,
        settings: WebhookSettings,
        policy: UrlPolicy,
        *,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy
        self.retry = RetryPolicy.from_settings(settings, rng)
        self._clock = clock
        self._client = client
        self._own_client = client is None
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._wake_event = asyncio.Event()
        self._changed = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._scheduler: asyncio.Task[None] | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._closing = False
        self._attempt_listeners: list[Callable[[str, str], None]] = []

    def add_attempt_listener(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(session_id, event_id)`` after every recorded attempt and every
        replay (the dashboard's deliveries page updates live)."""
        self._attempt_listeners.append(listener)

    def _attempted(self, session_id: str, event_id: str) -> None:
        for listener in list(self._attempt_listeners):
            try:
                listener(session_id, event_id)
            except Exception:
                log.exception("webhook attempt listener failed")

    @property
    def max_age(self) -> float:
        """The longest an event's own schedule can take: every delay at its longest jitter plus
        every attempt at its time limit. An event pending longer than that has been waiting
        behind others and is dead-lettered at its first failure (instead of starting a fresh
        day of retries while the queue behind it grows)."""
        return self.retry.horizon + self.settings.timeout * (len(self.retry.delays) + 1)

    # -- life cycle --------------------------------------------------------------------------
    async def start(self) -> WebhookOutbox:
        if self._scheduler is not None:
            return self
        if self._client is None:
            self._client = new_http_client(self.settings.timeout)
        self._remove_listener = self.store.add_event_listener(self.wake)
        self._scheduler = asyncio.create_task(self._schedule(), name="webhook-outbox")
        return self

    async def aclose(self) -> None:
        """Stop delivering. An attempt cut short is not recorded: it is repeated after restart."""
        self._closing = True
        if self._remove_listener is not None:
            self._remove_listener()
        tasks = [t for t in (self._scheduler, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._scheduler = None
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> WebhookOutbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def wake(self, _sessions: Iterable[str] = ()) -> None:
        """Look at the queue now (the store calls this after queuing events)."""
        self._wake_event.set()

    # -- queries and control -----------------------------------------------------------------
    async def deliveries(
        self, session_id: str, *, limit: int = 100, state: str | None = None
    ) -> list[Delivery]:
        return await self.store.deliveries(session_id, limit=limit, state=state)

    async def attempts(self, delivery: Delivery) -> list[Attempt]:
        return await self.store.attempts(delivery.seq)

    async def replay(self, event_id: str) -> Delivery:
        delivery = await self.store.replay_event(event_id)
        self._announce()
        self._attempted(delivery.session_id, delivery.event_id)
        return delivery

    async def wait_delivery(
        self,
        event_id: str,
        condition: Callable[[Delivery], bool],
        timeout: float | None = None,
    ) -> Delivery:
        """Wait until the event's newest outbox row satisfies ``condition``."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                delivery = await self.store.delivery(event_id)
                if delivery is not None and condition(delivery):
                    return delivery
                await changed.wait()

    async def wait_settled(self, event_id: str, timeout: float | None = None) -> Delivery:
        """Wait until the event is delivered or dead-lettered."""
        return await self.wait_delivery(event_id, lambda d: d.state != "pending", timeout)

    def _announce(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- scheduling ----------------------------------------------------------------------------
    async def _schedule(self) -> None:
        while not self._closing:
            self._wake_event.clear()
            try:
                heads = await self.store.pending_heads()
            except Exception:
                log.exception("webhook outbox: reading the queue failed")
                heads = []
            now = self._clock()
            next_due: float | None = None
            for session_id, due in heads:
                if session_id in self._workers:
                    continue
                if due <= now:
                    self._workers[session_id] = asyncio.create_task(
                        self._work(session_id), name=f"webhooks-{session_id}"
                    )
                else:
                    next_due = due if next_due is None else min(next_due, due)
            wait = IDLE_RESCAN if next_due is None else min(IDLE_RESCAN, max(0.0, next_due - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), wait)

    async def _work(self, session_id: str) -> None:
        """Deliver a session's due events in order, one attempt at a time. The attempts are
        recorded without waiting for each record's commit before the next event goes out (at
        least once allows it: after a crash an unrecorded delivery is simply repeated), so a
        burst is not paced by one fsync per event; a failed attempt ends the batch, since the
        events behind it must wait for it."""
        try:
            while not self._closing:
                version = self.store.session_version(session_id)
                targets = await self.store.next_deliveries(session_id, BATCH)
                if not targets or targets[0].delivery.next_attempt_at > self._clock():
                    return
                records: list[tuple[DeliveryTarget, AttemptOutcome, asyncio.Task[Delivery]]] = []
                try:
                    for target in targets:
                        if (
                            self._closing
                            or target.delivery.next_attempt_at > self._clock()
                            or self.store.session_version(session_id) != version
                        ):
                            break  # (a changed or deleted session: read its queue again)
                        outcome = await self._attempt_in_slot(target)
                        record = asyncio.ensure_future(
                            self.store.record_attempt(target.delivery.seq, outcome)
                        )
                        records.append((target, outcome, record))
                        if not outcome.delivered:
                            break
                finally:
                    await self._recorded(session_id, records)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook outbox: session %s worker failed", session_id)
        finally:
            self._workers.pop(session_id, None)
            self._wake_event.set()

    async def _recorded(
        self,
        session_id: str,
        records: list[tuple[DeliveryTarget, AttemptOutcome, asyncio.Task[Delivery]]],
    ) -> None:
        """Wait for a batch's attempt records (even when cancelled: they are being written),
        then tell whoever watches."""
        if not records:
            return
        await asyncio.shield(asyncio.gather(*(r for _, _, r in records), return_exceptions=True))
        for target, outcome, record in records:
            exc = record.exception()
            if isinstance(exc, EventNotFound):
                continue  # the session was deleted meanwhile, and its outbox with it
            if exc is not None:
                raise exc
            self._log(record.result(), outcome)
            self._attempted(session_id, target.delivery.event_id)
        self._announce()

    # -- one attempt -----------------------------------------------------------------------------
    async def _attempt_in_slot(self, target: DeliveryTarget) -> AttemptOutcome:
        """An attempt under the global cap, which it leaves once it has run ``SLOW_ATTEMPT``
        seconds: receivers that hang (until the time limit) must not fill the cap and hold up
        every other session's webhooks (found by tests/faults/test_webhook_receivers.py).
        Each session still has at most one attempt in flight, and each ends at the limit."""
        await self._slots.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        timer = asyncio.get_running_loop().call_later(SLOW_ATTEMPT, release)
        try:
            return await self._attempt(target)
        finally:
            timer.cancel()
            release()

    async def _attempt(self, target: DeliveryTarget) -> AttemptOutcome:
        delivery = target.delivery
        now = self._clock()
        started = time.monotonic()
        status: int | None = None
        if not target.webhook_url:
            return AttemptOutcome(
                at=now, duration=0.0, error="the session has no webhook URL any more"
            )
        try:
            async with asyncio.timeout(self.settings.timeout):
                status, error = await self._post(target, now)
        except TimeoutError:
            error = f"no answer within {self.settings.timeout:g} s"
        except Exception as exc:  # a bug must back off like any failure, not spin
            log.exception("webhook %s: unexpected error", delivery.event_id)
            error = f"internal error ({type(exc).__name__})"
        duration = time.monotonic() - started
        if error is None:
            return AttemptOutcome(at=now, duration=duration, status=status, delivered=True)
        return self._failure(delivery, now, duration, status, error)

    async def _post(self, target: DeliveryTarget, now: float) -> tuple[int | None, str | None]:
        delivery = target.delivery
        assert target.webhook_url is not None and self._client is not None
        try:
            checked = await self.policy.check(target.webhook_url, field="webhookUrl")
        except UrlRefused as exc:
            return None, exc.message
        secret = None
        if target.secret_ref:
            secret = read_secret(self.store.secrets_dir, target.secret_ref)
            if secret is None:
                return None, "the session's signing secret file is missing"
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            **signature_headers(secret, delivery.event_id, int(now), body),
        }
        try:
            response = await pinned_request(
                self._client, "POST", checked, headers=headers, content=body, stream=True
            )
        except httpx.TimeoutException:
            return None, f"no answer within {self.settings.timeout:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: could not reach {checked.host}"
        try:
            status = response.status_code
            if 200 <= status < 300:
                return status, None
            if 300 <= status < 400:
                return status, f"HTTP {status}: redirects are not followed"
            return status, f"HTTP {status}"
        finally:
            await response.aclose()

    def _failure(
        self, delivery: Delivery, now: float, duration: float, status: int | None, error: str
    ) -> AttemptOutcome:
        failed = delivery.attempts + 1
        delay = self.retry.delay_after(failed)
        too_old = now - delivery.created_at >= self.max_age
        if delay is None or too_old:
            return AttemptOutcome(
                at=now,
                duration=duration,
                status=status,
                error=error,
                expire_created_before=now - self.max_age,
            )
        return AttemptOutcome(
            at=now, duration=duration, status=status, error=error, next_attempt_at=now + delay
        )

    def _log(self, delivery: Delivery, outcome: AttemptOutcome) -> None:
        # Ids and outcomes only: never the URL (it may carry a token) nor any header.
        if outcome.delivered:
            log.debug("webhook %s delivered (session %s)", delivery.event_id, delivery.session_id)
        elif delivery.state == "dead":
            log.warning(
                "webhook %s dead-lettered after %d attempts (session %s): %s",
                delivery.event_id,
                delivery.attempts,
                delivery.session_id,
                outcome.error,
            )
        else:
            log.info(
                "webhook %s attempt %d failed (session %s): %s",
                delivery.event_id,
                delivery.attempts,
                delivery.session_id,
                outcome.error,
            )
