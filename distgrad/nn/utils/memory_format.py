"""torch.nn.utils.convert_conv{2,3}d_weight_memory_format: the weights of the convolutions in
a module tree given another memory format (channels_last for NHWC kernels), every other
parameter left as it is (model.to(memory_format=) would convert any 4-d weight)."""
from __future__ import annotations


def _convert(module, kinds: tuple, memory_format):
    if isinstance(module, kinds):
        # (the parameter object stays: an optimizer holding it sees the new layout)
        module.weight.data = module.weight.detach().clone(memory_format=memory_format)
    for child in module.children():
        _convert(child, kinds, memory_format)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    from ..modules import Conv2d, ConvTranspose2d

    return _convert(module, (Conv2d, ConvTranspose2d), memory_format)


def convert_conv3d_weight_memory_format(module, memory_format):
    from ..modules import Conv3d, ConvTranspose3d

    return _convert(module, (Conv3d, ConvTranspose3d), memory_format)
