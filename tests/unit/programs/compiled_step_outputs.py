# What a compiled training step returns, call after call, against the step run by torch:
# its loss, its loss vector (written in place after its backward), a slice and a transpose
# of that vector and an element (views whose base is the step's), the same tensor twice,
# a parameter, views of parameters and a gradient,
# the model's output, numbers and strings, and a forward under inference_mode; for a
# layer-placed model, a sharded weight and a data-parallel model. A step is called four
# times: it records, records again (the optimizer made its state), then replays twice; the
# gradients of each call, held, keep their values, and so do the lists a step leaves.
# Printed each time: every output's history (grad_fn, requires_grad, is_leaf, whether it is
# a view and of which output), its version count, its value and the error of a second
# backward through it; the parameters' versions and gradients.
# (`compiled`, `W`, `shard`, `full` and `ddp` are the runner's.)
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(11)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:60]}"


def value(t):
    t = t.detach()
    return (full(t) if getattr(t, "placements", None) else t).cpu()


def show(tag, out):
    items = list(out) if isinstance(out, (tuple, list)) else [out]
    for k, t in enumerate(items):
        if not isinstance(t, torch.Tensor):
            print(tag, k, repr(t))
            continue
        fn = t.grad_fn
        base = [j for j, o in enumerate(items) if t._base is not None and t._base is o]
        print(tag, k, tuple(t.shape), t.requires_grad, t.is_leaf, fn.name() if fn else None,
              t._is_view(), base, [j for j, p in enumerate(params) if t is p or t._base is p], [j for j, o in enumerate(items) if o is t and j != k],
              attempt(lambda: t._version), value(t))
        if t.requires_grad:
            print("  again:", attempt(lambda: t.sum().backward()))


def state(tag, params):
    print(tag, [p._version for p in params],
          [None if p.grad is None else value(p.grad).sum().item() for p in params])


def placed():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    model[0].to(W[0])
    model[2].to(W[1])
    return lambda x: model[2](model[1](model[0](x)).to(W[1])), list(model.parameters())


def sharded():
    w = shard(torch.randn(3, 2), 1).requires_grad_()
    return lambda x: torch.tanh(x @ w), [w]


def data_parallel():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    return ddp(model), list(model.parameters())


def placed_outputs(vec, out):
    vec.detach().mul_(2)  # (counted by every view of it after)
    return vec.mean(), vec[1:3], vec.t(), vec, vec[0], vec.detach(), out, vec


def sharded_outputs(vec, out):
    return vec.sum(), vec, out


for make, outputs, calls in ((placed, placed_outputs, 4), (sharded, sharded_outputs, 4),
                             (data_parallel, sharded_outputs, 4),
                             (placed, lambda vec, out: (vec.sum(), 2.5, "text"), 2),
                             (placed, lambda vec, out: (vec.sum(), params[0], params[0][1],
                                                        params[2].t(), params[2].grad), 4)):
    forward, params = make()
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)

    @compiled
    def step(x, y):
        opt.zero_grad()
        out = forward(x)
        vec = F.mse_loss(out, y, reduction="none")
        vec.mean().backward()
        opt.step()
        return outputs(vec, out)

    grads = []  # (each call's gradient keeps its values: the next call makes new ones)
    for call in range(calls):  # (records, records again: momentum made, replays)
        x, y = torch.randn(4, 3).to(W[0]), torch.randn(4, 2).to(W[1])
        out = step(x, y)
        show(f"{make.__name__} {call}", out)
        state("  params", params)
        grads.append(params[0].grad)
    print("  held", [value(g).sum().item() for g in grads], len({id(g) for g in grads}))

keep = {}  # what a step leaves behind: a new list at each eager call
lin = nn.Linear(3, 2).to(W[0])
sgd = torch.optim.SGD(lin.parameters(), lr=0.1)


@compiled
def remember(x):
    sgd.zero_grad()
    h = lin(x)
    h.pow(2).mean().backward()
    sgd.step()
    keep["last"] = [h.detach()]


held = []
for call in range(4):
    remember(torch.randn(2, 3).to(W[0]))
    held.append(keep["last"])
print("kept", [h[0].sum().item() for h in held], len({id(h) for h in held}))

model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(W[0])


@compiled
def predict(x):
    with torch.inference_mode():
        return model(x)


for call in range(3):
    out = predict(torch.randn(4, 3).to(W[0]))
    print("inference", call, out.is_inference(), out.requires_grad, attempt(lambda: out._version),
          attempt(lambda: out.add_(1)))
print("done")
