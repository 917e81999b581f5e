# Parameter averaging and manual updates the ways training loops write them, over a model
# with parameters on a worker, split over workers and on the driver: an EMA copy updated
# with torch._foreach_mul_/_foreach_add_ (and the same written per tensor through .data),
# torch._foreach ops that return new lists (their grad_fn and versions), updates through
# views of p.data (a row, a transposed block), p.copy_ under no_grad, the EMA swapped in
# and out with torch.no_grad() copies, and the errors of mixing lists of different lengths
# (distgrad: two workers; torch: the CPU and a copy). `W`, `shard`, `full` are the runner's.
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(79)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


def show(ts):
    return [full(t.detach()).cpu().sum().item() if t.dim() else t.item() for t in ts]


wa = torch.randn(3, 4).to(W[0]).requires_grad_()
wb = shard(torch.randn(4, 2), 0).requires_grad_()
wc = torch.randn(2, requires_grad=True)
params = [wa, wb, wc]
with torch.no_grad():
    ema = [p.clone() for p in params]
print([e.requires_grad for e in ema], [e.is_leaf for e in ema], [e._version for e in ema])
x = torch.randn(5, 3)
for step in range(3):
    for p in params:
        p.grad = None
    out = full(shard(x.to(W[0]) @ wa, 0).cpu() @ full(wb)) * wc
    out.pow(2).mean().backward()
    with torch.no_grad():
        grads = [p.grad for p in params]
        torch._foreach_add_(params, grads, alpha=-0.1)
        torch._foreach_mul_(ema, 0.9)
        torch._foreach_add_(ema, params, alpha=0.1)
    print(step, [p._version for p in params], [e._version for e in ema], [round(v, 4) for v in show(ema)])

# -- per tensor through .data and its views -------------------------------------------------------
for p in params:
    d = p.data
    if d.dim() == 2:
        d[0].mul_(0.5)
        d.t()[1].add_(1.0)
    else:
        d.clamp_(-0.5, 0.5)
print([p._version for p in params], [p.data._version for p in params], [round(v, 4) for v in show(params)])
with torch.no_grad():
    wa[1:].copy_(torch.ones(2, 4))
    wb.view(-1)[::3].fill_(0.25)
print(wa._version, wb._version, full(wb.detach()).view(-1)[::3], wa.is_leaf, wb.is_leaf, wa.requires_grad)

# -- foreach ops that return new tensors ---------------------------------------------------------------
sq = torch._foreach_mul(params, params)
print([t.grad_fn is not None for t in sq], [t.requires_grad for t in sq], [t.shape for t in sq])
sum(full(t).sum().cpu() for t in sq).backward()
print([torch.allclose(full(p.grad).cpu(), 2 * full(p.detach()).cpu()) for p in params])
norms = torch._foreach_norm([g.detach() for g in (p.grad for p in params)])
print([round(full(n).item(), 4) for n in norms])

# -- swapping the EMA in for evaluation, and back -----------------------------------------------------
with torch.no_grad():
    backup = [p.detach().clone() for p in params]
    for p, e in zip(params, ema):
        p.copy_(e)
    evaluated = (full(shard(x.to(W[0]) @ wa, 0).cpu() @ full(wb)) * wc).sum().item()
    for p, b in zip(params, backup):
        p.copy_(b)
print(round(evaluated, 4), [p._version for p in params], [round(v, 4) for v in show(params)])
print(attempt(lambda: torch._foreach_add_(ema, params[:2])))
print(attempt(lambda: torch._foreach_mul_(params, 2.0)))
print("done")
