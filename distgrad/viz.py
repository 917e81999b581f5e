"""The graph behind a tensor, as Graphviz DOT, coloured by the worker that owns each node.

    import distgrad.viz as viz
    print(viz.to_dot(loss, params={"w": w, "b": b}))   # DOT text
    viz.render(loss, "graph.svg", params={"w": w})     # SVG/PNG/PDF

Edges run the way data flows forward (an input's node to the node that consumed it);
backward walks them in reverse. An edge whose two ends live on different workers is drawn
red and labelled with the hop (`worker:0 → worker:1`): that is where a gradient travels
worker to worker during backward. Nodes are grouped in one box per worker.

`render` uses Graphviz's `dot` program when it is installed, else draws the same graph with
matplotlib, else writes the DOT text next to the requested file; it returns the path written.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field

__all__ = ["Graph", "build", "to_dot", "render", "has_dot", "device_color"]

# One colour per worker (ColorBrewer Set3, readable under black text); the driver is white.
_PALETTE = ("#8dd3c7", "#fdb462", "#bebada", "#fb8072", "#80b1d3", "#b3de69", "#fccde5",
            "#ffffb3", "#bc80bd", "#ccebc5")
_CPU_COLOR = "#f2f2f2"
_CROSS_COLOR = "#d62728"


def device_color(device: str) -> str:
    """The fill colour of nodes on `device` ("cpu" or "worker:K")."""
    if device.startswith("worker:"):
        try:
            return _PALETTE[int(device.split(":", 1)[1]) % len(_PALETTE)]
        except ValueError:
            pass
    return _CPU_COLOR


@dataclass
class GNode:
    id: str
    kind: str  # "op" (a grad_fn), "leaf" (AccumulateGrad) or "output" (a root tensor)
    label: str
    device: str


@dataclass
class Graph:
    """Nodes and forward edges `(src_id, dst_id)` of the graph behind some tensors."""

    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    def node(self, nid: str) -> GNode:
        return next(n for n in self.nodes if n.id == nid)

    def cross_edges(self) -> list:
        dev = {n.id: n.device for n in self.nodes}
        return [(s, d) for s, d in self.edges if dev[s] != dev[d]]

    def devices(self) -> list:
        return sorted({n.device for n in self.nodes}, key=_device_key)


def _device_key(d: str):
    if d.startswith("worker:"):
        try:
            return (1, int(d.split(":", 1)[1]), d)
        except ValueError:
            pass
    return (0 if d == "cpu" else 2, 0, d)


def _device_of(fn) -> str:
    var = getattr(fn, "variable", None)
    if var is not None:
        return str(getattr(var, "device_str", var.device))
    return str(getattr(fn, "device", "cpu"))


def _shape(t) -> str:
    return str(tuple(int(s) for s in t.shape))


def build(roots, params=None) -> Graph:
    """Walk `grad_fn.next_functions` from `roots` (a tensor or a list of tensors, or a
    {name: tensor} dict) and return the graph. `params` ({name: tensor}) names leaves."""
    if isinstance(roots, dict):
        named_roots = list(roots.items())
    elif isinstance(roots, (list, tuple)):
        named_roots = [("", t) for t in roots]
    else:
        named_roots = [("", roots)]
    names: dict[int, str] = {}
    for n, t in (params.items() if isinstance(params, dict) else (params or [])):
        names[id(t)] = n
        sharding = getattr(t, "_sharding", None)  # a sharded parameter: name its shards
        for k, part in enumerate(getattr(sharding, "shards", None) or ()):
            names[id(part)] = f"{n}[{k}]"

    g = Graph()
    ids: dict[int, str] = {}

    def visit(fn) -> str:
        key = id(fn)
        if key in ids:
            return ids[key]
        nid = f"n{len(ids)}"
        ids[key] = nid
        var = getattr(fn, "variable", None)
        dev = _device_of(fn)
        if var is not None:
            name = names.get(id(var), "")
            label = "\n".join(x for x in (name, _shape(var), dev) if x)
            g.nodes.append(GNode(nid, "leaf", label, dev))
        else:
            g.nodes.append(GNode(nid, "op", f"{fn.name()}\n{dev}", dev))
        stack.append(fn)
        return nid

    stack: list = []
    for k, (name, t) in enumerate(named_roots):
        placement = str(t.device_str)
        fn = t.grad_fn
        if fn is None and getattr(t, "requires_grad", False):
            fn = t._gradient_edge()[0] if hasattr(t, "_gradient_edge") else None
        # A sharded or replicated root is drawn where the node that made it runs.
        dev = placement
        if fn is not None and not (dev == "cpu" or dev.startswith("worker:")):
            dev = _device_of(fn)
        oid = f"out{k}"
        label = "\n".join(x for x in (name, _shape(t), placement) if x)
        g.nodes.append(GNode(oid, "output", label, dev))
        if fn is not None:
            g.edges.append((visit(fn), oid))
    while stack:
        fn = stack.pop()
        dst = ids[id(fn)]
        for child, _ in getattr(fn, "next_functions", ()):
            if child is not None:
                g.edges.append((visit(child), dst))
    return g


# ---- DOT ----------------------------------------------------------------------------------------

def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(roots, params=None, title: str | None = None) -> str:
    """The graph behind `roots` as Graphviz DOT text (see `build` for the arguments)."""
    g = roots if isinstance(roots, Graph) else build(roots, params)
    lines = ["digraph distgrad {",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.4];',
             '  node [fontname="Helvetica", fontsize=10, style=filled, penwidth=1];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    legend = "red edges cross workers (a gradient travels worker to worker there)"
    lines.append(f"  label={_q((title + chr(10) if title else '') + legend)};")
    shape = {"op": "box", "leaf": "ellipse", "output": "box"}
    extra = {"op": "", "leaf": "", "output": ', peripheries=2, style="filled,bold"'}
    for k, dev in enumerate(g.devices()):
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={_q(dev)}; style="rounded,dashed"; color="#999999";')
        for n in g.nodes:
            if n.device == dev:
                lines.append(f"    {n.id} [label={_q(n.label)}, shape={shape[n.kind]}, "
                             f'fillcolor="{device_color(dev)}"{extra[n.kind]}];')
        lines.append("  }")
    dev = {n.id: n.device for n in g.nodes}
    for s, d in g.edges:
        if dev[s] != dev[d]:
            hop = f"{dev[s]} → {dev[d]}"
            lines.append(f'  {s} -> {d} [color="{_CROSS_COLOR}", fontcolor="{_CROSS_COLOR}", '
                         f"penwidth=2.5, style=bold, label={_q(hop)}];")
        else:
            lines.append(f"  {s} -> {d};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- rendering ----------------------------------------------------------------------------------

def has_dot() -> bool:
    """Whether Graphviz's `dot` program is on PATH."""
    return shutil.which("dot") is not None


