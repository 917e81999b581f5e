"""distgrad.viz: the graph behind a tensor, per-worker colours, cross-worker edges, rendering.

Runs on the local backend (no Ray). Graphviz is not required: the `dot` path is tested
only where the program exists; the matplotlib and DOT fallbacks are tested everywhere.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import distgrad as torch
import distgrad.distributed as dist
from distgrad import viz

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def workers():
    dist.init(num_workers=2, backend="local")
    yield
    dist.shutdown()


def tutorial_graph():
    torch.manual_seed(0)
    x = torch.ones(5, device="worker:0")
    y = torch.zeros(3, device="worker:1")
    w = torch.randn(5, 3, requires_grad=True, device="worker:1")
    b = torch.randn(3, requires_grad=True, device="worker:1")
    z = torch.matmul(x.to("worker:1"), w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    return loss, w, b


def two_worker_graph():
    """h = relu(x @ w) on worker:0, moved to worker:1, plus b, summed: one hop."""
    torch.manual_seed(0)
    x = torch.ones(2, 5, device="worker:0")
    w = torch.randn(5, 3, requires_grad=True, device="worker:0")
    b = torch.randn(3, requires_grad=True, device="worker:1")
    h = torch.matmul(x, w).relu().to("worker:1")
    return (h + b).sum(), w, b


def test_tutorial_graph_nodes_devices_and_names(workers):
    loss, w, b = tutorial_graph()
    g = viz.build({"loss": loss}, params={"w": w, "b": b})
    ops = {n.label.split("\n")[0] for n in g.nodes if n.kind == "op"}
    assert {"BinaryCrossEntropyWithLogitsBackward0", "AddBackward0", "MmBackward0"} <= ops
    leaves = {n.label for n in g.nodes if n.kind == "leaf"}
    assert leaves == {"w\n(5, 3)\nworker:1", "b\n(3,)\nworker:1"}
    (out,) = [n for n in g.nodes if n.kind == "output"]
    assert out.label == "loss\n()\nworker:1"
    assert g.devices() == ["worker:1"]  # x needs no grad: its copy records no node
    assert g.cross_edges() == []
    # every node is reached once; every edge joins two known nodes
    ids = [n.id for n in g.nodes]
    assert len(ids) == len(set(ids))
    assert all(s in ids and d in ids for s, d in g.edges)


def test_cross_worker_edge_is_marked(workers):
    loss, w, b = two_worker_graph()
    g = viz.build(loss, params={"w": w, "b": b})
    assert g.devices() == ["worker:0", "worker:1"]
    cross = g.cross_edges()
    assert len(cross) == 1
    src, dst = (g.node(i) for i in cross[0])
    assert src.label.startswith("ReluBackward0") and src.device == "worker:0"
    assert dst.label.startswith("ToCopyBackward0") and dst.device == "worker:1"

    dot = viz.to_dot(loss, params={"w": w, "b": b}, title="two workers")
    marked = [line for line in dot.splitlines() if "->" in line and "worker:0 → worker:1" in line]
    assert len(marked) == 1 and 'color="#d62728"' in marked[0] and "penwidth=2.5" in marked[0]
    plain = [line for line in dot.splitlines() if "->" in line and "color=" not in line]
    assert len(plain) == len(g.edges) - 1


def test_nodes_are_coloured_and_grouped_by_worker(workers):
    loss, w, b = two_worker_graph()
    dot = viz.to_dot(loss, params={"w": w, "b": b})
    c0, c1 = viz.device_color("worker:0"), viz.device_color("worker:1")
    assert c0 != c1 and viz.device_color("cpu") not in (c0, c1)
    blocks = re.findall(r"subgraph (cluster_\d+) \{\n    label=\"([^\"]+)\";(.*?)\n  \}", dot,
                        re.DOTALL)
    assert [label for _, label, _ in blocks] == ["worker:0", "worker:1"]
    for _, label, body in blocks:
        colours = set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', body))
        assert colours == {viz.device_color(label)}
    assert '"w\\n(5, 3)\\nworker:0"' in dot and '"b\\n(3,)\\nworker:1"' in dot


def test_driver_graph_and_shared_inputs():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (a * a).sum()
    g = viz.build(y, params={"a": a})
    assert g.devices() == ["cpu"]
    (mul,) = [n for n in g.nodes if n.label.startswith("MulBackward0")]
    (leaf,) = [n for n in g.nodes if n.kind == "leaf"]
    assert g.edges.count((leaf.id, mul.id)) == 2  # a enters the product twice
    # a leaf on its own is a graph too
    g = viz.build(a)
    assert [n.kind for n in g.nodes] == ["output", "leaf"]


def test_layout_puts_outputs_at_the_bottom(workers):
    loss, w, b = two_worker_graph()
    g = viz.build(loss, params={"w": w, "b": b})
    pos = viz.layout(g)
    assert set(pos) == {n.id for n in g.nodes}
    for s, d in g.edges:
        assert pos[s][1] > pos[d][1]  # an input sits above what consumes it
    (out,) = [n.id for n in g.nodes if n.kind == "output"]
    assert pos[out][1] == 0.0


def _is_svg(path) -> bool:
    root = ET.parse(path).getroot()
    return root.tag.endswith("svg")


def test_render_dot_text(workers, tmp_path):
    loss, w, b = tutorial_graph()
    path = viz.render(loss, str(tmp_path / "g.dot"), params={"w": w})
    assert path.endswith("g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph distgrad {")


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_without_graphviz_uses_matplotlib(workers, tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    assert not viz.has_dot()
    loss, w, b = two_worker_graph()
    out = tmp_path / f"g.{fmt}"
    assert viz.render(loss, str(out), params={"w": w, "b": b}, title="t") == str(out)
    if fmt == "svg":
        assert _is_svg(out)
        assert "ToCopyBackward0" in out.read_text()
    else:
        assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(RuntimeError, match="graphviz's 'dot' program is not installed"):
        viz.render(loss, str(out), engine="dot")


def test_render_with_neither_writes_dot_and_warns(workers, tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)

    def no_matplotlib(*a, **k):
        raise ImportError("no matplotlib")

    monkeypatch.setattr(viz, "_draw_matplotlib", no_matplotlib)
    loss, w, b = tutorial_graph()
    with pytest.warns(RuntimeWarning, match="wrote the DOT text"):
        path = viz.render(loss, str(tmp_path / "g.svg"))
    assert path == str(tmp_path / "g.svg.dot")
    assert (tmp_path / "g.svg.dot").read_text().startswith("digraph")


def test_render_rejects_unknown_formats(workers, tmp_path):
    loss, _, _ = tutorial_graph()
    with pytest.raises(ValueError, match="can't tell the format"):
        viz.render(loss, str(tmp_path / "g.jpeg"))
    with pytest.raises(ValueError, match="engine must be"):
        viz.render(loss, str(tmp_path / "g.svg"), engine="neato")


@pytest.mark.skipif(not viz.has_dot(), reason="Graphviz's `dot` is not installed here (optional)")
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_with_graphviz(workers, tmp_path, fmt):
    loss, w, b = two_worker_graph()
    out = tmp_path / f"g.{fmt}"
    viz.render(loss, str(out), params={"w": w, "b": b}, engine="dot")
    if fmt == "svg":
        assert _is_svg(out)
        text = out.read_text()
        assert "worker:0 → worker:1" in text and "ReluBackward0" in text
    else:
        assert out.read_bytes()[:8] == PNG_MAGIC
