# A compiled step that keeps its tensor argument in the state it reads: the argument
# itself as an attribute of self, of a module or in a list's slot, a view or a detach() of
# it, in a deque of one. After each call the state holds that call's argument, as after
# the eager step, both for arguments on a worker and on the driver. (`compiled`, `W` are
# the runner's.)
import collections

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional


class Trainer:
    def __init__(self, keep):
        torch.manual_seed(3)
        self.keep = keep
        self.model = nn.Linear(3, 2).to(W[0])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.slot = [None]
        self.recent = collections.deque(maxlen=1)

    @compiled
    def step(self, x, y):
        self.opt.zero_grad()
        if self.keep == "self":
            self.last = x
        elif self.keep == "module":
            self.model.seen = x
        elif self.keep == "slot":
            self.slot[0] = x
        elif self.keep == "detach":
            self.last = x.detach()
        elif self.keep == "view":
            self.last = x[1:]
        elif self.keep == "deque":
            self.recent.append(x)
        loss = F.mse_loss(self.model(x.to(W[0])), y)
        loss.backward()
        self.opt.step()
        return loss

    def kept(self):
        if self.keep == "module":
            return self.model.seen
        if self.keep == "slot":
            return self.slot[0]
        return self.recent[0] if self.keep == "deque" else self.last


for keep in ["self", "module", "slot", "detach", "view", "deque"]:
    for place in ["worker", "driver"]:
        trainer = Trainer(keep)
        for call in range(5):
            x = torch.randn(4, 3)
            if place == "worker":
                x = x.to(W[0])
            loss = trainer.step(x, torch.zeros(4, 2).to(W[0]))
            kept = trainer.kept()
            print(keep, place, call, round(loss.item(), 4), kept.sum().item(), kept.shape,
                  kept.device.type == x.device.type)
print("done")
