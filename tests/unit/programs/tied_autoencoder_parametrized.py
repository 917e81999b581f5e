# A weight-tied autoencoder as representation-learning scripts write it, with its weights
# under torch.nn.utils.parametrize: the encoder's weight kept orthogonal (parametrizations
# .orthogonal) and the decoder reading its transpose (a view of the parametrized weight),
# a second layer under weight_norm, a hand-written parametrization (a symmetric matrix) on
# a layer moved to W[0] after registering it, parametrize.cached() around a forward that
# reads the weight twice, a weight assigned through right_inverse under no_grad, Adam steps,
# a state_dict (original0/original1 keys) saved to a BytesIO and loaded into a fresh
# model, and remove_parametrizations leaving a plain Parameter. `W` is the runner's.
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
P = torch.nn.utils.parametrize
torch.manual_seed(29)
D, H = 6, 4


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


class TiedAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.utils.parametrizations.orthogonal(nn.Linear(D, H))
        self.mix = nn.utils.parametrizations.weight_norm(nn.Linear(H, H))
        self.sym = nn.Linear(D, D, bias=False)
        P.register_parametrization(self.sym, "weight", Symmetric())
        self.dec_bias = nn.Parameter(torch.zeros(D))

    def forward(self, x):
        w = self.enc.weight
        z = torch.tanh(self.mix(F.linear(x, w, self.enc.bias)))
        recon = F.linear(z, w.t(), self.dec_bias)
        sym = self.sym.to(W[0])
        return recon + sym(x.to(W[0])).cpu() * 0.1, z, w


model = TiedAE()
print(sorted(n for n, _ in model.named_parameters()))
print(P.is_parametrized(model.enc), P.is_parametrized(model.enc, "bias"), type(model.sym.parametrizations.weight).__name__)
x = torch.randn(5, D)
recon, z, w = model(x)
eye = w @ w.t()
print(w.grad_fn.name(), w.shape, torch.allclose(eye, torch.eye(H), atol=1e-5), recon.grad_fn.name())
print(str(model.sym.weight.device) == W[0], torch.allclose(model.sym.weight.cpu(), model.sym.weight.cpu().t()))
loss = F.mse_loss(recon, x)
loss.backward()
orig = model.enc.parametrizations.weight.original
print(round(loss.item(), 5), orig.grad.shape, orig.grad[0], model.mix.parametrizations.weight.original0.grad.t())
print(model.sym.parametrizations.weight.original.grad.cpu().triu(1).abs().sum().item() > 0,
      model.sym.parametrizations.weight.original.grad.cpu().tril(-1).abs().sum().item())

reads = []
model.enc.parametrizations.weight.register_forward_hook(lambda m, i, o: reads.append(o.shape))
with P.cached():
    recon2, _, w2 = model(x)
    again = model.enc.weight
print(len(reads), again is w2, torch.allclose(recon2, recon))
recon3, _, w3 = model(x)
print(len(reads), w3 is w2)

opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(3):
    opt.zero_grad()
    recon, z, w = model(x)
    loss = F.mse_loss(recon, x) + 1e-3 * z.pow(2).sum()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), torch.allclose(w @ w.t(), torch.eye(H), atol=1e-4),
          model.enc.parametrizations.weight.original._version, model.mix.parametrizations.weight.original1._version)

with torch.no_grad():
    target = torch.randn(D, D).to(W[0])
    model.sym.weight = target + target.t()
print(torch.allclose(model.sym.weight.cpu(), (target + target.t()).cpu()),
      model.sym.parametrizations.weight.original.cpu().tril(-1).abs().sum().item())

buf = io.BytesIO()
torch.save(model.state_dict(), buf)
buf.seek(0)
state = torch.load(buf)
print(sorted(state))
fresh = TiedAE()
fresh.sym.to(W[0])
print(fresh.load_state_dict(state))
print(torch.allclose(fresh(x)[0].detach(), model(x)[0].detach(), atol=1e-5))
P.remove_parametrizations(fresh.sym, "weight", leave_parametrized=True)
print(type(fresh.sym.weight).__name__, fresh.sym.weight.requires_grad, str(fresh.sym.weight.device) == W[0],
      P.is_parametrized(fresh.sym), sorted(fresh.sym.state_dict()))
print("done")
