"""Git's pkt-line framing, as the ``proc-receive`` hook protocol uses it."""

from __future__ import annotations

from typing import BinaryIO

FLUSH = None


def read_pkt(stream: BinaryIO) -> bytes | None:
    """One packet's payload, or None for a flush packet."""
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError("the git protocol stream ended early")
    size = int(header, 16)
    if size == 0:
        return FLUSH
    if size < 4:
        raise ValueError(f"invalid pkt-line length {header!r}")
    return stream.read(size - 4)


def read_until_flush(stream: BinaryIO) -> list[bytes]:
    packets = []
    while (packet := read_pkt(stream)) is not FLUSH:
        packets.append(packet.rstrip(b"\n"))
    return packets


def write_pkt(stream: BinaryIO, payload: bytes) -> None:
    stream.write(f"{len(payload) + 4:04x}".encode() + payload)


def write_flush(stream: BinaryIO) -> None:
    stream.write(b"0000")
    stream.flush()
