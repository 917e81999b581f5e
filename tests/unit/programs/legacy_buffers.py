# Older scripts and data loaders: the default dtype set through a legacy tensor type (and
# the types torch refuses), and tensors on the memory of a bytes-like object
# (torch.frombuffer: counts, offsets, its errors, writes seen through the buffer, a
# read-only buffer, a leaf that requires grad).
import warnings
import numpy as np
import distgrad as torch  # PyTorch: import torch
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    torch.set_default_tensor_type(torch.DoubleTensor)
    print(torch.get_default_dtype(), torch.zeros(1).dtype, torch.tensor([1.5]).dtype)
    torch.set_default_tensor_type("torch.FloatTensor")
    print(torch.get_default_dtype())
for bad in (torch.LongTensor, "torch.Foo", 3, torch.float64, torch.HalfTensor, "torch.IntTensor"):
    try:
        torch.set_default_tensor_type(bad)
    except Exception as e:
        print(type(e).__name__, e)
print(torch.get_default_dtype()); torch.set_default_dtype(torch.float32)
b = bytearray(np.arange(4, dtype=np.float32).tobytes())
x = torch.frombuffer(b, dtype=torch.float32)
print(x)
x[0] = 7
print(np.frombuffer(b, np.float32), torch.frombuffer(b, dtype=torch.float32, count=2, offset=4))
for kw in (dict(count=9), dict(offset=3), dict(offset=16), dict(count=0), dict(offset=-1)):
    try:
        torch.frombuffer(b, dtype=torch.float32, **kw)
    except ValueError as e:
        print("ValueError", e)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    y = torch.frombuffer(bytes(range(8)), dtype=torch.int16)
    print(y, y.dtype)
z = torch.frombuffer(b, dtype=torch.float32, requires_grad=True)
(z * 2).sum().backward()
print(z.grad, z.is_leaf, torch.frombuffer(memoryview(b), dtype=torch.uint8)[:5])
for bad in (3, "abc", np.arange(6.0).reshape(2, 3).T, memoryview(b)[::2]):  # (not a buffer,
    try:                                                                # or not contiguous)
        torch.frombuffer(bad, dtype=torch.uint8)
    except Exception as e:
        print(type(e).__name__, e)
print("done")
