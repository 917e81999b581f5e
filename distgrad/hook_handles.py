"""What every `register_*hook` returns, as torch.utils.hooks.RemovableHandle: `.remove()`
takes the hook out again (also on leaving a `with` block).

The public class keeps torch's contract for code that makes its own hookable objects: the
caller puts the hook at `handle.id` in its dict, and the handle holds that dict (and the
extra dicts whose entries go with it) weakly. distgrad's own registrations hand out this
very class, as torch's do: made by `putting` for hooks kept in dicts by id, by `listing`
for those a tensor or a node keeps in a list.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict


class RemovableHandle:
    __module__ = "distgrad.utils.hooks"  # (torch.utils.hooks's, where it is public)
    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.take_id()
        extras = [extra_dict] if isinstance(extra_dict, dict) else \
            extra_dict if isinstance(extra_dict, list) else []
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    @classmethod
    def putting(cls, hooks, hook, prepend: bool = False, extra=()) -> "RemovableHandle":
        """A new handle, with `hook` put in the dict `hooks` at its id (at the front:
        `prepend`); `extra`: dicts of flags kept by that id, which go with it."""
        handle = cls.__new__(cls)
        handle.id = cls.take_id()
        handle.hooks_dict_ref = _ref(hooks)
        handle.extra_dict_ref = tuple(map(_ref, extra))
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    @classmethod
    def listing(cls, hooks: list, entry) -> "RemovableHandle":
        """A new handle for `entry`, which the caller keeps in the list `hooks` (a tensor's or
        a node's, run in order): remove() takes it out, found by identity."""
        handle = cls.__new__(cls)
        handle.id = cls.take_id()
        handle.hooks_dict_ref = _ListEntry(hooks, entry)
        handle.extra_dict_ref = ()
        return handle

    @staticmethod
    def take_id() -> int:
        RemovableHandle.next_id += 1
        return RemovableHandle.next_id - 1

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref,) + self.extra_dict_ref:
            hooks = ref()
            if hooks is not None:
                hooks.pop(self.id, None)

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state) -> None:
        hooks = state[0] if state[0] is not None else OrderedDict()  # (then a dead reference)
        self.hooks_dict_ref = _ref(hooks)
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        extras = state[2] if len(state) > 2 and state[2] is not None else ()
        self.extra_dict_ref = tuple(map(_ref, extras))

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _ref(hooks):
    """A weak reference to a dict of hooks, as torch's handle keeps; a plain dict, which
    cannot have one, is held (distgrad's own registrations keep some in plain dicts)."""
    try:
        return weakref.ref(hooks)
    except TypeError:
        return _Held(hooks)


class _Held:
    """Called as a weak reference is: the object itself."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __call__(self):
        return self.obj


class _ListEntry:
    """Stands for a hooks dict in a `listing` handle: popping its id takes the entry out of
    the list (the first that is it, by identity)."""

    __slots__ = ("hooks", "entry", "__weakref__")

    def __init__(self, hooks: list, entry) -> None:
        self.hooks, self.entry = hooks, entry

    def __call__(self):
        return self

    def pop(self, key, default=None):
        for i, h in enumerate(self.hooks):
            if h is self.entry:
                del self.hooks[i]
                return h
        return default


def unserializable_hook(f):
    """Marks a hook as one torch.save need not warn about (torch's decorator)."""
    f.__torch_unserializable__ = True
    return f
