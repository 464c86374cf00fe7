"""The WhatsApp multi-device protocol core, sans-I/O.

Nothing in this package opens a socket, reads a clock or touches a file: bytes and values go in,
bytes and values come out. ``client/`` and ``sandbox/`` are the adapters that do I/O, and the
sandbox is built on this package alone so it cannot share the client's mistakes.
"""
