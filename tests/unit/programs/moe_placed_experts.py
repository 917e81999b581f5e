# A mixture-of-experts layer as expert-parallel code places it: the router on the driver,
# each expert on a worker of its own (W[0], W[1]), top-2 routing by topk, tokens gathered
# with index_select, moved to their expert and back, and combined with index_add_ into a
# placed output buffer (a view of a wider buffer, written in place twice); a hook on the
# gate weights, the buffer's version and grad_fn, the auxiliary load-balancing loss, an
# Adam step, a state_dict saved to a BytesIO and loaded into a fresh layer, and the same
# layer evaluated under inference_mode. `W` is the runner's.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(41)
E, D, H, K, N = 2, 6, 8, 2, 7


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, H), nn.Linear(H, D)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class PlacedMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(D, E, bias=False)
        self.experts = nn.ModuleList(Expert().to(W[e]) for e in range(E))

    def forward(self, x):
        probs = F.softmax(self.router(x), dim=-1)
        top_p, top_i = probs.topk(K, dim=-1)
        top_p = top_p / top_p.sum(-1, keepdim=True)
        wide = torch.zeros(N, D + 2, device=W[1])
        out = wide[:, 1:-1]
        for e, expert in enumerate(self.experts):
            rows, slot = (top_i == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            tokens = x.index_select(0, rows).to(W[e])
            gate = top_p[rows, slot].unsqueeze(-1).to(W[e])
            y = expert(tokens) * gate
            out.index_add_(0, rows.to(W[1]), y.to(W[1]))
        counts = F.one_hot(top_i[:, 0], E).float().mean(0)
        aux = E * (counts * probs.mean(0)).sum()
        return out, wide, aux


moe = PlacedMoE()
seen = []
moe.router.weight.register_hook(lambda g: seen.append(g.abs().sum().item()))
x = torch.randn(N, D)
out, wide, aux = moe(x)
print(out.device == wide.device, out.grad_fn.name(), wide.grad_fn.name(), wide._version, out._version)
print(out.shape, out.is_contiguous(), out.stride(), wide[:, 0].abs().sum().item(), round(aux.item(), 5))
loss = out.pow(2).mean().cpu() + 0.01 * aux
loss.backward()
print(round(loss.item(), 5), [round(s, 5) for s in seen])
print([p.grad.device == p.device for p in moe.parameters()], moe.experts[1].fc2.bias.grad.cpu())

opt = torch.optim.Adam(moe.parameters(), lr=1e-2)
for step in range(3):
    opt.zero_grad(set_to_none=step % 2 == 0)
    out, wide, aux = moe(x)
    loss = out.pow(2).mean().cpu() + 0.01 * aux
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), [p._version for p in moe.experts[0].parameters()], len(seen))

# -- the state saved and loaded into a fresh layer -----------------------------------------------
buf = io.BytesIO()
torch.save(moe.state_dict(), buf)
buf.seek(0)
state = torch.load(buf)
print(sorted(state)[:3], len(state))
fresh = PlacedMoE()
print(fresh.load_state_dict(state))
with torch.inference_mode():
    a, _, _ = moe(x)
    b, _, _ = fresh(x)
print(a.requires_grad, a.is_inference(), torch.allclose(a.cpu(), b.cpu()), a.cpu()[0])
print(fresh.experts[0].fc1.weight.device == W[0], fresh.experts[1].fc1.weight._version)
print("done")
