"""What `distgrad.distributed.checkpoint` saves and loads through its own methods (torch's
`Stateful`): an object with `state_dict()` and `load_state_dict(state_dict)`, a module or
an optimizer too. save() writes its state_dict(); load() fills that in place and hands it
to its load_state_dict()."""
from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["Stateful", "StatefulT"]


@runtime_checkable
class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]:
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        ...


StatefulT = TypeVar("StatefulT", bound=Stateful)
