"""The orders of PyTorch's schedules for several stages per worker (its ranks): looped
BFS, interleaved 1F1B, interleaved zero bubble (ZB1P), ZB-V and DualPipeV, as its
schedules compute them rank by rank; and the order to record them in (plan.py's Plan).

With P workers, the "loop" schedules place stage s on the worker of stage s % P; ZB-V
and DualPipeV place the first P stages on workers 0..P-1 and the next P back down ("v"). Each worker
runs its own list of actions: "F" forwards, "B" input gradients (with "W", the weight
gradients, right after in the schedules that do not split the backward), "W" weight
gradients. The driver records them in the order a unit-time simulation starts them (each
worker takes its next action once what it waits on is done), so that every worker's run
keeps its order and nothing waits on a tensor sent later.
"""
from __future__ import annotations

from collections import defaultdict

from .plan import Action, Plan, finished_plan, next_time


def placement(style: str, p: int, num_stages: int) -> list:
    """The rank of each stage (torch's generate_stage_to_rank_mapping)."""
    if style == "loop":
        return [s % p for s in range(num_stages)]
    ranks, rank = [], 0
    for s in range(num_stages):
        ranks.append(rank)
        if (s + 1) % p == 0:  # (a border: the V turns here)
            continue
        rank += 1 if (s // p) % 2 == 0 else -1
    return ranks


def looped_bfs(m: int, p: int, n_local: int) -> dict:
    """Each stage's forwards of every micro-batch, stage by stage; then their backwards,
    from the last stage back."""
    orders = {}
    for rank in range(p):
        stages = range(rank, p * n_local, p)
        ops = [Action("F", s, mb) for s in stages for mb in range(m)]
        ops += [Action("B", s, mb) for s in reversed(stages) for mb in reversed(range(m))]
        orders[rank] = ops
    return orders


def interleaved(m: int, p: int, n_local: int, zero_bubble: bool) -> dict:
    """Interleaved 1F1B (depth first: micro-batches in rounds of p through the worker's
    stages), or with zero_bubble its ZB1P form (a shorter warm-up, each backward split,
    the weight parts filling in behind)."""
    rounds = max(1, m // p)
    per_round = m // rounds
    orders = {}
    for rank in range(p):
        warmup = min((n_local - 1) * per_round + (1 if zero_bubble else 2) * (p - 1 - rank),
                     m * n_local)
        orders[rank] = _one_f_one_b(rank, p, n_local, m, per_round, warmup, zero_bubble)
    return orders


def _one_f_one_b(rank, p, n_local, m, per_round, warmup, zero_bubble) -> list:
    """One rank's actions in torch's interleaved schedules (its _get_1f1b_rank_ops): a
    forward per step until all are done, a backward per step from the end of the warm-up;
    in zero bubble, from the rank's own number of steps on, the weight part of the
    backward that many steps earlier."""
    total = n_local * m

    def forward_stage(step):
        return (step // per_round) % n_local * p + rank

    def backward_stage(step):
        return (n_local - 1 - ((step - warmup) // per_round) % n_local) * p + rank

    nxt = {k: defaultdict(int) for k in "FBW"}
    ops, backward_steps = [], []

    def add(kind, stage):
        ops.append(Action(kind, stage, nxt[kind][stage]))
        nxt[kind][stage] += 1

    for step in range(total + warmup):  # (warm-up: forwards; 1F1B; cool-down: backwards)
        if step < total:
            add("F", forward_stage(step))
        if step < warmup:
            continue
        add("B", backward_stage(step))
        backward_steps.append(step)
        if zero_bubble and step - warmup >= rank:
            add("W", backward_stage(backward_steps[len(backward_steps) - 1 - rank]))
    if zero_bubble:  # (the weight parts still owed)
        for step in backward_steps[max(0, len(backward_steps) - rank):]:
            add("W", backward_stage(step))
    return ops


def zero_bubble_v(m: int, p: int) -> dict:
    """ZB-V: two stages per worker in a V (worker r: stages r and 2p - 1 - r), forwards
    of the first warming up the second, each backward split, its weight part right after
    in the steady phase (torch's ScheduleZBVZeroBubble)."""
    n = max(2 * p - 1, m)  # (enough micro-batches to fill the V: the extra ones dropped)
    return {rank: [a for a in _zbv_rank(rank, p, n) if a.mb < m] for rank in range(p)}


class _VRank:
    """One rank's actions in a V schedule, added in order: its two stages (r and 2P - 1 - r)
    and, per stage, the next micro-batch to forward (`f`) and to backward (`b`)."""

    def __init__(self, rank: int, p: int):
        self.first, self.second = rank, 2 * p - 1 - rank
        self.f = {self.first: 0, self.second: 0}
        self.b = dict(self.f)
        self.ops = []

    def forward(self, s: int) -> None:
        self.ops.append(Action("F", s, self.f[s]))
        self.f[s] += 1

    def backward(self, s: int, weight: bool = False) -> int:
        """Stage s's next input-gradient part (with its weight part after it); returns its
        micro-batch."""
        mb = self.b[s]
        self.ops.append(Action("B", s, mb))
        if weight:
            self.ops.append(Action("W", s, mb))
        self.b[s] += 1
        return mb


def _zbv_rank(rank: int, p: int, n: int) -> list:
    v = _VRank(rank, p)
    first, second, f, b, forward, backward = v.first, v.second, v.f, v.b, v.forward, v.backward
    for _ in range(2 * (p - rank) - 1):
        forward(first)
    for _ in range(rank):
        forward(second)
        forward(first)
    for _ in range(p - rank):
        forward(second)
        backward(second, weight=True)
    while f[second] < f[first] or f[first] < n:
        if f[first] < n:
            forward(first)
        backward(first, weight=True)
        forward(second)
        backward(second, weight=True)
    w = dict(b)  # (the weight parts owed from here on)

    def weight(s):
        v.ops.append(Action("W", s, w[s]))
        w[s] += 1

    for _ in range(rank):
        backward(first)
        backward(second)
    for _ in range(p - rank):
        backward(first)
        weight(first)
    while w[second] < b[second]:
        weight(second)
    while w[first] < b[first]:
        weight(first)
    return v.ops


def dual_pipe_v(m: int, p: int) -> dict:
    """DualPipeV: ZB-V's two stages per worker in a V, their forwards and backwards paired
    in the middle of the step (a forward of one stage with a whole backward of the other),
    the last micro-batches' backwards split with their weight parts run last (torch's
    ScheduleDualPipeV, after DeepSeek's DualPipe)."""
    return {rank: _dual_pipe_v_rank(rank, p, m) for rank in range(p)}


def _dual_pipe_v_rank(rank: int, p: int, m: int) -> list:
    v = _VRank(rank, p)
    first, second, forward = v.first, v.second, v.forward
    owed = []  # (stage, micro-batch) of the split backwards whose weight part has not run

    def backward(s, split=False):
        mb = v.backward(s, weight=not split)
        if split:
            owed.append((s, mb))

    def weight_owed():
        if owed:
            v.ops.append(Action("W", *owed.pop(0)))

    for _ in range(2 * (p - rank - 1)):
        forward(first)
    for _ in range(rank + 1):
        forward(first)
        forward(second)
    for _ in range(p - rank - 1):
        backward(second, split=True)
        weight_owed()
        forward(second)
    for _ in range(m - 2 * p + rank + 1):  # (each pair: a forward, then a whole backward)
        forward(first)
        backward(second)
        forward(second)
        backward(first)
    for _ in range(p - rank - 1):
        backward(second)
        forward(second)
        backward(first)
    split = False  # (from half way through, on alternate ranks one backward later)
    for i in range(rank + 1):
        split = split or (i == (rank + 1) // 2 and rank % 2 == 1)
        backward(second, split)
        split = split or (i == (rank + 1) // 2 and rank % 2 == 0)
        backward(first, split)
    for _ in range(p - rank - 1):
        weight_owed()
        backward(first, split)
    for _ in range(rank + 1):
        weight_owed()
    return v.ops


def plan_from_orders(orders: dict, sources: list, split: bool, backward: bool = True) -> Plan:
    """The Plan that runs each worker's `orders[worker]` in its order (sources[s]: the
    stages whose outputs stage s takes): `split` False (a whole backward per "B"), each
    B's weight part comes right after it, the two taking two units; without `backward`,
    the forwards alone."""
    p = len(sources)
    consumers = [[c for c in range(p) if s in sources[c]] for s in range(p)]
    queues = {w: [a for a in acts if backward or a.kind == "F"] for w, acts in orders.items()}
    done: dict = {}
    free_at = {w: 0 for w in queues}
    busy = {w: 0 for w in queues}
    order, placed, t = [], [], 0
    left = sum(len(q) for q in queues.values())

    def ready(a, now):
        def finished(b):
            return b in done and done[b] <= now
        if a.kind == "F":
            return all(finished(Action("F", s, a.mb)) for s in sources[a.stage])
        if a.kind == "B":
            return finished(Action("F", a.stage, a.mb)) and all(
                finished(Action("B", c, a.mb)) for c in consumers[a.stage])
        return finished(Action("B", a.stage, a.mb))

    while left:
        started = False
        for w in sorted(queues, key=str):
            q = queues[w]
            if free_at[w] > t or not q or not ready(q[0], t):
                continue
            a = q.pop(0)
            left -= 1
            started = True
            cost = 2 if a.kind == "B" and not split else 1
            done[a] = free_at[w] = t + cost
            busy[w] += cost
            order.append(a)
            placed.append((a, w))
            if a.kind == "B" and not split:
                wa = Action("W", a.stage, a.mb)
                done[wa] = done[a]
                order.append(wa)
                placed.append((wa, w))
        if not started and all(f <= t for f in free_at.values()):
            raise RuntimeError(f"pipeline schedule cannot go on at time {t}: every worker "
                               f"waits (next: {[q[0] for q in queues.values() if q]})")
        t = next_time(free_at, t)
    return finished_plan(order, done, busy, placed)
