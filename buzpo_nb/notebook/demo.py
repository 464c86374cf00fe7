"""A generated conversation history (deterministic seed) for analysis notebooks and tests.

Real sessions only have what arrived while they ran; to show grouping, resampling and response
times on a week of traffic, ``demo_history`` makes one with the same record type real sessions
produce, so the analysis code works unchanged on ``session.messages_df()``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pandas as pd

from buzpo_nb.notebook.frames import messages_frame
from buzpo_nb.notebook.records import MessageRecord

ME = "15550000001@s.whatsapp.net"
WORDS = [
    "hi",
    "hello",
    "sure",
    "thanks",
    "ok",
    "later",
    "tomorrow",
    "meeting",
    "lunch",
    "coffee",
    "call",
    "photo",
    "done",
    "great",
]
START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday


def demo_history(
    seed: int = 7, *, friends: int = 4, days: int = 7, start: datetime = START
) -> pd.DataFrame:
    """Chats with ``friends`` contacts over ``days`` days: each incoming message may get a reply
    (quoting it) minutes later; about one in eight is a photo with a caption."""
    rng = random.Random(seed)
    records: list[MessageRecord] = []
    counter = 0
    contacts = [f"1555010{n:04d}@s.whatsapp.net" for n in range(1, friends + 1)]
    base = start.timestamp()
    for day in range(days):
        for contact in contacts:
            for _ in range(rng.randint(1, 6)):
                counter += 1
                at = base + day * 86400 + rng.randint(8 * 3600, 22 * 3600)
                photo = rng.random() < 0.125
                words = " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))
                incoming = MessageRecord(
                    id=f"DEMO{counter:05d}",
                    chat=contact,
                    sender=contact,
                    from_me=False,
                    timestamp=float(at),
                    type="image" if photo else "text",
                    text=None if photo else words,
                    caption=words if photo else None,
                    media_type="image/jpeg" if photo else None,
                    media_size=rng.randint(40_000, 900_000) if photo else None,
                    status="read",
                )
                records.append(incoming)
                if rng.random() < 0.7:
                    counter += 1
                    records.append(
                        MessageRecord(
                            id=f"DEMO{counter:05d}",
                            chat=contact,
                            sender=ME,
                            from_me=True,
                            timestamp=float(at + rng.randint(20, 3600)),
                            text=" ".join(rng.choices(WORDS, k=rng.randint(1, 4))),
                            quoted_id=incoming.id,
                            status=rng.choice(["delivered", "read", "read"]),
                        )
                    )
    return messages_frame(records)
