"""Worker-to-worker bandwidth on one node: what distgrad's channels get over their Unix
socket and over shared memory (distgrad/distributed/shm.py), against the raw transports.

    python -m benchmarks.transport                  # memcpy, raw socket, both channels
    python -m benchmarks.transport --collectives    # + all_reduce and a move on Ray, both

Each figure is the median of `--reps` round trips between two processes (N MB one way, a
few bytes back), as MB/s of the N MB (memcpy: one copy in this process); both processes
keep freed memory as distgrad's workers do. all_reduce's figure is per worker: each of
the 2 workers sends its whole part and adds; "move" is one `.to()` between them; both
include the driver's round trips to the workers (`dist.synchronize()`).
Other work on the machine moves these numbers: `uptime` is printed with them.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import threading
import time

import numpy as np

from distgrad.distributed.channels import SocketChannels
from distgrad.distributed.memory import keep_freed_memory

SECRET = bytes(32)


def _mbps(nbytes: int, seconds: list) -> float:
    return nbytes / 1e6 / statistics.median(seconds)


def memcpy(nbytes: int, reps: int) -> float:
    src = np.ones(nbytes, np.uint8)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        dst = src.copy()
        times.append(time.perf_counter() - t)
        del dst
    return _mbps(nbytes, times)


def _raw_peer(sock, nbytes: int, reps: int) -> None:
    keep_freed_memory()
    for _ in range(reps):
        buf = np.empty(nbytes, np.uint8)  # a fresh array per tensor, as a recv makes
        view, got = memoryview(buf), 0
        while got < nbytes:
            got += sock.recv_into(view[got:], nbytes - got)
        sock.sendall(b"\1")


def raw_socket(nbytes: int, reps: int) -> float:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    peer = mp.get_context("fork").Process(target=_raw_peer, args=(b, nbytes, reps))
    peer.start()
    src = np.ones(nbytes, np.uint8)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a.sendall(src.data)
        a.recv(1)
        times.append(time.perf_counter() - t)
    peer.join()
    a.close()
    b.close()
    return _mbps(nbytes, times)


def _channel_peer(shared_memory: bool, to_peer, from_peer, nbytes: int, reps: int) -> None:
    keep_freed_memory()
    ch = SocketChannels(1, "n", 60.0, SECRET, shared_memory=shared_memory)
    from_peer.put(ch.address())
    ch.connect(to_peer.get())
    for i in range(reps):
        ch.recv(0, i, [nbytes], "float32")
        ch.send(0, 1_000_000 + i, np.zeros(1, np.float32))
    from_peer.put(dict(ch.sent_bytes))
    to_peer.get()  # until the driver is done with the connection
    ch.close()


def channels(nbytes: int, reps: int, shared_memory: bool) -> float:
    ctx = mp.get_context("spawn")
    to_peer, from_peer = ctx.Queue(), ctx.Queue()
    peer = ctx.Process(target=_channel_peer,
                       args=(shared_memory, to_peer, from_peer, nbytes // 4, reps))
    peer.start()
    ch = SocketChannels(0, "n", 60.0, SECRET, shared_memory=shared_memory)
    table = [ch.address(), from_peer.get()]
    to_peer.put(table)
    ch.connect(table)
    src = np.ones(nbytes // 4, np.float32)
    times = []
    for i in range(reps):
        t = time.perf_counter()
        ch.send(1, i, src)
        ch.recv(1, 1_000_000 + i, [1], "float32")
        times.append(time.perf_counter() - t)
    from_peer.get()
    assert ch.sent_bytes["shared_memory" if shared_memory else "socket"] == reps * nbytes
    to_peer.put("done")
    peer.join()
    ch.close()
    return _mbps(nbytes, times)


def collectives(sizes_mb: list, reps: int, shared_memory: bool) -> list:
    import distgrad as dg
    import distgrad.distributed as dist
    from distgrad.distributed import collectives as coll

    dist.init(num_workers=2, backend="ray", shared_memory=shared_memory)
    rows = []
    try:
        for mb in sizes_mb:
            n = mb * 2 ** 20 // 4
            parts = [dg.ones(n, device=w) for w in dist.workers()]
            dist.synchronize()
            for what, step in (("all_reduce", lambda: coll.all_reduce(parts)),
                               ("move", lambda: parts[0].to("worker:1"))):
                times = []
                for _ in range(reps + 1):
                    t = time.perf_counter()
                    out = step()
                    dist.synchronize()
                    times.append(time.perf_counter() - t)
                    del out
                med = statistics.median(times[1:])
                rows.append((what, mb, med * 1e3, mb * 2 ** 20 / 1e6 / med))
        sent = {w: s["sent_bytes"] for w, s in dist.stats().items()}
    finally:
        dist.shutdown()
    return rows, sent


def _uptime() -> str:
    with open("/proc/loadavg") as f:
        return "load " + " ".join(f.read().split()[:3])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes-mb", default="1,4,16")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--collectives", action="store_true")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    print(f"[{time.strftime('%H:%M:%S')} {_uptime()}, {os.cpu_count()} cores]")
    print(f"{'MB':>4} {'memcpy':>9} {'raw unix':>9} {'ch socket':>10} {'ch shm':>9}   (MB/s)")
    for mb in sizes:
        n = mb * 2 ** 20
        print(f"{mb:>4} {memcpy(n, args.reps):>9.0f} {raw_socket(n, args.reps):>9.0f} "
              f"{channels(n, args.reps, False):>10.0f} {channels(n, args.reps, True):>9.0f}",
              flush=True)
    print(f"[{_uptime()}]")
    if args.collectives:
        for shared_memory in (False, True):
            rows, sent = collectives(sizes, args.reps, shared_memory)
            label = "shm" if shared_memory else "socket"
            for what, mb, ms, mbps in rows:
                print(f"{what:>10} {mb:>3} MB over {label:>6}: {ms:7.1f} ms  {mbps:6.0f} MB/s")
            print(f"  sent_bytes {sent}  [{_uptime()}]", flush=True)


if __name__ == "__main__":
    main()
