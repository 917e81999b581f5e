# Metric learning and margin losses as a user's experiments use them: a small embedding net
# trained with TripletMarginLoss (swap, p=1) and TripletMarginWithDistanceLoss (a cosine
# distance, nn.PairwiseDistance), a pair model with CosineEmbeddingLoss and
# MarginRankingLoss, a linear SVM with MultiMarginLoss (p=2, margin, class weights) and
# SoftMarginLoss, a multi-label ranker with MultiLabelMarginLoss and
# MultiLabelSoftMarginLoss, HingeEmbeddingLoss on distances; gradients with create_graph
# (where torch can take their gradient and where it cannot), state_dicts and the mistakes.
import distgrad as torch  # PyTorch: import torch
nn, F = torch.nn, torch.nn.functional
torch.manual_seed(5)


def tryp(f):
    try:
        print(f())
    except Exception as e:
        print(type(e).__name__, str(e)[:200])


embed = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
anchor, positive, negative = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 4)
triplet = nn.TripletMarginLoss(margin=0.5, p=1, swap=True)
cosine_triplet = nn.TripletMarginWithDistanceLoss(
    distance_function=lambda u, v: 1 - F.cosine_similarity(u, v), margin=0.3, swap=True)
l1_triplet = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1))
print(triplet, cosine_triplet, l1_triplet)
opt = torch.optim.SGD(embed.parameters(), lr=0.1)
for step in range(3):
    a, p, n = embed(anchor), embed(positive), embed(negative)
    loss = triplet(a, p, n) + cosine_triplet(a, p, n) + 0.5 * l1_triplet(a, p, n)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, round(loss.item(), 5), embed[2].bias.grad)
a, p, n = (t.detach().requires_grad_() for t in (embed(anchor), embed(positive), embed(negative)))
for reduction in ("none", "mean", "sum"):
    out = F.triplet_margin_loss(a, p, n, margin=0.8, eps=1e-3, reduction=reduction)
    print(reduction, out.detach(), out.grad_fn.name())
    out = F.triplet_margin_with_distance_loss(a, p, n, reduction=reduction)
    ga, = torch.autograd.grad(out.sum(), a, create_graph=True)
    print(ga[:2], torch.autograd.grad(ga.pow(2).sum(), n)[0][:2])

# pairs: cosine embedding and ranking
x1, x2 = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3, requires_grad=True)
same = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0])
for reduction in ("none", "mean", "sum"):
    out = F.cosine_embedding_loss(x1, x2, same, margin=0.1, reduction=reduction)
    g1, g2 = torch.autograd.grad(out.sum(), (x1, x2), create_graph=True)
    print(reduction, out.detach(), g1[0], torch.autograd.grad((g1 * g2).sum(), x1)[0][0])
print(F.cosine_embedding_loss(x1[0], x2[0], torch.tensor(-1.0), margin=-0.5))
s1, s2 = torch.randn(5, requires_grad=True), torch.randn(5, requires_grad=True)
rank = nn.MarginRankingLoss(margin=0.2)
out = rank(s1, s2, same)
out.backward()
print(rank, out, s1.grad, s2.grad, F.margin_ranking_loss(s1, s2, same, reduction="none"))

# a linear SVM: multi-class margins, their gradients, and torch's refusal of their second
svm = nn.Linear(4, 3)
feats, classes = torch.randn(8, 4), torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
hinge = nn.MultiMarginLoss(p=2, margin=0.7, weight=torch.tensor([1.0, 2.0, 0.5]))
print(hinge, hinge.state_dict())
sgd = torch.optim.SGD(svm.parameters(), lr=0.2, weight_decay=1e-2)
for step in range(3):
    loss = hinge(svm(feats), classes)
    sgd.zero_grad()
    loss.backward()
    sgd.step()
    print(step, round(loss.item(), 5), loss.grad_fn.name(), svm.bias.grad)
scores = svm(feats).detach().requires_grad_()
for reduction in ("none", "mean", "sum"):
    for power, margin in ((1, 1.0), (2, 0.5)):
        out = F.multi_margin_loss(scores, classes, p=power, margin=margin, reduction=reduction)
        g, = torch.autograd.grad(out.sum(), scores, create_graph=True)
        print(reduction, power, out.detach(), out.grad_fn.name(), g[:2], g.grad_fn.next_functions)
        tryp(lambda: torch.autograd.grad(g.sum(), scores))