def render(roots, path: str, params=None, title: str | None = None, engine: str = "auto") -> str:
    """Write the graph behind `roots` to `path`; the suffix picks the format (.dot/.gv, .svg,
    .png, .pdf). engine: "auto" (Graphviz if installed, else matplotlib), "dot",
    "matplotlib". Returns the path written, which is `path` with `.dot` appended when
    neither renderer is available."""
    g = roots if isinstance(roots, Graph) else build(roots, params)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt in ("dot", "gv"):
        _write(path, to_dot(g, title=title))
        return path
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: can't tell the format of {path!r}; use a .svg, .png, .pdf or "
                         ".dot file name")
    if engine not in ("auto", "dot", "matplotlib"):
        raise ValueError(f"render: engine must be 'auto', 'dot' or 'matplotlib', got {engine!r}")
    if engine in ("auto", "dot") and has_dot():
        proc = subprocess.run(["dot", f"-T{fmt}", "-o", path], input=to_dot(g, title=title),
                              text=True, capture_output=True, timeout=120)
        if proc.returncode == 0:
            return path
        if engine == "dot":
            raise RuntimeError(f"render: graphviz 'dot' failed: {proc.stderr.strip()}")
    elif engine == "dot":
        raise RuntimeError("render: graphviz's 'dot' program is not installed "
                           "(apt-get install graphviz, or brew install graphviz)")
    try:
        _draw_matplotlib(g, path, title)
        return path
    except ImportError:
        pass
    fallback = path + ".dot"
    _write(fallback, to_dot(g, title=title))
    warnings.warn(f"neither graphviz's 'dot' nor matplotlib is installed: wrote the DOT text to "
                  f"{fallback} instead of {path}", RuntimeWarning, stacklevel=2)
    return fallback


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def layout(g: Graph) -> dict:
    """Layered positions {node id: (x, y)}: outputs at the bottom (y=0), every node one
    row above the lowest row it feeds; rows ordered by the mean x of what they feed."""
    consumers: dict[str, list] = {n.id: [] for n in g.nodes}
    for s, d in g.edges:
        consumers[s].append(d)
    # Longest path to an output, in an order where every consumer comes first (Kahn).
    pending = {n.id: len(consumers[n.id]) for n in g.nodes}
    producers: dict[str, list] = {n.id: [] for n in g.nodes}
    for s, d in g.edges:
        producers[d].append(s)
    depth = {nid: 0 for nid in pending}
    ready = [nid for nid, k in pending.items() if k == 0]
    while ready:
        nid = ready.pop()
        for p in producers[nid]:
            depth[p] = max(depth[p], depth[nid] + 1)
            pending[p] -= 1
            if pending[p] == 0:
                ready.append(p)
    rows: dict[int, list] = {}
    for n in g.nodes:
        rows.setdefault(depth[n.id], []).append(n.id)
    pos: dict[str, tuple] = {}
    for y in sorted(rows):
        row = rows[y]
        if y > 0:
            def bary(nid):
                xs = [pos[c][0] for c in consumers[nid] if c in pos]
                return sum(xs) / len(xs) if xs else 0.0
            row.sort(key=bary)
        width = len(row)
        for i, nid in enumerate(row):
            pos[nid] = (i - (width - 1) / 2.0, float(y))
    return pos


