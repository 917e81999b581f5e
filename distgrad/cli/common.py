"""What the commands share: the runtime from the common options, and the error a user can act on."""
from __future__ import annotations

MLP_LAYERS = 4  # the Linear layers of `train`'s MLP


class CLIError(Exception):
    """A failure the user can act on: printed as `distgrad <cmd>: error: <message>`."""


def start_workers(args):
    """init() from the common options; a failure to reach the cluster becomes a CLIError."""
    import distgrad.distributed as dist

    kwargs = {}
    if getattr(args, "call_timeout", None) is not None:
        kwargs["call_timeout_s"] = args.call_timeout
    try:
        return dist.init(num_workers=args.workers, address=args.address, backend=args.backend,
                         timeout_s=args.timeout,
                         test_hooks=bool(getattr(args, "test_pause_at", None)), **kwargs)
    except (TimeoutError, ConnectionError) as e:
        hint = ""
        if args.address is not None:
            hint = (" (is the cluster up, and does this shell use the cluster's RAY_AUTH_MODE "
                    "and token?)")
        raise CLIError(f"{e}{hint}") from None


def describe_workers(out=print) -> dict:
    """Print one line per worker (pid, node) and return stats()."""
    import distgrad.distributed as dist

    stats = dist.stats()
    nodes = sorted({s["node"] for s in stats.values()})
    out(f"workers: {len(stats)} on {len(nodes)} node{'s' if len(nodes) != 1 else ''}")
    for dev, s in stats.items():
        out(f"  {dev}  pid {s['pid']}  node {s['node']}")
    return stats
