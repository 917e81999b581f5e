"""Shared-memory rings between two workers of one node: a big tensor crosses in memory
both workers map, and only a small frame per chunk crosses their Unix socket (channels.py).

Why: a Unix socket moves 4-6 GB/s here raw and 2-5 GB/s through the channels (each byte
copied into the kernel and out again, a syscall per buffer), a memcpy 16-25 GB/s. A fresh shared file per tensor does not help:
its pages fault in on first touch (140-210 MB/s measured). So each direction of a
connection keeps ONE segment for its life, cut into `SLOTS` slots of `SLOT_BYTES`, used
as a ring: the sender copies a chunk into the next free slot and rings the socket with
(slot, length); the receiver's reader copies it out and gives the slot back by adding 1
to an eventfd the sender waits on. Slots come back through the eventfd, never the
socket, so the readers of the two directions never write and cannot block each other.
A tensor of any size streams through, chunk by chunk.

Segments are memfds, handed over the socket (SCM_RIGHTS) when the connection is made: no
name in /dev/shm, so nothing is left behind when a worker dies; the memory goes back
when both processes have dropped their mappings (closed, or the process ended). Sealed
against resizing, so a mapped segment cannot shrink under its reader.

A peer's death still closes the socket: a recv waiting for the next chunk fails on its
end of file (channels.py), and a sender waiting for a free slot is woken by `lose`.

Cost: each ordered pair of workers on a node reserves SLOTS * SLOT_BYTES (4 MiB) of
shared memory while connected: n workers on a node, n(n-1) * 4 MiB.

Measured (`python -m benchmarks.transport --collectives`, seven runs on this 2-core
machine shared with other work, load average 1.6-3.0; MB/s of N MB one way, the median
of 11-15 round trips between two processes):

    N MB   memcpy        raw Unix socket   channels, socket   channels, shm
    1      16900-25500   4500-6200         2000-3700          2700-3600
    4      19800-25400   3300-6700         3600-5100          5000-7400
    16     14100-20100   3700-6100         3600-4200          5600-12100

collectives.all_reduce of two workers on the Ray backend (each sends its part and adds,
driver round trips included; the last three runs, load 2.0-2.3): 1 MB 3.3-3.5 ms over
shm against 3.3-3.9 ms over the socket; 4 MB 5.4-6.6 against 6.5-7.4; 16 MB 13.7-15.5
against 17.3-18.4. Slot sizes tried, channels at 16 MB: 128 KiB 2900 MB/s, 256 KiB 3900,
512 KiB 4800, 1 MiB 5400, 2 MiB 7400 (per-chunk Python overhead dominates small slots);
1 MiB keeps a pair's reserve at 4 MiB.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import select
import socket
import struct
import time

import numpy as np

SLOT_BYTES = 1 << 20  # a chunk: a few per tensor keep both workers copying at once
SLOTS = 4  # per direction of each connection: 4 MiB of shared memory
MIN_BYTES = 64 << 10  # smaller tensors go inline on the socket (one syscall anyway)
SLOT = struct.Struct("<II")  # on the socket, per chunk: slot, length
_OFFER = struct.Struct("<BII")  # has a segment, its slots, its slot size
_MAX_SLOTS = 1024
_MAX_SLOT_BYTES = 1 << 26
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL if hasattr(
    fcntl, "F_SEAL_SHRINK") else 0


def available() -> bool:
    """Whether this system has what the rings need (Linux: memfd, eventfd, fd passing)."""
    return bool(_SEALS) and all(hasattr(os, f) for f in ("memfd_create", "eventfd")) and \
        hasattr(socket, "send_fds")


class Outgoing:
    """The segment this worker writes to for one peer, and which of its slots are free."""

    def __init__(self, name: str, slots: int | None = None, slot_bytes: int | None = None):
        self.slots, self.slot_bytes = slots or SLOTS, slot_bytes or SLOT_BYTES
        slots, slot_bytes = self.slots, self.slot_bytes
        size = slots * slot_bytes
        self.fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        self.freed = -1
        try:
            os.ftruncate(self.fd, size)
            os.posix_fallocate(self.fd, 0, size)  # out of memory now, not SIGBUS later
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, _SEALS)
            self.map = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED | _POPULATE)
            self.freed = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        except BaseException:
            self._close_fds()
            raise
        self.view = np.frombuffer(self.map, np.uint8)
        self.free = slots  # slots the peer has given back and this side not used again
        self.next = 0
        self.lost = None  # why the peer is gone, once it is

    def write(self, chunk: np.ndarray) -> int:
        """Copy `chunk` (uint8, at most slot_bytes) into the next free slot, waiting for
        one; returns the slot. OSError once the peer is lost."""
        while self.free == 0 and self.lost is None:
            waiter = select.poll()  # (not select(): a worker may hold over 1024 descriptors)
            waiter.register(self.freed, select.POLLIN)
            waiter.poll(1000)  # `lose` wakes it too
            try:
                self.free += os.eventfd_read(self.freed)
            except BlockingIOError:
                pass
        if self.lost is not None:
            raise BrokenPipeError(self.lost)
        slot = self.next
        start = slot * self.slot_bytes
        self.view[start:start + len(chunk)] = chunk
        self.free -= 1
        self.next = (slot + 1) % self.slots
        return slot

    def lose(self, why: str) -> None:
        """The peer is gone: a write waiting for a slot fails now."""
        self.lost = why
        try:
            os.eventfd_write(self.freed, 1)
        except OSError:
            pass

    def close(self) -> None:
        """Unmap (call with no write under way: the channel's send lock held)."""
        self.lost = self.lost or "the connection was closed"
        self.view = None
        try:
            self.map.close()
        except BufferError:
            pass  # a view of it is still alive somewhere: unmapped when that goes
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.fd, self.freed):
            if fd >= 0:
                os.close(fd)
        self.fd = self.freed = -1

    def __del__(self):  # dropped without close(): a send held the lock when it was lost
        if getattr(self, "freed", -1) >= 0 or getattr(self, "fd", -1) >= 0:
            self._close_fds()