def _draw_matplotlib(g: Graph, path: str, title: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = layout(g)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    w = max(4.0, 2.6 * (max(xs) - min(xs) + 1))
    h = max(3.0, 1.3 * (max(ys) + 1) + 0.8)
    fig, ax = plt.subplots(figsize=(w, h))
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(-0.6, max(ys) + 0.6)
    ax.axis("off")
    dev = {n.id: n.device for n in g.nodes}
    for s, d in g.edges:
        cross = dev[s] != dev[d]
        (x0, y0), (x1, y1) = pos[s], pos[d]
        ax.annotate("", xy=(x1, y1 + 0.2), xytext=(x0, y0 - 0.2),
                    arrowprops=dict(arrowstyle="-|>", lw=2.5 if cross else 1.0,
                                    color=_CROSS_COLOR if cross else "#555555"))
        if cross:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, f"{dev[s]} → {dev[d]}", color=_CROSS_COLOR,
                    fontsize=8, ha="left", va="center")
    box = {"op": "square,pad=0.4", "leaf": "round,pad=0.4", "output": "square,pad=0.5"}
    for n in g.nodes:
        x, y = pos[n.id]
        ax.text(x, y, n.label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle=box[n.kind], fc=device_color(n.device), ec="#333333",
                          lw=2.0 if n.kind == "output" else 1.0))
    handles = [matplotlib.patches.Patch(fc=device_color(d), ec="#333333", label=d)
               for d in g.devices()]
    handles.append(matplotlib.lines.Line2D([], [], color=_CROSS_COLOR, lw=2.5,
                                           label="crosses workers"))
    ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
