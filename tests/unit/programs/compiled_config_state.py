# A compiled step that reads numbers from a deque, from its config's class (a dict and a
# string the instances share) and from a settings module, which the loop changes between
# calls: in place, rebound, appended to. Each call computes with what it finds, as the
# eager step does. (`compiled`, `W` are the runner's.)
import collections
import types

import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional


settings = types.ModuleType("settings")  # (as `import settings` would give)


class Config:
    scale = {"s": 1.0}
    mode = "plain"


def trained(change):
    torch.manual_seed(4)
    Config.scale, Config.mode = {"s": 1.0}, "plain"
    settings.shift = 0.0
    model = nn.Linear(3, 2).to(W[0])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    factors = collections.deque([1.0], maxlen=1)
    config = Config()

    @compiled
    def step(x, y):
        opt.zero_grad()
        out = model(x) * factors[0] * config.scale["s"] + settings.shift
        if config.mode == "doubled":
            out = out * 2
        loss = F.mse_loss(out, y)
        loss.backward()
        opt.step()
        return loss

    for call in range(7):
        if call == 4:
            if change == "deque":
                factors.append(3.0)
            elif change == "class dict":
                Config.scale["s"] = 2.0
            elif change == "class dict rebound":
                Config.scale = {"s": 0.5}
            elif change == "module attribute":
                settings.shift = 1.5
            else:
                Config.mode = "doubled"
        loss = step(torch.full((4, 3), float(call % 2)).to(W[0]), torch.ones(4, 2).to(W[0]))
        print(change, call, round(loss.item(), 5))


for change in ["deque", "class dict", "class dict rebound", "module attribute",
               "class string"]:
    trained(change)
print("done")
