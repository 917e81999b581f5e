# A training script with tied and viewed parameters: an embedding tied to the output layer,
# a bias that is a Parameter made of a view, param groups with their own lr and weight
# decay, Adam/AdamW/SGD-momentum/RMSprop state saved mid-training and loaded into fresh
# optimizers and models, .grad written in place by the user between steps (clipping by
# hand, zeroing one row), and the model moved to a worker mid-run (distgrad: two workers;
# torch: the CPU). `W` is the runner's (test_programs.py).
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(21)


class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.mix = nn.Linear(4, 4)
        self.out = nn.Linear(4, 7, bias=False)
        self.out.weight = self.emb.weight
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, ids):
        h = self.emb(ids)
        h = F.gelu(self.mix(h)) * self.scale
        return self.out(h)


def make(kind, model):
    groups = [{"params": [model.emb.weight], "lr": 0.05},
              {"params": list(model.mix.parameters()), "weight_decay": 0.1},
              {"params": [model.scale], "lr": 0.01}]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=0.02, betas=(0.8, 0.95))
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=0.02, amsgrad=True)
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True)
    return torch.optim.RMSprop(groups, lr=0.01, momentum=0.5, centered=True)


ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
target = torch.tensor([[2, 3, 4], [5, 6, 0]])


def step(model, opt, device="cpu"):
    opt.zero_grad()
    logits = model(ids.to(device))
    loss = F.cross_entropy(logits.reshape(-1, 7), target.to(device).reshape(-1))
    loss.backward()
    with torch.no_grad():
        model.emb.weight.grad[0].zero_()
        total = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm()
        for p in model.parameters():
            p.grad.mul_(min(1.0, 0.5 / (total.item() + 1e-6)))
    opt.step()
    return round(loss.item(), 5)


for kind in ("adam", "adamw", "sgd", "rmsprop"):
    torch.manual_seed(3)
    model = TiedLM()
    opt = make(kind, model)
    print(kind, [len(g["params"]) for g in opt.param_groups], len(list(model.parameters())),
          model.out.weight is model.emb.weight)
    losses = [step(model, opt) for _ in range(2)]
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    sd = opt.state_dict()
    print(losses, sorted(sd["state"]), sorted(sd["state"][0]), sd["param_groups"][1]["weight_decay"])
    more = [step(model, opt) for _ in range(2)]
    buf.seek(0)
    ck = torch.load(buf)
    torch.manual_seed(4)
    fresh = TiedLM()
    print(list(ck["model"]), fresh.load_state_dict(ck["model"]))
    print(fresh.out.weight is fresh.emb.weight, fresh.emb.weight._version, fresh.emb.weight.is_leaf)
    fopt = make(kind, fresh)
    fopt.load_state_dict(ck["opt"])
    again = [step(fresh, fopt) for _ in range(2)]
    print(more, again, torch.equal(fresh.scale, model.scale), (fresh.mix.weight - model.mix.weight).abs().max() < 1e-6)
    st = fopt.state[fresh.emb.weight]
    print(sorted(st), [tuple(v.shape) if hasattr(v, "shape") else v for k, v in sorted(st.items())])

# moved to a worker between steps: the optimizer keeps the same Parameters
torch.manual_seed(5)
model = TiedLM()
opt = make("adam", model)
print(step(model, opt))
sd = opt.state_dict()
model.to(W[1])
print(model.emb.weight.device == model.out.weight.device, model.out.weight is model.emb.weight,
      opt.param_groups[0]["params"][0] is model.emb.weight)
opt = make("adam", model)
opt.load_state_dict(sd)  # (its state follows each parameter's device)
print(step(model, opt, W[1]), opt.state[model.scale]["exp_avg"].device == model.scale.device)
print(model.scale.detach().to("cpu"), model.emb.weight.grad.to("cpu")[0])
print("done")
