# Equal values and windows as real code meets them: top-k accuracy over tied integer scores,
# ranking with ties on a worker and through a sharded batch, lengths sorted for packing, a
# max-pool over a padded -inf border (whose gradient goes where torch's goes), and an out=
# result written into a view of a preallocated buffer.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(3)

scores = torch.randint(0, 4, (6, 20)).float()
labels = torch.randint(0, 20, (6,))
top = scores.topk(5, dim=1)
print("top-5 indices", top.indices.tolist())
print("top-5 hit", (top.indices == labels[:, None]).any(1).float().mean().item())
print("unsorted", scores.topk(17, dim=1, sorted=False).indices[0].tolist())
ranked = scores.to(W[0]).argsort(dim=1, descending=True)
print("ranking on a worker", ranked.cpu()[:2].tolist())
values, order = full(shard(scores, 0)).sort(dim=1)
print("sorted through a sharded batch", order[3].tolist())
print("stable", scores.sort(dim=1, stable=True).indices[1].tolist())

lengths = torch.tensor([3, 5, 3, 2, 5, 3, 1, 3, 5, 2, 2, 3, 4, 4, 1, 3, 5, 2])
batch = torch.randn(5, 18, 2)
packed = nn.utils.rnn.pack_padded_sequence(batch, lengths, enforce_sorted=False)
print("packed order", packed.sorted_indices.tolist())
rnn = nn.GRU(2, 3)
out, h = rnn(packed)
print("last states", h.squeeze(0).sum(1).tolist())

image = torch.randn(1, 2, 6, 6)
image[..., :3, :3] = float("-inf")
image.requires_grad_()
pooled, where = F.max_pool2d(image, 3, 2, 1, return_indices=True)
pooled.sum().backward()
print("pool indices", where[0, 0].tolist())
print("pool grad", image.grad[0, 0].tolist())

buffer = torch.zeros(20)
window = buffer[2:4]
torch.mul(torch.arange(1.0, 4.0), 2, out=window)
print("out= into a view", window.tolist(), buffer.tolist())
buffer.resize_(4, 5)
print("resized in place", buffer[0].tolist(), buffer.stride())
print("done")
