"""The pipeline schedules' plans (distributed/pipelining/plan.py): PyTorch's 1F1B and
GPipe orders, their bubble (p - 1) / (m + p - 1), zero bubble's smaller one, and every
action recorded after the actions it waits on (skip connections included)."""
from __future__ import annotations

import pytest

from distgrad.distributed.pipelining.plan import Action, make_plan


def _chain(p):
    return [[s - 1] if s else [] for s in range(p)]


def _orders(plan):
    return {w: [repr(a) for a in acts] for w, acts in plan.per_worker().items()}


def test_1f1b_is_pytorchs_order():
    # torch.distributed.pipelining.Schedule1F1B: stage s warms up with num_stages - s
    # forwards, then alternates backward and forward (B and W together: a full backward).
    plan = make_plan("1f1b", 4, ["w0", "w1"], _chain(2))
    assert _orders(plan) == {
        "w0": "0F0 0F1 0B0 0W0 0F2 0B1 0W1 0F3 0B2 0W2 0B3 0W3".split(),
        "w1": "1F0 1B0 1W0 1F1 1B1 1W1 1F2 1B2 1W2 1F3 1B3 1W3".split()}


def test_gpipe_runs_all_forwards_first():
    plan = make_plan("gpipe", 3, ["w0", "w1"], _chain(2))
    assert _orders(plan)["w0"] == "0F0 0F1 0F2 0B0 0W0 0B1 0W1 0B2 0W2".split()


@pytest.mark.parametrize("policy", ["gpipe", "1f1b"])
@pytest.mark.parametrize("p,m", [(2, 4), (3, 4), (4, 8), (2, 1)])
def test_bubble_is_the_theory(policy, p, m):
    plan = make_plan(policy, m, [f"w{s}" for s in range(p)], _chain(p))
    assert plan.bubble_fraction == pytest.approx((p - 1) / (m + p - 1))


@pytest.mark.parametrize("p,m", [(2, 4), (4, 8)])
def test_zero_bubble_defers_weight_gradients_into_the_bubble(p, m):
    workers = [f"w{s}" for s in range(p)]
    zb = make_plan("zero_bubble", m, workers, _chain(p))
    assert zb.bubble_fraction < (p - 1) / (m + p - 1)
    last = _orders(zb)[f"w{p - 1}"]
    # the last stage runs every input gradient before its first weight gradient
    assert last.index(f"{p - 1}W0") > last.index(f"{p - 1}B{m - 1}")


@pytest.mark.parametrize("policy,extra", [("1f1b", 0), ("zero_bubble", 1)])
@pytest.mark.parametrize("p,m", [(2, 4), (3, 6), (4, 8), (4, 2)])
def test_micro_batches_in_flight_per_stage(policy, extra, p, m):
    # 1F1B keeps at most p - s forwards of stage s ahead of its backwards; zero bubble one
    # more, run only when the worker would wait otherwise.
    plan = make_plan(policy, m, [f"w{s}" for s in range(p)], _chain(p))
    most = []
    for s in range(p):
        in_flight, most_s = 0, 0
        for a in plan.per_worker()[f"w{s}"]:
            in_flight += {"F": 1, "B": -1, "W": 0}[a.kind]
            most_s = max(most_s, in_flight)
        most.append(most_s)
    assert all(k <= min(m, p - s + extra) for s, k in enumerate(most)), most
    assert most[0] == min(m, p + extra)  # the first stage waits longest for its first B


@pytest.mark.parametrize("policy", ["gpipe", "1f1b", "zero_bubble"])
def test_every_action_comes_after_what_it_waits_on(policy):
    # 4 stages on 2 workers (two per worker), stage 3 also takes stage 0's outputs
    sources = [[], [0], [1], [2, 0]]
    plan = make_plan(policy, 5, ["w0", "w1", "w0", "w1"], sources)
    pos = {a: i for i, a in enumerate(plan.actions)}
    assert len(pos) == 4 * 5 * 3
    consumers = {s: [c for c in range(4) if s in sources[c]] for s in range(4)}
    for a, i in pos.items():
        if a.kind == "F":
            deps = [Action("F", s, a.mb) for s in sources[a.stage]]
        elif a.kind == "B":
            deps = [Action("F", a.stage, a.mb)] + [Action("B", c, a.mb)
                                                  for c in consumers[a.stage]]
        else:
            deps = [Action("B", a.stage, a.mb)]
        assert all(pos[d] < i for d in deps), (a, deps)


def test_forward_only_plan():
    plan = make_plan("1f1b", 3, ["w0", "w1"], _chain(2), backward=False)
    assert [repr(a) for a in plan.actions] == "0F0 0F1 1F0 0F2 1F1 1F2".split()


def test_zero_bubble_first_stage_fills_its_waits():
    # The first stage's input gradients go to no stage. While it waits for its first one,
    # it runs a forward more than 1F1B would (0F2); while it waits for its last one, the
    # weight parts it has (one group, stacked), leaving one micro-batch's for after. The
    # last stage keeps its own for the end. The makespan is zero bubble's.
    from distgrad.distributed.pipelining.schedules import _with_weights_together

    plan = make_plan("zero_bubble", 4, ["w0", "w1"], _chain(2))
    assert _orders(plan) == {
        "w0": "0F0 0F1 0F2 0B0 0W0 0B1 0F3 0B2 0W1 0W2 0B3 0W3".split(),
        "w1": "1F0 1B0 1F1 1B1 1F2 1B2 1F3 1B3 1W0 1W1 1W2 1W3".split()}
    assert plan.makespan == 13
    weights = [a for a in _with_weights_together(plan) if a[0] == "W"]
    assert weights == [("W", 0, [0]), ("W", 0, [1, 2]), ("W", 1, [0, 1, 2, 3]), ("W", 0, [3])]
