"""The media host's re-upload: a known blob (even expired) is filed again under a fresh path."""

from __future__ import annotations

import pytest

from buzpo_nb.sandbox.errors import MediaExpired
from buzpo_nb.sandbox.media_host import MediaHost


def test_reupload_files_an_expired_blob_under_a_fresh_path() -> None:
    host = MediaHost(lambda: 1000.0)
    first = host.store("document", b"blob bytes")
    host.expire(first.direct_path)
    with pytest.raises(MediaExpired):
        host.fetch(first.direct_path)
    again = host.reupload(first.direct_path)
    assert again is not None and again.path != first.path
    assert host.fetch(again.direct_path).data == b"blob bytes"
    assert host.reupload("/v/t62.7118-24/unknown_n.enc") is None
