# nn.utils as training scripts use them: the parameters flattened to a vector and written
# back, gradient clipping by value and by norm with its returned total, weight_norm and
# spectral_norm on layers trained a few steps, a parametrization registered by hand
# (a symmetric matrix) with a write to the original parameter in place, packed padded
# sequences through an LSTM and back, and nn.init under manual_seed (distgrad: the
# recurrent part on a worker; torch: the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
U = nn.utils
P = U.parametrize
torch.manual_seed(19)

net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
vec = U.parameters_to_vector(net.parameters())
print(vec.shape, vec.requires_grad, vec.grad_fn.name(), vec.is_leaf)
U.vector_to_parameters(torch.arange(float(vec.numel())) / 100, net.parameters())
print(net[0].weight[1], net[2].bias, net[0].weight.is_leaf, net[0].weight._version)
x = torch.randn(5, 3)
loss = net(x).pow(2).sum()
loss.backward()
U.clip_grad_value_(net.parameters(), 0.05)
print(net[0].weight.grad.abs().max(), net[2].bias.grad)
total = U.clip_grad_norm_(net.parameters(), 0.1)
print(round(total.item(), 5), U.parameters_to_vector(p.grad for p in net.parameters()).norm())

wn = U.weight_norm(nn.Linear(3, 2))
print(sorted(n for n, _ in wn.named_parameters()), wn.weight_g.shape, wn.weight.requires_grad)
sn = U.spectral_norm(nn.Linear(2, 2))
opt = torch.optim.SGD(list(wn.parameters()) + list(sn.parameters()), lr=0.1)
for it in range(2):
    opt.zero_grad()
    out = sn(wn(x))
    out.pow(2).mean().backward()
    opt.step()
    print(it, wn.weight_g.grad.squeeze(1), wn.weight_v.grad.shape, sn.weight_orig.grad.shape)
print(sn.weight_u, sn.weight.grad_fn is not None)


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


layer = nn.Linear(3, 3)
P.register_parametrization(layer, "weight", Symmetric())
print(P.is_parametrized(layer), P.is_parametrized(layer, "bias"), type(layer).__name__)
W_ = layer.weight
print(torch.equal(W_, W_.t()), W_.grad_fn.name(), layer.parametrizations.weight.original.shape)
with torch.no_grad():
    layer.parametrizations.weight.original.mul_(2)
print(layer.weight[0], layer.parametrizations.weight.original._version)
layer(x).sum().backward()
print(layer.parametrizations.weight.original.grad)
with P.cached():
    a, b = layer.weight, layer.weight
    print("cached", a is b)
P.remove_parametrizations(layer, "weight", leave_parametrized=True)
print(type(layer.weight).__name__, layer.weight.is_leaf, torch.equal(layer.weight, layer.weight.t()))



class SymmetricInv(Symmetric):
    def right_inverse(self, A):
        return A.triu()


inv = nn.Linear(3, 3)
P.register_parametrization(inv, "weight", SymmetricInv())
orig = inv.parametrizations.weight.original
print(orig._version, torch.equal(orig, orig.triu()))
inv.weight = torch.eye(3) * 2
print(orig._version, orig.diagonal(), inv.weight.requires_grad)
P.remove_parametrizations(inv, "weight", leave_parametrized=True)
print(inv.weight is orig, inv.weight._version)

lstm = nn.LSTM(2, 3, batch_first=True).to(W[1])
seqs = torch.randn(3, 4, 2)
lengths = torch.tensor([4, 2, 3])
packed = U.rnn.pack_padded_sequence(seqs.to(W[1]), lengths, batch_first=True, enforce_sorted=False)
print(packed.batch_sizes, packed.sorted_indices.cpu(), packed.data.shape)
out, (h, c) = lstm(packed)
padded, lens = U.rnn.pad_packed_sequence(out, batch_first=True)
print(padded.shape, lens, padded.cpu()[1, 2:], h.shape)
padded.sum().backward()
print(lstm.weight_ih_l0.grad.shape, lstm.bias_hh_l0.grad.cpu().abs().sum().item() > 0)
seq_list = [torch.ones(2, 1), torch.ones(3, 1) * 2]
print(U.rnn.pad_sequence(seq_list, batch_first=True, padding_value=-1).squeeze(-1))

torch.manual_seed(3)
w = torch.empty(3, 4)
for fn in (nn.init.kaiming_normal_, nn.init.orthogonal_, nn.init.trunc_normal_):
    fn(w)
    print(fn.__name__, w[0])
print(nn.init.calculate_gain("leaky_relu", 0.2), nn.init.zeros_(w).sum().item(), w._version)
print("done")
