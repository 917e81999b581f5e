"""Live workers under fuzzing, on both backends: at least 10,000 generated and mutated
messages (tests/unit/wire_corpus.py) to a running worker, which answers each with a reply
or WireFormatError, never another exception, and neither crashes nor hangs."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

import distgrad as dg  # noqa: E402
import distgrad.distributed as dist  # noqa: E402
from distgrad.distributed import wire  # noqa: E402
from distgrad.distributed.wire import WireFormatError  # noqa: E402
import wire_corpus  # noqa: E402
from watchdog import START_TIMEOUT_S, within  # noqa: E402

pytestmark = pytest.mark.cluster

PER_EXAMPLE = 100
EXAMPLES = 105  # 10,500 messages


def test_live_worker_only_raises_wire_format_error(backend, switch_runtime):
    sent = wire_corpus.corpus()  # (captured on a local runtime of its own)
    payloads = [p for _, p in sent]
    if dist.is_initialized():
        dist.shutdown()
    # A recv of a tensor no run sends fails once the sender has been idle this long.
    rt = dist.init(2, backend=backend, recv_idle_timeout_s=1.0, timeout_s=START_TIMEOUT_S)
    ep = rt.endpoint
    pid = dist.stats()["worker:1"]["pid"]
    # worker:1 gets the real traffic of both workers (its ids do not clash), then the fuzz
    for outcome in ep.raw_batch(1, [(p, ()) for p in payloads]):
        assert not isinstance(outcome, Exception) or isinstance(outcome, WireFormatError), outcome
    count = {"fed": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(wire_corpus.messages, st.integers(0, 2 ** 32 - 1))
    def run(generated, seed):
        rng = random.Random(seed)
        batch = [wire_corpus.pack_generated(generated)]
        while len(batch) < PER_EXAMPLE:
            base = rng.choice(payloads if rng.random() < 0.8 else batch)
            batch.append(wire_corpus.mutate(rng, base, payloads))
        messages = [(m, wire_corpus.extra_args(rng)) for m in batch]
        for (m, _), outcome in zip(messages, ep.raw_batch(1, messages)):
            count["fed"] += 1
            if isinstance(outcome, WireFormatError):
                count["refused"] += 1
            elif isinstance(outcome, Exception):
                raise AssertionError(f"{type(outcome).__name__}: {outcome}\nmessage: {m!r}")

    within(300, run)
    assert count["fed"] >= 10_000 and count["refused"] > count["fed"] // 2
    # the same process still serves: a ping, stats, and real work
    reply = wire.decode_reply(within(300, ep.raw, 1, wire.simple_message("ping"))[0])
    assert reply["pid"] == pid == dist.stats()["worker:1"]["pid"]
    x = dg.ones(3, device="worker:1", requires_grad=True)
    (x.to("worker:0") * 2).sum().backward()
    assert within(300, x.grad.tolist) == [2.0, 2.0, 2.0]
    print(f"\n[fuzz] {backend}: {count['fed']} messages to a live worker, "
          f"{count['refused']} refused with WireFormatError, the rest served")
    dist.shutdown()  # the fuzzed worker's state is not for other tests
