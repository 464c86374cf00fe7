"""Ready-made account records for tests that need a linked device without linking one."""

from __future__ import annotations

from buzpo_nb.sandbox.world import LinkedDevice, SignedPreKeyRecord


def linked_device(device_id: int, noise: bytes) -> LinkedDevice:
    return LinkedDevice(
        device_id=device_id,
        noise_public=noise,
        identity_public=b"\x02" * 32,
        registration_id=77,
        signed_pre_key=SignedPreKeyRecord(1, b"\x03" * 32, b"\x04" * 64),
        key_index=device_id,
        linked_at=1_700_000_000,
        platform="Chrome (Mac OS)",
        pre_keys={1: b"\x05" * 32, 2: b"\x06" * 32},
        device_identity=b"signed",
    )
