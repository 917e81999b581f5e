# A mixture-of-experts layer as written in papers' reference code: a noisy top-2 gate
# (topk, softmax over the kept logits, scatter into a dense gate matrix), tokens routed
# to experts by nonzero/index_select and combined back with index_add_, a load-balancing
# auxiliary loss from the router's mean probabilities and the tokens' counts (bincount),
# capacity dropping by cumsum, and expert weights batched with einsum / bmm.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(53)
E, D, H, K = 4, 6, 10, 2


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(D, E, bias=False)
        self.noise = nn.Linear(D, E, bias=False)
        self.w_in = nn.Parameter(torch.randn(E, D, H) * D ** -0.5)
        self.w_out = nn.Parameter(torch.randn(E, H, D) * H ** -0.5)

    def forward(self, x, capacity):
        logits = self.router(x)
        if self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(self.noise(x))
        top_vals, top_idx = logits.topk(K, dim=-1)
        gates = torch.zeros_like(logits).scatter(1, top_idx, F.softmax(top_vals, dim=-1))
        position = torch.cumsum((gates > 0).long(), dim=0) * (gates > 0)
        gates = gates * (position <= capacity)
        out = torch.zeros_like(x)
        for e in range(E):
            tokens = gates[:, e].nonzero().squeeze(-1)
            if tokens.numel() == 0:
                continue
            h = F.gelu(x.index_select(0, tokens) @ self.w_in[e]) @ self.w_out[e]
            out.index_add_(0, tokens, h * gates[tokens, e].unsqueeze(-1))
        probs = F.softmax(logits, dim=-1)
        counts = torch.bincount(top_idx[:, 0], minlength=E).float()
        aux = E * (probs.mean(0) * counts / x.size(0)).sum()
        return out, aux, counts


def dense_reference(moe, x):
    h = F.gelu(torch.einsum("td,edh->eth", x, moe.w_in))
    return torch.bmm(h, moe.w_out)


moe = MoE()
head = nn.Linear(D, 1)
opt = torch.optim.Adam(list(moe.parameters()) + list(head.parameters()), lr=1e-2)
x = torch.randn(12, D)
target = x[:, :2].sum(-1, keepdim=True)
for step in range(5):
    moe.train()
    out, aux, counts = moe(x, capacity=7)
    loss = F.mse_loss(head(out + x), target) + 0.01 * aux
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), round(aux.item(), 5), counts.tolist())
print(moe.router.weight.grad.abs().sum().item(), moe.noise.weight.grad.shape, moe.w_in.grad[0, :2, :3])
moe.eval()
with torch.no_grad():
    out, aux, counts = moe(x, capacity=12)
    per_expert = dense_reference(moe, x)
    gates = torch.zeros(12, E).scatter(1, moe.router(x).topk(K, -1).indices, F.softmax(moe.router(x).topk(K, -1).values, -1))
    ref = torch.einsum("te,etd->td", gates, per_expert)
print(torch.allclose(out, ref, atol=1e-5), per_expert.shape, out[:2])
print("done")
