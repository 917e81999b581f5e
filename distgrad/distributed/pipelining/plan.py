"""The order a schedule records its actions in, found by simulating the pipeline.

An action is a stage's forward ("F"), input-gradient backward ("B") or weight-gradient
backward ("W") of one micro-batch. Every action takes one unit of time, on the worker of
its stage, one action at a time per worker; a forward waits for its inputs' forwards, a
backward for its consumers' backwards. At each unit, each free worker starts what its
schedule's policy picks among the actions that are ready. The driver then records the
actions in the order they started: each worker gets its actions in that order, which is
the schedule (its queue runs them in the order they were recorded), and every action is
recorded after the ones it waits on (so no worker waits for a tensor no one will send).

Schedules without a split backward run W right after B (one backward of two units). The
simulated idle time gives the schedule's theoretical bubble fraction: for GPipe and
1F1B, (p - 1) / (m + p - 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Action:
    kind: str  # "F", "B" or "W"
    stage: int
    mb: int

    def __repr__(self) -> str:
        return f"{self.stage}{self.kind}{self.mb}"


@dataclass
class Plan:
    actions: list  # in the order to record them
    makespan: int  # time units, one per action
    busy: dict = field(default_factory=dict)  # worker -> units busy

    @property
    def bubble_fraction(self) -> float:
        """Idle share of the workers' time while the pipeline runs (the theory)."""
        n = len(self.busy)
        return 1.0 - sum(self.busy.values()) / (n * self.makespan) if n and self.makespan else 0.0

    def per_worker(self) -> dict:
        """worker -> its actions, in order (e.g. for printing the schedule)."""
        out: dict = {}
        for a, w in self._workers:
            out.setdefault(w, []).append(a)
        return out


def make_plan(policy: str, n_microbatches: int, workers: list, sources: list,
              backward: bool = True) -> Plan:
    """policy: "gpipe", "1f1b" or "zero_bubble"; workers[s]: stage s's worker; sources[s]:
    the stages whose outputs stage s takes (the previous one, then its skip sources)."""
    m, p = n_microbatches, len(workers)
    consumers = [[c for c in range(p) if s in sources[c]] for s in range(p)]
    done: dict = {}  # action -> the time it completes
    nxt = {k: [0] * p for k in "FBW"}  # per kind and stage: the next micro-batch
    split = policy == "zero_bubble"
    pending_w = [[] for _ in range(p)]  # zero bubble: B done, W not yet
    free_at = {w: 0 for w in set(workers)}
    busy = {w: 0 for w in set(workers)}
    order, t = [], 0
    total = p * m * (3 if backward else 1)

    def finished(a, now):
        return a in done and done[a] <= now

    def ready(kind, s, now):
        mb = nxt[kind][s]
        if mb >= m:
            return None
        if kind == "F":
            ok = all(finished(Action("F", src, mb), now) for src in sources[s])
        elif kind == "B":
            ok = finished(Action("F", s, mb), now) and all(
                finished(Action("B", c, mb), now) for c in consumers[s])
        else:
            ok = finished(Action("B", s, mb), now)
        return Action(kind, s, mb) if ok else None

    def choose(stages, now):
        """The policy: an action for a free worker holding `stages`, or None (it waits)."""
        if not backward:
            return _first(ready("F", s, now) for s in stages)
        if policy == "gpipe":
            if any(nxt["F"][s] < m for s in stages):
                return _first(ready("F", s, now) for s in stages)
            return _first(ready("B", s, now) for s in reversed(stages))
        b = _first(ready("B", s, now) for s in reversed(stages))  # backward first
        if b is not None:
            return b
        f = forward(stages, now)
        if f is not None or not split:
            return f
        # Zero bubble: weight gradients fill the time the worker would wait; with none
        # ready, one forward more than 1F1B allows (one micro-batch's activations more, as
        # ZB-H2's longer warm-up): a first stage would otherwise wait for its first B, which
        # waits on every later stage.
        w = _first(ready("W", s, now) for s in stages if pending_w[s])
        return w if w is not None else forward(stages, now, extra=1)

    def forward(stages, now, extra=0):
        """1F1B's warm-up: at most p - s (+ extra) micro-batches in flight on stage s."""
        for s in stages:
            if nxt["F"][s] - nxt["B"][s] < min(m, p - s + extra):
                f = ready("F", s, now)
                if f is not None:
                    return f
        return None

    by_worker: dict = {}
    for s, w in enumerate(workers):
        by_worker.setdefault(w, []).append(s)
    placed = []
    while len(order) < total:
        started = False
        for w in sorted(by_worker, key=str):
            if free_at[w] > t:
                continue
            a = choose(by_worker[w], t)
            if a is None:
                continue
            started = True
            # A first stage's input gradients go to no other stage, so nothing waits on its
            # next B: when it would wait, it runs every weight part it has ready, one after
            # another (run as one: schedules._with_weights_together), and what is left
            # after its last B is one micro-batch's.
            batch = [a] if a.kind != "W" or sources[a.stage] else [
                Action("W", a.stage, mb) for mb in sorted(pending_w[a.stage])
                if finished(Action("B", a.stage, mb), t)]
            for a in batch:
                nxt[a.kind][a.stage] += 1
                cost = 2 if (backward and not split and a.kind == "B") else 1
                done[a] = max(t, free_at[w]) + cost
                free_at[w] = done[a]
                busy[w] += cost
                order.append(a)
                placed.append((a, w))
                if a.kind == "B":
                    if split:
                        pending_w[a.stage].append(a.mb)
                    else:  # the weight part right after, in the same two units
                        wa = Action("W", a.stage, a.mb)
                        nxt["W"][a.stage] += 1
                        done[wa] = done[a]
                        order.append(wa)
                        placed.append((wa, w))
                elif a.kind == "W":
                    pending_w[a.stage].remove(a.mb)
        if not started and all(f <= t for f in free_at.values()):
            raise RuntimeError(f"pipeline schedule {policy!r} cannot go on at time {t} with "
                               f"stages on {workers} and sources {sources}: every worker waits")
        t = next_time(free_at, t)
    return finished_plan(order, done, busy, placed)


def next_time(free_at: dict, t: int) -> int:
    """The simulation's next time: when a worker next frees up."""
    return min([f for f in free_at.values() if f > t] or [t + 1])


def finished_plan(order: list, done: dict, busy: dict, placed: list) -> Plan:
    """The plan of a finished simulation: `placed`, (action, worker) as they started."""
    plan = Plan(order, max(done.values()) if done else 0, busy)
    plan._workers = placed
    return plan


def _first(items):
    for x in items:
        if x is not None:
            return x
    return None
