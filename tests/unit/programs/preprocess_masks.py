# A data pipeline and a masked attention step as older and newer code write them: uint8
# images built with the legacy constructors, normalised per channel in place through views,
# cropped and flipped by slicing; categorical columns one-hot encoded, features stored in
# float16 and reduced in bfloat16; padding masks from lengths broadcast into
# (batch, heads, query, key) scores with masked_fill, and the errors of the wrong mask.
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:160])


torch.manual_seed(5)
images = torch.ByteTensor(4, 3, 6, 6).random_(0, 256)
print(images.type(), isinstance(images, torch.ByteTensor), isinstance(images.float(), torch.FloatTensor))
x = images.float().div_(255)
mean = torch.FloatTensor([0.485, 0.456, 0.406])
std = torch.FloatTensor([0.229, 0.224, 0.225])
for c in range(3):
    x[:, c].sub_(mean[c]).div_(std[c])
x[1:3] = x[1:3].flip(-1)
crop = x[..., 1:5, 1:5]
crop[:, :, 0, :] = 0.0
print(crop.shape, crop.is_contiguous(), x[0, 0, 1], x.mean(dim=(0, 2, 3)))
labels = torch.LongTensor([2, 0, 2, 1])
print(labels.type(torch.IntTensor), 2 in labels, 3 in labels, torch.tensor(0) in labels)
tryp(lambda: "cat" in labels)
targets = torch.zeros(4, 3)
for value in (torch.ones(4, dtype=torch.long), torch.ones(4)):
    try:
        targets[torch.arange(4), labels] = value
    except RuntimeError as e:
        print(type(e).__name__, e)
tryp(lambda: targets[torch.arange(4), labels[:3]])
print(targets, targets[labels > 0].sum(1))

cats = torch.randint(0, 4, (6, 2))
onehot = torch.cat([F.one_hot(cats[:, 0], 4), F.one_hot(cats[:, 1], 4)], dim=1)
features = torch.cat([onehot.float(), torch.randn(6, 3) * 100], dim=1).half()
print(onehot.dtype, features.dtype, features[:2])
summed = features.bfloat16().sum(0)
print(summed, summed.float().dtype, features.float().std(0).to(torch.float16))
torch.set_printoptions(precision=3, sci_mode=False)
print(features[:, -3:].float() / 1000)
torch.set_printoptions(sci_mode=True)
print(features[:2, -2:])
torch.set_printoptions(profile="default")

B, H, T = 3, 2, 5
lengths = torch.tensor([5, 3, 1])
pad = torch.arange(T)[None, :] >= lengths[:, None]
q = torch.randn(B, H, T, 4, requires_grad=True)
k = torch.randn(B, H, T, 4)
scores = q @ k.transpose(-2, -1) / 2.0
causal = torch.ones(T, T, dtype=torch.bool).triu(1)
masked = scores.masked_fill(pad[:, None, None, :], float("-inf")).masked_fill(causal, float("-inf"))
attn = masked.softmax(-1)
print(pad.int(), attn[2, 0], attn.isnan().any().item())
v = torch.randn(B, H, T, 4)
out = (attn @ v).masked_fill(pad[:, None, :, None], 0.0)
out.pow(2).sum().backward()
print(q.grad[1, 0], q.grad.abs().sum(dim=(1, 2, 3)))
tryp(lambda: scores.masked_fill(pad, 0.0))
tryp(lambda: scores.detach().masked_fill_(pad[:, None], 0.0))
tryp(lambda: scores.detach().masked_fill_(pad[:, None, None, :].int(), 0.0))
tryp(lambda: scores.masked_fill(pad[:, None, None, :], torch.zeros(1)))
tryp(lambda: torch.FloatTensor(labels))
tryp(lambda: q.transpose(1, 2).transpose_(2, 3))
print("done")
