# Training without backpropagation, as in "Gradients without Backpropagation" (Baydin et
# al.): each step draws a random tangent per parameter, takes the loss's directional
# derivative by forward mode (the parameters made dual through functional_call) and
# steps along tangent * derivative, on a model with in-place ReLU, a clone written in
# place, a GRU and BatchNorm in train mode (running stats updated while the input is
# dual); then Hessian-vector products by jvp of grad (forward-over-reverse) against
# double backward, and a forward-mode Jacobian of the GRU's last state by jacfwd.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
fwAD = torch.autograd.forward_ad
torch.manual_seed(83)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 6, batch_first=True)
        self.norm = nn.BatchNorm1d(6)
        self.fc = nn.Linear(6, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        seq, h = self.gru(x)
        z = self.norm(h[-1])
        z = F.relu(self.fc(z), inplace=True)
        skip = z.clone()
        skip[:, :3] *= 0.5
        return self.out(z + skip), seq


net = Net()
x, y = torch.randn(8, 5, 3), torch.randint(0, 2, (8,))
params = {k: v.detach() for k, v in net.named_parameters()}
lr = 0.05
for step in range(4):
    tangents = {k: torch.randn_like(v) for k, v in params.items()}
    with fwAD.dual_level():
        duals = {k: fwAD.make_dual(v, tangents[k]) for k, v in params.items()}
        logits, seq = torch.func.functional_call(net, duals, (x,))
        loss = F.cross_entropy(logits, y)
        primal, derivative = fwAD.unpack_dual(loss)
        seq_tangent = fwAD.unpack_dual(seq).tangent
    with torch.no_grad():
        for k in params:
            params[k] -= lr * derivative * tangents[k]
    print(step, round(primal.item(), 5), round(derivative.item(), 5), seq_tangent.abs().sum().item(),
          net.norm.running_mean[:3], net.norm.num_batches_tracked.item())

net.load_state_dict(params, strict=False)
net.eval()


def loss_of(p):
    return F.cross_entropy(torch.func.functional_call(net, p, (x,))[0], y)


v = {k: torch.randn_like(p) for k, p in params.items()}
_, hvp = torch.func.jvp(torch.func.grad(loss_of), (params,), (v,))
leaves = {k: p.clone().requires_grad_() for k, p in params.items()}
g = torch.autograd.grad(loss_of(leaves), list(leaves.values()), create_graph=True)
dot = sum((gi * v[k]).sum() for gi, k in zip(g, leaves))
hvp2 = torch.autograd.grad(dot, list(leaves.values()))
print(all(torch.allclose(hvp[k], h, atol=1e-4) for k, h in zip(leaves, hvp2)), hvp["out.bias"])


def last_state(inp):
    return net.gru(inp.unsqueeze(0))[1][0, 0]


J = torch.func.jacfwd(last_state)(x[0])
Jr = torch.func.jacrev(last_state)(x[0])
print(J.shape, torch.allclose(J, Jr, atol=1e-6), J[0, -1])
print("done")
