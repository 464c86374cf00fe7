"""Media from cells: a session sends an image a sandbox phone can open byte for byte, and an
image a phone sends shows up in ``messages_df`` with its type, size and caption."""

from __future__ import annotations

import io

from PIL import Image

import buzpo_nb as bz


def png(size: tuple[int, int] = (120, 80), colour: str = "blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def test_session_sends_and_receives_images(
    sb: bz.SandboxHandle, number: str, name: str
) -> None:
    friend = sb.phone(str(int(number) + 700))
    session = bz.session(name, sandbox=sb)  # the media host follows the sandbox by itself
    session.link(sb.phone(number))

    picture = png()
    key = session.send_media(f"+{friend.number}", picture, "image", caption="a blue square")
    got = friend.wait_for_message()
    assert got.id == key.id
    assert got.media is not None and got.media.media_type == "image"
    assert got.media.file_length == len(picture) and got.media.caption == "a blue square"
    assert friend.media(key.id) == picture

    theirs = png((64, 64), "red")
    sent = friend.send_media(number, theirs, "image", caption="red one")
    received = await session.await_message()
    assert received.id == sent.id

    df = session.messages_df()
    mine = df[df["id"] == key.id].iloc[0]
    assert (mine["type"], mine["media_size"], mine["caption"]) == (
        "image",
        len(picture),
        "a blue square",
    )
    row = df[df["id"] == sent.id].iloc[0]
    assert row["type"] == "image" and not row["from_me"]
    assert sent.media is not None and row["media_type"] == sent.media.mimetype
    assert row["media_size"] == len(theirs)
    assert row["caption"] == "red one"
    session.close()
