"""Nested arguments as torch.func sees them: tuples (namedtuples too), lists and dicts are
containers, anything else (None too) is a leaf.

    >>> leaves, spec = tree_flatten(({"w": w, "b": b}, x))
    >>> tree_unflatten([2 * t for t in leaves], spec)   # the same structure, new leaves
"""
from __future__ import annotations

from typing import Any, Callable

LEAF = "*"  # a spec that is one leaf


class TreeSpec:
    """The shape of a nested value: its container type, its keys (a dict's) and its
    children's specs."""

    __slots__ = ("kind", "keys", "children")

    def __init__(self, kind: type, keys, children: list):
        self.kind, self.keys, self.children = kind, keys, children

    @property
    def num_leaves(self) -> int:
        return sum(1 if c is LEAF else c.num_leaves for c in self.children)

    def __eq__(self, other) -> bool:
        return (isinstance(other, TreeSpec) and self.kind is other.kind and self.keys == other.keys
                and self.children == other.children)

    def __repr__(self, indent: int = 0) -> str:
        # torch.utils._pytree's TreeSpec repr, which torch.func's messages print
        named = hasattr(self.kind, "_fields")  # a namedtuple: torch's context is its class
        context = self.keys if issubclass(self.kind, dict) else self.kind if named else None
        indent += 2
        inner = [LEAF if c is LEAF else c.__repr__(indent) for c in self.children]
        return (f"TreeSpec({'namedtuple' if named else self.kind.__name__}, {context}, ["
                + (",\n" + " " * indent).join(inner) + "])")


def treespec_pprint(spec) -> str:
    """torch's brief form of a spec, as torch.func.vjp prints it: (*, *), [*], {'a': *}."""
    if spec is LEAF:
        return LEAF
    inner = [treespec_pprint(c) for c in spec.children]
    if issubclass(spec.kind, dict):
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(spec.keys, inner)) + "}"
    if issubclass(spec.kind, list):
        return "[" + ", ".join(inner) + "]"
    return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"


def _children(x):
    """(kind, keys, children) of a container, or None for a leaf."""
    if isinstance(x, dict):
        return type(x), list(x), list(x.values())
    if isinstance(x, (tuple, list)):
        return type(x), None, list(x)
    return None


def tree_flatten(tree) -> tuple[list, Any]:
    """(leaves left to right, spec); the spec of a single leaf is `LEAF`."""
    parts = _children(tree)
    if parts is None:
        return [tree], LEAF
    kind, keys, children = parts
    leaves, specs = [], []
    for child in children:
        sub, spec = tree_flatten(child)
        leaves += sub
        specs.append(spec)
    return leaves, TreeSpec(kind, keys, specs)


def tree_unflatten(leaves, spec):
    it = iter(leaves)

    def build(s):
        if s is LEAF:
            return next(it)
        children = [build(c) for c in s.children]
        if issubclass(s.kind, dict):
            return s.kind(zip(s.keys, children))
        if hasattr(s.kind, "_fields"):  # a namedtuple takes its fields positionally
            return s.kind(*children)
        return s.kind(children)

    return build(spec)


def tree_map(fn: Callable, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_to_and_flatten(prefix, spec) -> list | None:
    """`prefix` (an in_dims or out_dims) laid over `spec`: one entry per leaf of spec, a
    leaf of prefix standing for everything under it; None when the structures differ."""
    parts = _children(prefix)
    if parts is None:  # an int or None covers every leaf under it
        return [prefix] * (1 if spec is LEAF else spec.num_leaves)
    if spec is LEAF:
        return None
    kind, keys, children = parts
    same_kind = (issubclass(kind, dict) and issubclass(spec.kind, dict)) or (
        kind is spec.kind or (issubclass(kind, tuple) and issubclass(spec.kind, tuple)))
    if not same_kind or len(children) != len(spec.children):
        return None
    if keys is not None:
        if set(keys) != set(spec.keys):
            return None
        children = [prefix[k] for k in spec.keys]
    out = []
    for child, sub in zip(children, spec.children):
        flat = broadcast_to_and_flatten(child, sub)
        if flat is None:
            return None
        out += flat
    return out
