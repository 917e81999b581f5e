# Looking inside a trained CNN: Grad-CAM from a forward hook (activations) and a full
# backward hook (their gradients), upsampled with F.interpolate; a saliency map from the
# input's gradient; an FGSM and a PGD adversarial example (grad.sign(), clamp, a
# projection onto the eps-ball); feature extraction with register_forward_hook on a
# checkpointed block in train mode (dropout replayed), and a hook removed.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(67)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 8, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Dropout(0.25), nn.Linear(16, 8))
        self.head = nn.Linear(8, 4)

    def forward(self, x, checkpointed=False):
        f = self.features(x).mean((2, 3))
        if checkpointed:
            f = f + torch.utils.checkpoint.checkpoint(self.block, f, use_reentrant=False)
        else:
            f = f + self.block(f)
        return self.head(f)


net = Net()
x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 4, (8,))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for step in range(4):
    loss = F.cross_entropy(net(x, checkpointed=step % 2 == 1), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), net.block[0].weight.grad.norm().item())
net.eval()

store = {}
fwd = net.features[3].register_forward_hook(lambda m, i, o: store.__setitem__("act", o))
bwd = net.features[3].register_full_backward_hook(lambda m, gi, go: store.__setitem__("grad", go[0]))
img = x[:2]
scores = net(img)
cls = scores.argmax(1)
scores.gather(1, cls[:, None]).sum().backward()
weights = store["grad"].mean((2, 3), keepdim=True)
cam = F.relu((weights * store["act"]).sum(1, keepdim=True))
cam = F.interpolate(cam, size=(8, 8), mode="bilinear", align_corners=False)
cam = cam / cam.flatten(1).max(1).values.clamp(min=1e-8)[:, None, None, None]
print(cls.tolist(), store["act"].shape, store["grad"].shape, cam.shape, cam[0, 0, ::3, ::3])
fwd.remove()
bwd.remove()
net.zero_grad()

inp = img.clone().requires_grad_(True)
net(inp).gather(1, cls[:, None]).sum().backward()
saliency = inp.grad.abs().amax(1)
print(saliency.shape, saliency[1].argmax().item(), len(store), net.head.weight.grad is not None)

eps = 0.05
xa = x.clone().requires_grad_(True)
F.cross_entropy(net(xa), y).backward()
fgsm = (x + eps * xa.grad.sign()).clamp(0, 1)
with torch.no_grad():
    print((net(fgsm).argmax(1) != net(x).argmax(1)).sum().item(), (fgsm - x).abs().max().item())
adv = x.clone()
for _ in range(3):
    adv.requires_grad_(True)
    loss = F.cross_entropy(net(adv), y)
    g, = torch.autograd.grad(loss, adv)
    adv = adv.detach() + 0.02 * g.sign()
    adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1)
    print(round(loss.item(), 5), adv.requires_grad)
print(torch.norm(adv - x, p=float("inf")).item(), adv.dtype)
print("done")
