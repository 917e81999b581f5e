"""nn.DataParallel and nn.parallel.data_parallel as torch's behave on a machine without GPUs
(distgrad's: its workers are spread by distgrad.distributed and DistributedDataParallel):
the wrapper runs its module itself, and data_parallel finds no device type."""
from __future__ import annotations

from .modules import Module


class DataParallel(Module):
    """Runs `module` on the inputs as they are; its state_dict keys start with `module.`."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0) -> None:
        super().__init__()
        self.module = module
        self.device_ids = []  # (torch's, with no CUDA device: the other arguments are unread)

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim: int = 0,
                  module_kwargs=None):
    raise RuntimeError("device type could not be determined")
