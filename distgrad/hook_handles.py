"""What every `register_*hook` returns, as torch.utils.hooks.RemovableHandle: `.remove()`
takes the hook out again (also on leaving a `with` block).

The public class keeps torch's contract for code that makes its own hookable objects: the
caller puts the hook at `handle.id` in its dict, and the handle holds that dict (and the
extra dicts whose entries go with it) weakly. distgrad's own handles are subclasses of it,
so `isinstance(h, torch.utils.hooks.RemovableHandle)` holds for them as for torch's.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict


class RemovableHandle:
    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.take_id()
        extras = [extra_dict] if isinstance(extra_dict, dict) else \
            extra_dict if isinstance(extra_dict, list) else []
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

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
        self.hooks_dict_ref = weakref.ref(hooks)
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        extras = state[2] if len(state) > 2 and state[2] is not None else ()
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def unserializable_hook(f):
    """Marks a hook as one torch.save need not warn about (torch's decorator)."""
    f.__torch_unserializable__ = True
    return f
