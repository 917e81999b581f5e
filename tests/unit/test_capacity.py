"""How many workers a Ray cluster places (distgrad/distributed/capacity.py), from the node
list `ray.nodes()` gives; no Ray here."""
from __future__ import annotations

import pytest

from distgrad.distributed.capacity import WORKER_BYTES, check, places

GIB = 1 << 30


def _node(cpus, memory, alive=True):
    return {"Alive": alive, "Resources": {"CPU": cpus, "memory": memory}}


def test_workers_fit_each_node_by_cpus_and_memory():
    nodes = [_node(4, 100 * GIB), _node(3, 100 * GIB), _node(64, 0.5 * GIB),
             _node(64, 100 * GIB, alive=False)]
    # 2-CPU workers: 2 + 1 on the first two nodes; the third has memory for 4 processes
    assert places(nodes, 2) == 2 + 1 + 4
    assert places(nodes, 0) == 2 * (100 * GIB // WORKER_BYTES) + 4  # memory alone
    assert places([_node(1, 100 * GIB), _node(1, 100 * GIB)], 2) == 0  # no node has 2 CPUs


def test_check_names_the_counts():
    check(7, 2, [_node(4, 100 * GIB), _node(3, 100 * GIB), _node(64, 0.5 * GIB)])
    with pytest.raises(ValueError, match=r"num_workers=8 workers do not fit this Ray cluster: "
                                         r"each asks for num_cpus=2 .* 3 node\(s\) have 71 CPUs "
                                         r".* room for 7 workers"):
        check(8, 2, [_node(4, 100 * GIB), _node(3, 100 * GIB), _node(64, 0.5 * GIB)])
