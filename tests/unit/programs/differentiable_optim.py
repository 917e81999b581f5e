# Meta-learning through the optimizer: differentiable=True steps (every optimizer) on a
# cloned weight, its gradient assigned from autograd.grad(create_graph=True), unrolled for
# a few steps, and a validation loss backpropagated to the initial weight and to a learned
# weight decay (a tensor that requires grad); the errors torch's differentiable steps raise
# (a leaf parameter updated in place, a saved tensor changed by a later step), the .grad of
# a non-leaf read with and without an assigned gradient, and a placed variant on a worker
# and one split over two (`W`, `shard`, `full`: the runner's, test_programs.py).
import warnings
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
O = torch.optim
torch.manual_seed(4)
x, y = torch.randn(8, 3), torch.randn(8)
xv, yv = torch.randn(4, 3), torch.randn(4)

w0 = torch.randn(3, requires_grad=True)
wd = torch.tensor(0.05, requires_grad=True)
recipes = [
    ("sgd", lambda w: O.SGD([w], lr=0.1, momentum=0.9, differentiable=True)),
    ("sgd nesterov wd", lambda w: O.SGD([w], lr=0.1, momentum=0.5, nesterov=True, weight_decay=wd,
                                        differentiable=True)),
    ("sgd plain max", lambda w: O.SGD([w], lr=0.2, maximize=True, differentiable=True)),
    ("adam", lambda w: O.Adam([w], lr=0.1, differentiable=True)),
    ("adam amsgrad wd", lambda w: O.Adam([w], lr=0.1, amsgrad=True, weight_decay=wd,
                                         differentiable=True)),
    ("adam amsgrad max", lambda w: O.Adam([w], lr=0.1, amsgrad=True, maximize=True,
                                          weight_decay=0.01, differentiable=True)),
    ("adamw", lambda w: O.AdamW([w], lr=0.1, differentiable=True)),
    ("rmsprop", lambda w: O.RMSprop([w], lr=0.01, momentum=0.5, differentiable=True)),
    ("rmsprop centered", lambda w: O.RMSprop([w], lr=0.01, centered=True, differentiable=True)),
    ("adagrad", lambda w: O.Adagrad([w], lr=0.1, lr_decay=0.01, differentiable=True)),
    ("adadelta", lambda w: O.Adadelta([w], lr=1.0, differentiable=True)),
    ("adamax", lambda w: O.Adamax([w], lr=0.1, differentiable=True)),
    ("nadam", lambda w: O.NAdam([w], lr=0.1, differentiable=True)),
    ("nadam decoupled", lambda w: O.NAdam([w], lr=0.1, weight_decay=0.1,
                                          decoupled_weight_decay=True, differentiable=True)),
    ("radam", lambda w: O.RAdam([w], lr=0.1, differentiable=True)),
    ("asgd", lambda w: O.ASGD([w], lr=0.1, differentiable=True)),
    ("rprop", lambda w: O.Rprop([w], lr=0.1, differentiable=True)),
]
for name, make in recipes:
    w0.grad = None
    wd.grad = None
    w = w0.clone()
    opt = make(w)
    print(name, opt.defaults["foreach"], opt.param_groups[0]["differentiable"])
    for step in range(3):
        sign = -1 if "max" in name else 1
        loss = sign * F.mse_loss(x @ w, y)
        w.grad = torch.autograd.grad(loss, w, create_graph=True)[0]
        opt.step()
    print("  w", w, sorted(opt.state[w]))
    print("  grad", w.grad)
    try:
        F.mse_loss(xv @ w, yv).backward()
        print("  meta", w0.grad, wd.grad)
    except RuntimeError as e:
        print("  ", type(e).__name__, e)

# the .grad of a non-leaf: torch warns only while none was assigned
h = w0 * 2
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(h.grad)
    h.grad = torch.ones(3)
    print(h.grad, h.is_leaf)
print([str(c.message)[:60] for c in caught])

# a leaf parameter cannot be stepped differentiably (torch keeps no momentum buffer then)
p = nn.Parameter(torch.ones(3))
opt = O.SGD([p], lr=0.1, momentum=0.9, differentiable=True)
p.grad = torch.ones(3)
try:
    opt.step()
except RuntimeError as e:
    print(type(e).__name__, e)
print(dict(opt.state[p]), p)
a = O.Adam([p], lr=0.1, differentiable=True)
try:
    a.step()
except RuntimeError as e:
    print(type(e).__name__, e)
print(sorted(a.state[p]), a.state[p]["step"], p)

# unrolled on a worker: the weight and its optimizer state live there
for name, make in [("sgd", lambda w: O.SGD([w], lr=0.1, momentum=0.9, differentiable=True)),
                   ("adam", lambda w: O.Adam([w], lr=0.1, differentiable=True))]:
    w0.grad = None
    w = w0.to(W[1]) * 1.0
    opt = make(w)
    xw, yw = x.to(W[1]), y.to(W[1])
    for step in range(3):
        w.grad = torch.autograd.grad(F.mse_loss(xw @ w, yw), w, create_graph=True)[0]
        opt.step()
    F.mse_loss(xv.to(W[1]) @ w, yv.to(W[1])).backward()
    print("placed", name, w.grad_fn.name(), w.detach().cpu(), w0.grad)

# and split over the workers
for name, make in [("sgd", lambda w: O.SGD([w], lr=0.1, momentum=0.9, differentiable=True)),
                   ("adam", lambda w: O.Adam([w], lr=0.1, differentiable=True)),
                   ("rmsprop", lambda w: O.RMSprop([w], lr=0.01, differentiable=True)),
                   ("nadam", lambda w: O.NAdam([w], lr=0.1, differentiable=True))]:
    w0.grad = None
    w = shard(w0 * 1.0, 0)
    opt = make(w)
    for step in range(3):
        w.grad = torch.autograd.grad(F.mse_loss(x @ full(w), y), w, create_graph=True)[0]
        opt.step()
    F.mse_loss(xv @ full(w), yv).backward()
    print("sharded", name, full(w.detach()), w0.grad)
print("done")
