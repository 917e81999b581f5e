#!/usr/bin/env python
"""Draw a trace written by `profile.export_chrome_trace` as a PNG timeline.

    python scripts/plot_trace.py trace.json timeline.png [--title "one training step"]

One band per track (the driver, then each worker), nested events stacked below the event
that holds them, idle time hatched, and an arrow from each send to its receive. Needs
matplotlib (Perfetto or chrome://tracing read the same JSON interactively).
"""
from __future__ import annotations

import argparse
import json

COLORS = {"user_annotation": "#8e6fbf", "cpu_op": "#4c8fd6", "run": "#9aa5b1", "op": "#3aa676",
          "send": "#e3883a", "recv": "#d6544c", "idle": "#eeeeee"}
LABELS = {"user_annotation": "record_function", "cpu_op": "driver op / graph node",
          "run": "worker run", "op": "worker op", "send": "send", "recv": "receive (incl. wait)",
          "idle": "idle"}


def _depths(events):
    """Each event's nesting depth within its track (events sorted by start)."""
    stacks, depth = {}, {}
    for k, e in sorted(enumerate(events), key=lambda ke: (ke[1]["ts"], -ke[1]["dur"])):
        stack = stacks.setdefault((e["pid"], e["tid"]), [])
        end = e["ts"] + e["dur"]
        while stack and stack[-1] < end - 1e-9:
            stack.pop()
        depth[k] = len(stack)
        stack.append(end)
    return depth


def plot(trace: dict, out: str, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    events = trace["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    spans = [e for e in events if e["ph"] == "X" and e.get("cat") != "idle"]
    idle = [e for e in events if e["ph"] == "X" and e.get("cat") == "idle"]
    depth = _depths(spans)
    levels = {pid: 1 + max([depth[k] for k, e in enumerate(spans) if e["pid"] == pid] or [0])
              for pid in names}
    base, y = {}, 0.0
    for pid in sorted(names):  # the driver on top, then worker:0, worker:1, ...
        base[pid] = y
        y += levels[pid] + 0.6
    scale = 1e3  # microseconds -> milliseconds
    fig, ax = plt.subplots(figsize=(13, 1.0 + 0.42 * y))
    for e in idle:
        ax.broken_barh([(e["ts"] / scale, e["dur"] / scale)], (base[e["pid"]], levels[e["pid"]]),
                       facecolors=COLORS["idle"], edgecolor="#cccccc", hatch="//", lw=0)
    for k, e in enumerate(spans):
        row = base[e["pid"]] + depth[k]
        ax.broken_barh([(e["ts"] / scale, max(e["dur"] / scale, 0.01))], (row + 0.05, 0.9),
                       facecolors=COLORS.get(e.get("cat"), "#777777"), edgecolor="white", lw=0.3)
        e["_row"] = row
    span_ms = max((e["ts"] + e["dur"]) for e in spans + idle) / scale
    for e in spans:
        if "_row" in e and e["dur"] / scale > span_ms / 9 * len(e["name"]) / 12:
            ax.text((e["ts"] + e["dur"] / 2) / scale, e["_row"] + 0.5, e["name"], ha="center",
                    va="center", fontsize=7, color="white", clip_on=True)
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    for f in (e for e in events if e["ph"] == "f"):
        s = starts.get(f["id"])
        if s is not None:
            ax.annotate("", xy=(f["ts"] / scale, base[f["pid"]] + 0.5),
                        xytext=(s["ts"] / scale, base[s["pid"]] + 0.5),
                        arrowprops=dict(arrowstyle="->", color="#333333", lw=0.8))
    ax.set_yticks([base[p] + levels[p] / 2 for p in sorted(names)])
    ax.set_yticklabels([names[p] for p in sorted(names)])
    ax.set_ylim(y - 0.4, -0.2)
    ax.set_xlim(0, span_ms * 1.01)
    ax.set_xlabel("ms since the profile started")
    cats = [c for c in COLORS if any(e.get("cat") == c for e in spans + idle)]
    ax.legend(handles=[Patch(facecolor=COLORS[c], label=LABELS[c],
                             hatch="//" if c == "idle" else None) for c in cats],
              loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.3 / max(y, 1)), ncol=len(cats),
              fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace")
    ap.add_argument("png")
    ap.add_argument("--title")
    args = ap.parse_args(argv)
    with open(args.trace) as f:
        plot(json.load(f), args.png, args.title)


if __name__ == "__main__":
    main()
