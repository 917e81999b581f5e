# A seq2seq decoder step as inference and fine-tuning code runs it, on a worker (torch: the
# CPU): a TransformerDecoder with causal and padding masks, set_grad_enabled toggled around
# parts of the step (what it records, requires_grad, is_leaf), anomaly detection catching
# a nan gradient and naming the node, `.data` swapped under a parameter, a compiled
# scoring function, and grads of a decoder's output checked against a second run.
# `W`, `compiled` are the runner's (test_programs.py).
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(17)
dev = W[0]


def attempt(f):
    try:
        return f()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"


layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
decoder = nn.TransformerDecoder(layer, num_layers=2).to(dev)
tgt = torch.randn(2, 4, 8).to(dev)
memory = torch.randn(2, 5, 8).to(dev).requires_grad_()
causal = nn.Transformer.generate_square_subsequent_mask(4).to(dev)
mem_pad = torch.tensor([[False] * 5, [False, False, False, True, True]]).to(dev)
print(causal.cpu(), causal.dtype)
out = decoder(tgt, memory, tgt_mask=causal, memory_key_padding_mask=mem_pad)
print(out.shape, out.grad_fn.name(), out.requires_grad)
out.pow(2).mean().backward()
print(memory.grad[1, 3:].abs().sum().item(), memory.grad[0].abs().sum().item() > 0)
first = [p.grad.detach().clone() for p in decoder.parameters()]
decoder.zero_grad()
decoder(tgt, memory, tgt_mask=causal, memory_key_padding_mask=mem_pad).pow(2).mean().backward()
print(all(torch.equal(a, p.grad) for a, p in zip(first, decoder.parameters())))

with torch.set_grad_enabled(False):
    frozen = decoder(tgt, memory, tgt_mask=causal)
    print(frozen.requires_grad, frozen.grad_fn, torch.is_grad_enabled())
    with torch.set_grad_enabled(True):
        live = frozen * memory[:, :4]
        print(live.requires_grad, live.grad_fn.name(), frozen.is_leaf, live.is_leaf)
torch.set_grad_enabled(False)
side = memory * 2
torch.set_grad_enabled(True)
print(side.requires_grad, side.is_leaf, torch.is_grad_enabled())

a = torch.tensor([1.0, 0.0, 2.0]).to(dev).requires_grad_()
with torch.autograd.detect_anomaly():
    bad = a.sqrt() * 0
    # (distgrad's message goes on to name the worker: torch's words first)
    print(bad.grad_fn.name(), attempt(lambda: (a.sqrt() / a).sum().backward())[:75])
    good = (a * 3).sum()
    good.backward()
print(a.grad.cpu())

p1 = nn.Parameter(torch.ones(2, 3).to(dev))
with torch.no_grad():
    p1.mul_(2)
p1.data = torch.zeros(3).to(dev)  # swapped under the parameter: a version counter of its own
print(p1.shape, p1.tolist(), p1._version, type(p1).__name__, p1.is_leaf, p1.requires_grad)


@compiled
def score(q, k):
    w = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, dim=-1)
    return w.argmax(-1), w.max(-1).values


with torch.no_grad():
    idx, best = score(out, memory)
print(idx.cpu(), best.shape, best.requires_grad)
idx2, best2 = score(out.detach(), memory.detach())
print(torch.equal(idx2, idx), best2.requires_grad)
print("done")
