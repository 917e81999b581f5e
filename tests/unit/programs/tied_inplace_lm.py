# A small language model trained the way scripts write one, with its modules placed on a
# worker (module.to(W[0])): the output head tied to the embedding (head.weight = emb.weight),
# in-place activations (ReLU(inplace=True), Dropout(inplace=True) in train and eval),
# residual blocks written `x += f(x)`, the embedding's first rows frozen by a hook that zeroes
# their gradient rows, gradient surgery through .grad views (p.grad[0].zero_(),
# p.grad.data.clamp_()), an SGD step with momentum, and what the steps leave (versions,
# is_leaf, grad_fn names, storage shared by the tied weights; distgrad: a worker; torch:
# the CPU). `W` is the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(0.25, inplace=True)

    def forward(self, x):
        h = self.act(self.drop(self.fc(x.relu())))  # (x itself is not saved)
        x += h
        return x


class TinyLM(nn.Module):
    def __init__(self, vocab=7, d=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        x = self.emb(ids) * 1.0
        x = self.blocks(x)
        return self.head(x)


model = TinyLM().to(W[0])
print(model.head.weight is model.emb.weight, len(list(model.parameters())),
      [n for n, _ in model.named_parameters()])
frozen_rows = 2
handle = model.emb.weight.register_hook(lambda g: torch.cat([g[:frozen_rows].mul(0), g[frozen_rows:]]))
opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
ids = torch.tensor([[0, 3, 5, 1], [2, 6, 4, 4]]).to(W[0])
targets = torch.tensor([[3, 5, 1, 2], [6, 4, 4, 0]]).to(W[0])
w0 = model.emb.weight.detach().clone()
for step in range(3):
    opt.zero_grad(set_to_none=False)
    logits = model(ids)
    loss = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    loss.backward()
    g = model.emb.weight.grad
    g_row = g[3]
    g_row.zero_()  # a .grad view: the row stays still this step
    model.blocks[0].fc.weight.grad.data.clamp_(-0.05, 0.05)
    print(step, round(loss.item(), 5), logits.grad_fn.name(), g._version, g_row._base is g,
          g[:frozen_rows].abs().sum().item(), g[3].abs().sum().item())
    opt.step()
w1 = model.emb.weight.detach()
print((w1 - w0)[:frozen_rows].abs().max().item() < 1e-7, model.emb.weight._version,
      model.emb.weight.is_leaf, model.emb.weight.grad_fn)
print(model.head.weight.untyped_storage().data_ptr() == model.emb.weight.untyped_storage().data_ptr())

model.eval()
with torch.no_grad():
    out = model(ids)
    again = model(ids)
print(torch.equal(out, again), out.requires_grad, out.shape, out.grad_fn)
model.train()
handle.remove()

# -- in-place activations meet saved values -----------------------------------------------------
x = torch.randn(3, 5, requires_grad=True)
y = model.blocks[1].fc(x.to(W[0]))
z = y.sigmoid()
print(attempt(lambda: (nn.ReLU(inplace=True)(y), z.sum().backward())[1]))
y2 = model.blocks[1].fc(x.to(W[0]))
r = F.relu(y2, inplace=True)
print(r is y2, y2._version, y2.grad_fn.name())
r2 = F.dropout(r, 0.5, training=False, inplace=True)
print(r2 is r, r._version)
(r2 * 2).sum().backward()
print(x.grad)
h = x.to(W[0]) * 1
h += model.blocks[0].fc(h).tanh()
h += model.blocks[0].fc(h).tanh()
print(h.grad_fn.name(), h._version)
print(attempt(lambda: h.sum().backward()))
print(x.grad)
print("done")
