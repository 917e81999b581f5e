# Hooks on the grad_fn nodes of sharded activations, as a debugging script registers them
# on a model-parallel layer: a node hook reading the gradients each input gets (a sharded
# input's whole gradient, a driver bias's and gate's summed over the workers that used
# copies or pieces of them) and the gradient the node was given, a pre-hook next to it,
# a hook removed after the first backward, the same graph run twice (retain_graph), for
# both split dims and through a transposed intermediate (distgrad: two workers; torch:
# copies). `shard`, `full` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
torch.manual_seed(3)
log = []


def show(tag):
    def hook(grad_inputs, grad_outputs):
        log.append((tag, [None if g is None else (tuple(g.shape), round(g.sum().item(), 4))
                          for g in grad_inputs],
                    [tuple(g.shape) for g in grad_outputs], round(grad_outputs[0].sum().item(), 4)))
    return hook


for dim in (0, 1):
    x = shard(torch.randn(4, 6), dim).requires_grad_()
    bias = torch.randn(6, requires_grad=True)
    gate = torch.randn(4, 1, requires_grad=True)
    y = x * gate.sigmoid() + bias
    h = y.exp()
    print(dim, y.grad_fn.name(), type(h.grad_fn).__name__, h.requires_grad, h.is_leaf)
    handles = [y.grad_fn.register_hook(show("add")), h.grad_fn.register_hook(show("exp"))]
    pre = y.grad_fn.register_prehook(lambda go: log.append(("pre", tuple(go[0].shape))))
    loss = (full(h) * torch.arange(6.)).sum()
    loss.backward(retain_graph=True)
    print(log)
    print(full(x.grad)[0], bias.grad, gate.grad.squeeze(1))
    log.clear()
    handles[0].remove()
    pre.remove()
    loss.backward()
    print(log, full(x.grad)[1])
    log.clear()
    z = x.t() * 2
    w = z.tanh()
    w.grad_fn.register_hook(show("tanh"))
    z.grad_fn.register_hook(show("mul"))
    w.sum().backward()
    print(log, full(x.grad)[:, 0])
    log.clear()
print("done")