class Incoming:
    """A peer's segment, mapped here: its chunks are read in the order they were written."""

    def __init__(self, fd: int, freed: int, slots: int, slot_bytes: int):
        self.slots, self.slot_bytes = slots, slot_bytes
        self.freed = freed
        self.map = mmap.mmap(fd, slots * slot_bytes, flags=mmap.MAP_SHARED | _POPULATE,
                             prot=mmap.PROT_READ)
        self.view = np.frombuffer(self.map, np.uint8)
        self.next = 0

    def read(self, slot: int, n: int, into) -> None:
        """Copy the chunk in `slot` (n bytes) into `into` (None: drop it); give the slot
        back. ValueError when it is not the chunk due next."""
        if slot != self.next or not 0 < n <= self.slot_bytes:
            raise ValueError(f"chunk of {n} bytes in slot {slot}, expected slot {self.next}")
        start = slot * self.slot_bytes
        if into is not None:
            into[:] = self.view[start:start + n]
        self.next = (slot + 1) % self.slots
        os.eventfd_write(self.freed, 1)

    def close(self) -> None:
        self.view = None
        try:
            self.map.close()
        except BufferError:
            pass
        if self.freed >= 0:
            os.close(self.freed)
            self.freed = -1


_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # map every page now, not on first touch


def exchange(s: socket.socket, offer: Outgoing | None, timeout_s: float):
    """Both ends of a new Unix connection call this once, before its reader starts: each
    offers its segment (or none) for what it will send, maps the peer's, and says whether
    it did. Returns (this side's segment if the peer took it, the peer's segment mapped
    here); each may be None. Raises OSError or ValueError on a broken exchange or a bad
    offer (both segments closed then)."""
    deadline = time.monotonic() + timeout_s
    incoming = None
    try:
        if offer is not None:
            socket.send_fds(s, [_OFFER.pack(1, offer.slots, offer.slot_bytes)],
                            [offer.fd, offer.freed])
        else:
            s.sendall(_OFFER.pack(0, 0, 0))
        head, fds = _recv_offer(s, deadline)
        has, slots, slot_bytes = _OFFER.unpack(head)
        try:
            if has:
                incoming = _map_offer(fds, slots, slot_bytes)
                fds = []
        except OSError:
            pass  # no memory to map it here: refused, that direction stays on the socket
        finally:
            for fd in fds:
                os.close(fd)
        s.sendall(b"\1" if incoming is not None else b"\0")
        taken = _recv_by(s, 1, deadline) == b"\1"
    except BaseException:
        for segment in (incoming, offer):
            if segment is not None:
                segment.close()
        raise
    finally:
        s.settimeout(None)
    if offer is not None:
        os.close(offer.fd)  # the mapping (and the peer's copy of the fd) keep it
        offer.fd = -1
        if not taken:
            offer.close()
            offer = None
    return offer, incoming


def _map_offer(fds: list, slots: int, slot_bytes: int) -> Incoming:
    if len(fds) != 2 or not 0 < slots <= _MAX_SLOTS or not 0 < slot_bytes <= _MAX_SLOT_BYTES:
        raise ValueError(f"a segment offer of {slots} slots of {slot_bytes} bytes with "
                         f"{len(fds)} descriptors")
    seals = fcntl.fcntl(fds[0], fcntl.F_GET_SEALS)
    if seals & _SEALS != _SEALS or os.fstat(fds[0]).st_size < slots * slot_bytes:
        raise ValueError("a segment offer that is not sealed at its size")
    mapped = Incoming(fds[0], fds[1], slots, slot_bytes)
    os.close(fds[0])  # the mapping keeps the memory; the eventfd stays open for read()
    return mapped


def _recv_offer(s: socket.socket, deadline: float):
    """An offer's bytes and the descriptors that came with them."""
    got, fds = b"", []
    while len(got) < _OFFER.size:
        s.settimeout(max(0.001, deadline - time.monotonic()))
        data, more, _, _ = socket.recv_fds(s, _OFFER.size - len(got), 2)
        fds += more
        if not data:
            for fd in fds:
                os.close(fd)
            raise EOFError
        got += data
    return got, fds


def _recv_by(s: socket.socket, n: int, deadline: float) -> bytes:
    got = b""
    while len(got) < n:
        s.settimeout(max(0.001, deadline - time.monotonic()))
        data = s.recv(n - len(got))
        if not data:
            raise EOFError
        got += data
    return got
