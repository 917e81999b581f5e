# Object-detection box bookkeeping as written by hand: anchors from a meshgrid, boxes
# converted between (cx, cy, w, h) and corners, an IoU matrix, greedy non-maximum
# suppression with sort, boolean masks and indexing, matching anchors to ground truth with
# max/where chains, encoded regression targets, and a GIoU + smooth-L1 loss whose gradients
# flow back through the clamps; the suppression again on a worker and over a sharded batch.
import distgrad as torch  # PyTorch: import torch
F = torch.nn.functional
torch.manual_seed(7)


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def area(b):
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def iou_matrix(a, b):
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / union, union


def nms(boxes, scores, threshold):
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i.item())
        if order.numel() == 1:
            break
        ious, _ = iou_matrix(boxes[i].unsqueeze(0), boxes[order[1:]])
        order = order[1:][ious[0] <= threshold]
    return torch.tensor(keep, dtype=torch.long)


ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
centers = torch.stack([xs, ys], dim=-1).reshape(-1, 2) * 8 + 4
sizes = torch.tensor([[8.0, 8.0], [16.0, 8.0]])
anchors = torch.cat([centers.repeat_interleave(2, 0), sizes.repeat(16, 1)], dim=1)
anchor_boxes = cxcywh_to_xyxy(anchors).clamp(0, 32)
print(anchors.shape, anchor_boxes[:3], anchor_boxes.dtype)

gt = torch.tensor([[2.0, 3.0, 14.0, 12.0], [16.0, 16.0, 30.0, 29.0], [5.0, 18.0, 12.0, 31.0]])
ious, _ = iou_matrix(anchor_boxes, gt)
best_iou, best_gt = ious.max(dim=1)
labels = torch.where(best_iou >= 0.4, best_gt + 1, torch.where(best_iou < 0.2, 0, -1))
labels[ious.argmax(dim=0)] = torch.arange(1, 4)
print("labels", labels.tolist(), (labels > 0).sum().item(), (labels == -1).nonzero().flatten().tolist())

pos = labels > 0
matched = gt[(labels[pos] - 1)]
a = anchors[pos]
g_wh = matched[:, 2:] - matched[:, :2]
g_c = matched[:, :2] + g_wh / 2
targets = torch.cat([(g_c - a[:, :2]) / a[:, 2:], torch.log(g_wh / a[:, 2:])], dim=1)
print("targets", targets.shape, targets.round(decimals=3)[:4])

deltas = (torch.randn(anchors.size(0), 4) * 0.1).requires_grad_()
pred_c = anchors[:, :2] + deltas[:, :2] * anchors[:, 2:]
pred_wh = anchors[:, 2:] * deltas[:, 2:].clamp(max=4.0).exp()
pred = cxcywh_to_xyxy(torch.cat([pred_c, pred_wh], dim=1))
pious, union = iou_matrix(pred[pos], matched)
diag_iou = pious.diagonal()
hull = torch.cat([torch.min(pred[pos][:, :2], matched[:, :2]), torch.max(pred[pos][:, 2:], matched[:, 2:])], 1)
giou = diag_iou - (area(hull) - union.diagonal()) / area(hull)
loss = (1 - giou).mean() + F.smooth_l1_loss(deltas[pos], targets, beta=1 / 9)
loss.backward()
print("loss", round(loss.item(), 5), deltas.grad[pos][:3], deltas.grad[~pos].abs().sum().item())

scores = torch.rand(anchors.size(0))
with torch.no_grad():
    kept = nms(pred, scores, 0.3)
print("kept", kept.tolist(), scores[kept].gt(0.5).sum().item(), pred[kept].shape)
on_worker = nms(pred.detach().to(W[1]), scores.to(W[1]), 0.3)
sharded_iou, _ = iou_matrix(shard(pred.detach(), 0), pred.detach()[kept])
print("on a worker", on_worker.equal(kept), full(sharded_iou).max(1).values[:6])
top = scores.topk(5)
print(top.values.round(decimals=4), top.indices, pred[top.indices].int())
print(pred.detach()[labels == -1].numel(), pred.detach()[kept].clamp(0, 32).floor().to(torch.int16))
print("done")
