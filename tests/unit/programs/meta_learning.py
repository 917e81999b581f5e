# Meta-learning and sharpness-aware training as their reference code writes them:
# Meta-SGD (a learned per-parameter step size in an nn.ParameterDict, several inner steps
# by torch.func.grad_and_value with has_aux over functional_call, create_graph through all
# of them by the transform itself), first-order Reptile (a deepcopy adapted by SGD, the
# meta weights moved by lerp_ under no_grad, a MultiStepLR on the outer rate), and SAM as
# an Optimizer subclass (first_step climbs to w + e(w) with e kept in self.state,
# second_step restores w and takes the base optimizer's step) around a BatchNorm model;
# and first-order MAML over a batch of tasks by vmap(grad) as the functorch MAML example
# does, its BatchNorm stripped of running stats by replace_all_batch_norm_modules_ (vmap
# refuses the module before: its running stats are not batched); a prototypical-network
# episode (prototypes by mean, distances by pairwise_distance).
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
fc = torch.func
torch.manual_seed(31)


def sine_task(n=10):
    amp, phase = torch.rand(()) * 4 + 1, torch.rand(()) * 3.14
    x = torch.rand(2 * n, 1) * 10 - 5
    y = amp * torch.sin(x + phase)
    return (x[:n], y[:n]), (x[n:], y[n:])


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return self.out(self.body(x))


net = Regressor()
alphas = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(torch.full_like(p, 0.01))
                           for k, p in net.named_parameters()})
meta_opt = torch.optim.Adam([*net.parameters(), *alphas.parameters()], lr=1e-3)


def support_loss(params, x, y):
    pred = fc.functional_call(net, params, (x,))
    return F.mse_loss(pred, y), pred.detach()


for it in range(4):
    meta_opt.zero_grad()
    outer = 0.0
    for _ in range(3):
        (xs, ys), (xq, yq) = sine_task()
        fast = dict(net.named_parameters())
        for step in range(2):
            grads, (loss, pred) = fc.grad_and_value(support_loss, has_aux=True)(fast, xs, ys)
            fast = {k: w - alphas[k.replace(".", "_")] * grads[k] for k, w in fast.items()}
        q = F.mse_loss(fc.functional_call(net, fast, (xq,)), yq) / 3
        q.backward()
        outer += q.item()
    meta_opt.step()
    print("metasgd", it, round(outer, 5), round(loss.item(), 5), pred.requires_grad,
          fast["out.weight"].grad_fn is not None, round(alphas["out_bias"].item(), 6),
          round(alphas["body_0_weight"].grad.norm().item(), 6))
print(sorted(alphas.keys())[:2], len(list(alphas.parameters())), alphas["out_weight"].shape)

reptile = Regressor()
meta_lr = torch.tensor(0.5)
sched_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)
sched = torch.optim.lr_scheduler.MultiStepLR(sched_opt, milestones=[2, 4], gamma=0.5)
for it in range(5):
    (xs, ys), _ = sine_task(20)
    learner = copy.deepcopy(reptile)
    inner = torch.optim.SGD(learner.parameters(), lr=0.02)
    for _ in range(4):
        inner.zero_grad()
        loss = F.mse_loss(learner(xs), ys)
        loss.backward()
        inner.step()
    with torch.no_grad():
        for w, w_task in zip(reptile.parameters(), learner.parameters()):
            w.lerp_(w_task, sched.get_last_lr()[0])
    sched_opt.step()
    sched.step()
    print("reptile", it, round(loss.item(), 5), sched.get_last_lr(),
          reptile.out.weight.grad, round(reptile.out.bias.item(), 5))

fomaml = nn.Sequential(nn.Linear(1, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Linear(24, 1))
try:  # a BatchNorm tracking running stats cannot take a batch of tasks
    fc.vmap(fomaml)(torch.randn(4, 8, 1))
except RuntimeError as err:
    print(type(err).__name__, str(err).splitlines()[0], fomaml[1].num_batches_tracked)
fc.replace_all_batch_norm_modules_(fomaml)
print(fomaml[1].running_mean, fomaml[1].track_running_stats, dict(fomaml.named_buffers()))
weights = {k: v.detach() for k, v in fomaml.named_parameters()}
task_loss = lambda w, x, y: F.mse_loss(fc.functional_call(fomaml, w, (x,)), y)


def adapted_query_grads(w, xs, ys, xq, yq):
    g = fc.grad(task_loss)(w, xs, ys)
    fast = {k: v - 0.05 * g[k] for k, v in w.items()}
    return fc.grad_and_value(task_loss)(fast, xq, yq)


for it in range(3):
    tasks = [sine_task(8) for _ in range(4)]
    batch = [torch.stack([t[i][j] for t in tasks]) for i in (0, 1) for j in (0, 1)]
    grads, losses = fc.vmap(adapted_query_grads, in_dims=(None, 0, 0, 0, 0))(weights, *batch)
    weights = {k: w - 0.01 * grads[k].mean(0) for k, w in weights.items()}
    print("fomaml", it, losses.numpy().round(4), grads["3.weight"].shape,
          round(grads["1.weight"].norm().item(), 5), losses.requires_grad)

embed = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4))
centers = torch.tensor([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.0]])
support = centers.repeat_interleave(3, 0) + 0.5 * torch.randn(9, 2)
query, labels = centers + 0.5 * torch.randn(3, 2), torch.arange(3)
protos = embed(support).view(3, 3, 4).mean(1)
dists = torch.stack([F.pairwise_distance(embed(query), p.expand(3, 4)) for p in protos], 1)
proto_loss = F.cross_entropy(-dists, labels)
proto_loss.backward()
print("protonet", F.pairwise_distance(embed(query[:1]), protos[:1]), round(proto_loss.item(), 5),
      embed[0].weight.grad.norm().item())


class SAM(torch.optim.Optimizer):
    def __init__(self, params, base_optimizer, rho=0.05, **kwargs):
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self):
        norm = torch.norm(torch.stack([p.grad.norm(p=2) for g in self.param_groups
                                       for p in g["params"] if p.grad is not None]), p=2)
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.clone()
                p.add_(p.grad * scale.to(p))
        self.zero_grad()
        return norm

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.data = self.state[p]["old_p"]
        self.base_optimizer.step()
        self.zero_grad()


clf = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
sam = SAM(clf.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
for step in range(4):
    loss = F.cross_entropy(clf(X), y)
    loss.backward()
    norm = sam.first_step()
    sharp = F.cross_entropy(clf(X), y)
    sharp.backward()
    sam.second_step()
    print("sam", step, round(loss.item(), 5), round(sharp.item(), 5), round(norm.item(), 5),
          clf[1].num_batches_tracked.item(), len(sam.state), clf[0].weight.grad)
print(type(sam.base_optimizer).__name__, sam.param_groups[0]["rho"],
      clf[1].running_mean[:3].numpy().round(5))
print("done")
