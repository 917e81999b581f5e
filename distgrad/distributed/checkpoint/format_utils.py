"""torch's `torch.distributed.checkpoint.format_utils`: a checkpoint directory made one
`distgrad.save` file and back, and a `distgrad.save` file read by `load` directly.

    dcp_to_torch_save("ckpt/", "model.pt")      # every tensor whole, on the driver
    torch_save_to_dcp("model.pt", "ckpt/")
    dcp.load(state, checkpoint_id="model.pt", storage_reader=BroadcastingTorchSaveReader(),
             planner=DynamicMetaLoadPlanner())

As torch's, a converted checkpoint nests its values as they were saved, with dict keys as
strings (an optimizer's state keyed "0", "1") and its tensors plain (no grad).

    python -m distgrad.distributed.checkpoint.format_utils dcp_to_torch ckpt/ model.pt
"""
from __future__ import annotations

import argparse
import functools
import os

from ... import dtypes, serialization
from ...autograd.grad_mode import no_grad
from ...creation import empty
from ...tensor import Tensor
from . import _decode_value, _fill, read_manifest, save
from .plan import flatten

__all__ = ["dcp_to_torch_save", "torch_save_to_dcp", "BroadcastingTorchSaveReader",
           "DynamicMetaLoadPlanner"]


def dcp_to_torch_save(dcp_checkpoint_dir, torch_save_path) -> None:
    serialization.save(_whole(os.fspath(dcp_checkpoint_dir)), torch_save_path)


def torch_save_to_dcp(torch_save_path, dcp_checkpoint_dir) -> None:
    save(serialization.load(torch_save_path, weights_only=False),
         checkpoint_id=dcp_checkpoint_dir)


class BroadcastingTorchSaveReader:
    """A storage_reader for `load` that reads a `distgrad.save` file (checkpoint_id) whole
    on the driver and copies it into the state dict's tensors, wherever they are."""

    def __init__(self, checkpoint_id=None, coordinator_rank: int = 0) -> None:
        self.path = os.fspath(checkpoint_id) if checkpoint_id is not None else None

    def reset(self, checkpoint_id=None) -> None:
        if checkpoint_id is not None:
            self.path = os.fspath(checkpoint_id)


class DynamicMetaLoadPlanner:
    """torch's planner for a load from a save file (its metadata made from the state dict
    to fill); nothing for distgrad's load to plan."""

    def __init__(self, *args, **kwargs) -> None:
        pass


def fill_from_save_file(state_dict, path: str) -> None:
    """`load` through a BroadcastingTorchSaveReader: the state dict's tensors filled in
    place from the file's, its other values replaced."""
    saved = serialization.load(path, map_location="cpu", weights_only=False)
    with no_grad():
        for keys, value, container, key in flatten(state_dict):
            try:
                got = functools.reduce(lambda node, k: node[k], keys, saved)
            except (KeyError, IndexError, TypeError):
                raise RuntimeError(f"Missing key in checkpoint state_dict: "
                                   f"{'.'.join(map(str, keys))}.") from None
            if isinstance(value, Tensor):
                value.copy_(got)
            elif not isinstance(container, tuple):
                container[key] = got


def _whole(directory: str) -> dict:
    """Every entry of a checkpoint, its tensors whole on the driver, nested as saved."""
    top = _Container("dict")
    for entry in read_manifest(directory)["entries"]:
        if "value" in entry:
            value = _decode_value(entry["value"])
        else:
            value = empty(entry["shape"], dtype=dtypes.from_name(entry["dtype"]))
            with no_grad():
                _fill(value, entry, directory)
        path = entry["path"]
        kinds = entry.get("containers") or ["dict"] + [  # (older manifests: torch's rule)
            "dict" if isinstance(k, str) else "list" for k in path[1:]]
        node = top
        for key, kind in zip(path[:-1], kinds[1:]):
            node = node.items.setdefault(key, _Container(kind))
        node.items[path[-1]] = value
    return top.built()


class _Container:
    def __init__(self, kind: str) -> None:
        self.kind, self.items = kind, {}

    def built(self):
        items = {k: v.built() if isinstance(v, _Container) else v for k, v in self.items.items()}
        if self.kind == "dict":
            return {str(k): v for k, v in items.items()}
        ordered = [items[k] for k in sorted(items)]
        return tuple(ordered) if self.kind == "tuple" else ordered


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", type=str, help="Conversion mode",
                        choices=["torch_to_dcp", "dcp_to_torch"], default="torch_to_dcp")
    parser.add_argument("src", type=str, help="Path to the source model")
    parser.add_argument("dst", type=str, help="Path to the destination model")
    args = parser.parse_args(argv)
    print(f"Converting checkpoint from {args.src} to {args.dst} using method: '{args.mode}'")
    missing = f"No checkpoint found at {args.src}. Skipping conversion."
    if args.mode == "torch_to_dcp":
        torch_save_to_dcp(args.src, args.dst) if os.path.isfile(args.src) else print(missing)
    else:
        dcp_to_torch_save(args.src, args.dst) if os.path.isdir(args.src) else print(missing)


if __name__ == "__main__":
    _main()
