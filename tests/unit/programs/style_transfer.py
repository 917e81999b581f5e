# The neural-style-transfer tutorial in small: a frozen conv "feature extractor"
# (requires_grad_(False), eval), ContentLoss/StyleLoss modules inserted after chosen
# layers that store their loss as an attribute (targets detached; Gram matrices by mm of
# the flattened features), a Normalization module with view(-1, 1, 1) buffers, the input
# image optimized by LBFGS with a closure that clamps it in place under no_grad, and the
# same image optimized by Adam with a total-variation term.
import copy
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(23)


def gram_matrix(x):
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, x):
        self.loss = F.mse_loss(gram_matrix(x), self.target)
        return x


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, img):
        return (img - self.mean) / self.std


cnn = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                    nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                    nn.Conv2d(8, 8, 3, padding=1)).eval().requires_grad_(False)
style_img, content_img = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)


def get_style_model_and_losses(cnn, style_img, content_img):
    normalization = Normalization([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        else:
            name = f"pool_{i}"
        model.add_module(name, layer)
        if name == "conv_3":
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in ("conv_1", "conv_2", "conv_3", "conv_4"):
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    return model[: i + 1], style_losses, content_losses


model, style_losses, content_losses = get_style_model_and_losses(cnn, style_img, content_img)
print([name for name, _ in model.named_children()])
input_img = content_img.clone()
input_img.requires_grad_(True)
model.eval()
model.requires_grad_(False)
optimizer = torch.optim.LBFGS([input_img], max_iter=8)
run = [0]
while run[0] <= 6:
    def closure():
        with torch.no_grad():
            input_img.clamp_(0, 1)
        optimizer.zero_grad()
        model(input_img)
        style_score = sum(sl.loss for sl in style_losses) * 1e4
        content_score = sum(cl.loss for cl in content_losses)
        loss = style_score + content_score
        loss.backward()
        run[0] += 1
        if run[0] % 3 == 0:
            print(run[0], round(style_score.item(), 4), round(content_score.item(), 5))
        return style_score + content_score
    optimizer.step(closure)
with torch.no_grad():
    input_img.clamp_(0, 1)
print(input_img.min().item(), input_img.max().item(), input_img[0, :, 0, :3])
print(sorted(optimizer.state[input_img].keys()), optimizer.state[input_img]["n_iter"])

image = torch.nn.Parameter(content_img.clone())
adam = torch.optim.Adam([image], lr=0.02)
for step in range(4):
    adam.zero_grad()
    model(image)
    tv = (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    loss = 1e3 * sum(sl.loss for sl in style_losses) + content_losses[0].loss + 0.1 * tv
    loss.backward()
    adam.step()
    with torch.no_grad():
        image.data.clamp_(0, 1)
    print(step, round(loss.item(), 5), image.grad.norm().item())
print(all(not p.requires_grad for p in model.parameters()))
try:
    copy.deepcopy(style_losses[0])  # its .loss is a non-leaf of the last step's graph
except RuntimeError as e:
    print("RuntimeError:", str(e)[:80])
del style_losses[0].loss
print(copy.deepcopy(style_losses[0]).target.shape)
print("done")
