"""Sessions from cells: link with a sandbox phone, send and receive, DataFrames of both."""

from __future__ import annotations

import pandas as pd

import buzpo_nb as bz


async def test_link_send_receive_and_frames(sb: bz.SandboxHandle, number: str, name: str) -> None:
    friend = sb.phone(str(int(number) + 500))
    session = bz.session(name, sandbox=sb)
    assert bz.session(name) is session  # re-running the cell gives the same session
    assert session.link(sb.phone(number)) == f"+{number}"
    assert session.status == "open"

    key = session.send_text(f"+{friend.number}", "hello friend")
    got = friend.wait_for_message("hello friend")
    assert got.id == key.id
    reply = friend.send(number, "hello back", reply_to=None)
    received = await session.await_message("hello back")
    assert received.id == reply.id and not received.from_me

    df = session.messages_df()
    assert list(df["text"]) == ["hello friend", "hello back"]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["from_me"].dtype == bool and list(df["from_me"]) == [True, False]
    assert isinstance(df["type"].dtype, pd.CategoricalDtype)
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert set(df["chat"]) == {f"+{friend.number}"}
    assert list(df["sender"]) == [f"+{number}", f"+{friend.number}"]
    assert list(df["chat_jid"]) == [f"{friend.number}@s.whatsapp.net"] * 2
    assert session.messages_df(chat=f"+{friend.number}").shape[0] == 2
    assert session.messages_df(chat="+19999999999").empty
    later = df["timestamp"].max() + pd.Timedelta(seconds=1)
    assert session.messages_df(since=later).empty
    assert len(session.messages_df(since=df["timestamp"].min().tz_convert(None))) == 2  # naive=UTC

    events = bz.events_df()
    mine = events[events["session"] == name]
    assert {"QrCode", "ConnectionUpdate", "MessageReceived"} <= set(mine["event"])
    assert "open" in set(mine["state"].dropna())
    session.close()
    assert bz.session(name, sandbox=sb) is not session  # closed sessions are forgotten


async def test_await_link_and_send_at_top_level(sb: bz.SandboxHandle, number: str) -> None:
    friend = sb.phone(str(int(number) + 500))
    session = bz.session(f"await-{number}", sandbox=sb)
    assert await session.alink(sb.phone(number)) == f"+{number}"
    key = await session.asend_text(friend.number, "awaited")
    assert (await friend.await_message("awaited")).id == key.id
    session.close()


def test_pairing_code_link(sb: bz.SandboxHandle, number: str) -> None:
    session = bz.session(f"code-{number}", sandbox=sb)
    session.connect()
    code = session.request_pairing_code(number)
    assert len(code) == 8 and session.pairing_code == code
    sb.phone(number).link(code=code)
    session.wait_open(30)
    assert session.number == f"+{number}" and session.pairing_code is None
    session.close()
