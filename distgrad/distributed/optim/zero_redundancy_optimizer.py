"""ZeroRedundancyOptimizer: the optimizer state of replicated (data-parallel) parameters
split over their workers, as torch's ZeRO stage 1.

Each parameter is owned by one worker (greedily, the largest first, to the least loaded
worker), and an ordinary optimizer of `optimizer_class` on each worker steps the copies
it owns, so Adam's moments of a parameter exist only on its owner: each worker holds
about 1/d of the state. After the step, each owner's copy is sent to the parameter's
other copies worker to worker (the all-gather of the updated parameters).
"""
from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...optim.optimizer import Optimizer
from ..sharding import Replicate, is_sharded


class ZeroRedundancyOptimizer(Optimizer):
    def __init__(self, params, optimizer_class, **defaults):
        super().__init__(params, defaults)
        self.optimizer_class = optimizer_class
        params = [p for g in self.param_groups for p in g["params"]]
        for p in params:
            if not (is_sharded(p) and isinstance(p._sharding.placement, Replicate)):
                raise ValueError("ZeroRedundancyOptimizer: every parameter must be replicated "
                                 "over the data-parallel workers (DistributedDataParallel or "
                                 f"distgrad.distributed.replicate); got one {p.device}")
        self.workers = params[0]._sharding.workers
        self.owner = _assign_owners(params, len(self.workers))
        self._locals = {}
        for k in range(len(self.workers)):
            groups = []
            for g in self.param_groups:
                owned = [p._sharding.shards[k] for p in g["params"] if self.owner[id(p)] == k]
                if owned:
                    groups.append({**{n: v for n, v in g.items() if n != "params"},
                                   "params": owned})
            if groups:
                self._locals[k] = optimizer_class(groups, **defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for k, opt in self._locals.items():  # hyper-parameters a scheduler changed
            for local, group in zip(opt.param_groups, self._groups_owned_by(k)):
                local.update({n: v for n, v in group.items() if n != "params"})
            opt.step()
        with no_grad():
            for g in self.param_groups:
                for p in g["params"]:
                    k = self.owner[id(p)]
                    source = p._sharding.shards[k]
                    for j, copy in enumerate(p._sharding.shards):
                        if j != k:
                            copy.copy_(source)
        return loss

    def _groups_owned_by(self, k: int) -> list:
        return [g for g in self.param_groups
                if any(self.owner[id(p)] == k for p in g["params"])]

    def state_dict(self) -> dict:
        """The whole state (every worker's part), keyed by parameter index as torch's
        consolidated state dict."""
        index = {}
        for g in self.param_groups:
            for p in g["params"]:
                index[id(p._sharding.shards[self.owner[id(p)]])] = len(index)
        state = {}
        for opt in self._locals.values():
            for local, s in opt.state.items():
                state[index[id(local)]] = s
        groups = [{**{n: v for n, v in g.items() if n != "params"},
                   "params": [index[id(p._sharding.shards[self.owner[id(p)]])]
                              for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        for k, opt in self._locals.items():
            mine = [i for i, p in enumerate(params) if self.owner[id(p)] == k]
            local_index = {i: n for n, i in enumerate(mine)}
            opt.load_state_dict({
                "state": {local_index[i]: s for i, s in state_dict["state"].items()
                          if i in local_index},
                "param_groups": [{**g, "params": [local_index[i] for i in g["params"]
                                                  if i in local_index]}
                                 for g in state_dict["param_groups"]
                                 if any(i in local_index for i in g["params"])]})


def _assign_owners(params, n: int) -> dict:
    load = [0] * n
    owner = {}
    for p in sorted(params, key=lambda p: -p.numel()):
        k = load.index(min(load))
        owner[id(p)] = k
        load[k] += p.numel()
    return owner
