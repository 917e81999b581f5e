# A compiled step whose Python does more than compute: it sets an attribute on its
# argument, leaves grad mode off or the default dtype changed, seeds the random stream or
# sets its state, counts its calls in a global, an attribute or a dict, flips a flag. After
# each call the argument, the modes, the stream (drawn from outside the step) and the
# counters are what the eager step leaves. (`compiled`, `W` are the runner's.)
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional

calls = 0


class Counts:
    flag = 0
    seen = {"n": 0}


def trained(effect):
    torch.manual_seed(2)
    model = nn.Linear(3, 2).to(W[0])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = torch.get_rng_state()
    counts = Counts()

    @compiled
    def step(x, y):
        global calls
        if effect == "tag":
            x.tag = "seen"
        elif effect == "seed":
            torch.manual_seed(7)
        elif effect == "rng state":
            torch.set_rng_state(start)
        elif effect == "global":
            calls += 1
        elif effect == "attribute":
            counts.flag = 1 - counts.flag
        elif effect == "dict":
            counts.seen["n"] += 1
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if effect == "no grad":
            torch.set_grad_enabled(False)
        elif effect == "float64":
            torch.set_default_dtype(torch.float64)
        return loss

    for call in range(5):
        torch.set_grad_enabled(True)
        torch.set_default_dtype(torch.float32)
        x = torch.full((4, 3), float(call)).to(W[0])
        loss = step(x, torch.ones(4, 2).to(W[0]))
        print(effect, call, round(loss.item(), 4), getattr(x, "tag", None),
              torch.is_grad_enabled(), torch.get_default_dtype(), torch.rand(2),
              calls, counts.flag, counts.seen)
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)


for effect in ["tag", "no grad", "float64", "seed", "rng state", "global", "attribute",
               "dict"]:
    trained(effect)
print("done")
