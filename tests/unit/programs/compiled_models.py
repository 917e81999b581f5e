# torch.compile as training scripts use it: a compiled model (an OptimizedModule holding the
# original as _orig_mod) trained with loss.backward() outside the compiled call, its state
# dict's prefixed keys and loading them back into a plain model, attributes reached through
# it, eval/train, a deepcopy; a whole compiled step returning a detached loss, and one
# returning its loss with the history its backward freed (recorded, then replayed), one whose
# backward keeps its graph (its loss differentiated again) and returns a tensor whose graph
# saves nothing (differentiated after the call, replayed or not); the compile
# decorator with torch.compile's arguments, and the errors its arguments raise. The model
# lives on worker 0 (the CPU under torch). backend="eager": torch's own compiler is not
# what is compared.
import copy
import io
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)

model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).to(W[0])
cm = torch.compile(model, backend="eager")
print(type(cm).__name__, isinstance(cm, nn.Module), cm._orig_mod is model)
print(cm)
print(list(cm.state_dict())[:2], sum(p.numel() for p in cm.parameters()))
print(cm._orig_mod[2].out_features, cm.training, torch.compiler.is_compiling())

x = torch.randn(16, 6).to(W[0])
y = torch.randint(0, 2, (16,)).to(W[0])
opt = torch.optim.Adam(cm.parameters(), lr=0.01)
for step in range(4):
    out = cm(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, round(loss.item(), 5), out.requires_grad, out.grad_fn.name(),
          model[0].weight.grad.norm().item())

cm.eval()
print(model.training, cm.training, model[1].training)
with torch.no_grad():
    print(cm(x[:3]).argmax(1).tolist(), cm(x[:3]).requires_grad)
cm.train()

plain = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).to(W[0])
try:
    plain.load_state_dict(cm.state_dict())
except RuntimeError as e:
    print("RuntimeError:", e)
plain.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in cm.state_dict().items()})
print(torch.equal(plain(x), model(x)))
buf = io.BytesIO()
torch.save(cm.state_dict(), buf)
buf.seek(0)
print(sorted(torch.load(buf)))
twin = copy.deepcopy(cm)
print(type(twin).__name__, twin._orig_mod is not model, torch.equal(twin(x), cm(x)))

reg = nn.Linear(6, 1).to(W[0])
sgd = torch.optim.SGD(reg.parameters(), lr=0.1, momentum=0.9)
target = (x.sum(1, keepdim=True) * 0.3).detach()


@torch.compile(backend="eager", dynamic=False)
def train_step(inp, tgt):
    sgd.zero_grad()
    loss = F.mse_loss(reg(inp), tgt)
    loss.backward()
    sgd.step()
    return loss.detach()


for step in range(5):
    print("fit", step, train_step(x, target).item())
print(reg.bias.data.tolist(), reg.weight.grad.shape)


@torch.compile(backend="eager")
def whole_step(inp, tgt):  # (its loss keeps the history its backward freed, as torch's)
    sgd.zero_grad()
    loss = F.mse_loss(reg(inp), tgt)
    loss.backward()
    sgd.step()
    return loss


for step in range(4):
    loss = whole_step(x, target)
    print("whole", step, loss.item(), loss.requires_grad, loss.is_leaf, loss.grad_fn,
          loss.grad_fn.next_functions)
    try:
        loss.backward()
    except RuntimeError as e:
        print("RuntimeError:", e)

shift = torch.zeros(2, device=W[0], requires_grad=True)


@compiled
def kept_step(inp, tgt):  # (its backward keeps the graph: the loss can go through it again)
    sgd.zero_grad()
    out = reg(inp)
    loss = F.mse_loss(out, tgt)
    loss.backward(retain_graph=True)
    return loss, out


@compiled
def shifted_step(inp, tgt):  # (its second output's graph saves nothing: it has a gradient)
    sgd.zero_grad()
    out = reg(inp)
    F.mse_loss(out, tgt).backward()
    sgd.step()
    return out, out.sum(1)[:2] + shift


for step in range(3):
    loss, out = kept_step(x, target)
    print("kept", step, loss.grad_fn.name(), out.grad_fn.name(), out.is_leaf, reg.bias.grad.item())
    loss.backward()
    print(reg.bias.grad.item())
for step in range(4):
    out, moved = shifted_step(x, target)
    print(out.grad_fn.name(), moved.grad_fn.next_functions, moved.requires_grad)
    print(torch.autograd.grad(moved.sum(), shift)[0].tolist())
    try:
        out.sum().backward()
    except RuntimeError as e:
        print("RuntimeError:", e)

f = torch.compile(lambda t: (t.sin() ** 2 + t.cos() ** 2).sum(), backend="eager")
a = torch.linspace(0, 3, 7, requires_grad=True)
f(a).backward()
print(f(a).item(), f(a).grad_fn.name(), a.grad.abs().max() < 1e-5)
for bad in (dict(mode="fastest"), dict(mode="default", options={"x": 1})):
    try:
        torch.compile(nn.ReLU(), **bad)
    except RuntimeError as e:
        print("RuntimeError:", e)
try:
    torch.compile(3)
except AssertionError as e:
    print("AssertionError:", e)
print(torch.compile(model, disable=True) is model)
print("done")