print(F.multi_margin_loss(scores[0], classes[0]), F.multi_margin_loss(scores[0], classes[:1], reduction="none"))
signs = torch.where(torch.rand(8, 3) > 0.5, 1.0, -1.0)
for reduction in ("none", "mean", "sum"):
    out = F.soft_margin_loss(scores, signs, reduction=reduction)
    g, = torch.autograd.grad(out.sum(), scores, create_graph=True)
    print(reduction, out.detach().sum().item(), out.grad_fn.name(), g.grad_fn.name(), g[0])
    print(torch.autograd.grad(g.pow(2).sum(), scores)[0][0])
print(nn.SoftMarginLoss()(scores, signs[0]), F.soft_margin_loss(scores.double(), signs).dtype)

# multi-label ranking
ranker = nn.Linear(4, 5)
wanted = torch.tensor([[3, 0, -1, 1, 2], [1, -1, 3, 0, 0], [-1, 0, 0, 0, 0], [4, 4, -1, 0, 0]])
out = nn.MultiLabelMarginLoss()(ranker(feats[:4]), wanted)
out.backward()
print(out, out.grad_fn.name(), ranker.bias.grad)
ranked = ranker(feats[:4]).detach().requires_grad_()
for reduction in ("none", "mean", "sum"):
    out = F.multilabel_margin_loss(ranked, wanted, reduction=reduction)
    g, = torch.autograd.grad(out.sum(), ranked, create_graph=True)
    print(reduction, out.detach(), g[0], g.grad_fn)
print(F.multilabel_margin_loss(ranked[0], wanted[0]), F.multilabel_margin_loss(ranked[:1], wanted[:1], reduction="none"))
multi_hot = torch.zeros(4, 5).scatter_(1, wanted.clamp(min=0), 1.0)
soft_ml = nn.MultiLabelSoftMarginLoss(weight=torch.tensor([1.0, 2.0, 1.0, 0.5, 1.0]))
for reduction in ("none", "mean", "sum"):
    out = F.multilabel_soft_margin_loss(ranked, multi_hot, weight=soft_ml.weight, reduction=reduction)
    print(reduction, out.detach(), out.grad_fn.name())
print(soft_ml(ranked, multi_hot), list(soft_ml.state_dict()))
distances = torch.rand(6, requires_grad=True)
similar = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
for reduction in ("none", "mean", "sum"):
    out = F.hinge_embedding_loss(distances, similar, margin=0.6, reduction=reduction)
    print(reduction, out.detach(), torch.autograd.grad(out.sum(), distances)[0])

# the mistakes
tryp(lambda: F.multi_margin_loss(scores, torch.tensor([0, 1, 3, 1, 0, 2, 2, 1])))
tryp(lambda: F.multi_margin_loss(scores, classes[:3]))
tryp(lambda: F.multi_margin_loss(scores, classes, p=3))
tryp(lambda: F.multi_margin_loss(scores, classes, weight=torch.ones(4)))
tryp(lambda: F.multi_margin_loss(scores, classes, weight=torch.ones(3, requires_grad=True)))
tryp(lambda: F.multi_margin_loss(scores, classes.float()))
tryp(lambda: F.multilabel_margin_loss(ranked, wanted + 3))
tryp(lambda: F.multilabel_margin_loss(ranked, wanted.float()))
tryp(lambda: F.multilabel_margin_loss(ranked, wanted[:, :3]))
tryp(lambda: F.multilabel_margin_loss(ranked.half(), wanted))
tryp(lambda: F.soft_margin_loss(scores, torch.ones(2, 8, 3)))
tryp(lambda: F.soft_margin_loss(torch.tensor([1, 2]), torch.tensor([1, -1])))
tryp(lambda: F.soft_margin_loss(scores, signs.requires_grad_()))
tryp(lambda: F.cosine_embedding_loss(x1, x2, same.view(5, 1)))
tryp(lambda: F.cosine_embedding_loss(x1, x2[:2], same))
tryp(lambda: F.cosine_embedding_loss(x1[0], x2[0], same))
tryp(lambda: F.margin_ranking_loss(s1, s2.view(5, 1), same))
tryp(lambda: F.triplet_margin_loss(a, p[:2], n))
tryp(lambda: F.triplet_margin_loss(a, p, n.view(2, 3, 3)))
tryp(lambda: F.triplet_margin_loss(a, p, n, margin=-1.0))
tryp(lambda: F.triplet_margin_loss(a, 2, n))
tryp(lambda: nn.TripletMarginWithDistanceLoss(margin=0.0)(a, p, n))
print("done")
