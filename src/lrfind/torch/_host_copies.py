"""Host copies of a list of tensors, in a few flat buffers: the snapshot's ``where="cpu"``.

>>> import torch
>>> tensors = [torch.ones(2, 2), torch.arange(3.0), torch.zeros(1, dtype=torch.int64)]
>>> copies = HostCopies.of(tensors)
>>> sorted(str(dtype) for dtype in copies.buffers), copies.nbytes()
(['torch.float32', 'torch.int64'], 36)
>>> [torch.equal(a, b) for a, b in zip(copies.views(), tensors)]
[True, True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A detached copy on the host (a clone when the tensor already lives there)."""
    data = tensor.detach()
    if data.device.type == "cpu":
        return data.clone()
    return data.to("cpu", copy=True)


@dataclass
class HostCopies:
    """Host copies of a list of tensors: one flat buffer per dtype, and where each sits.

    A few large allocations instead of one per tensor: the allocator serves them apart
    from the small blocks the training steps reuse, so the steps do not page-fault
    freed memory back in. The per-tensor views are only cut out by :meth:`views`, at
    restore: during the sweep the snapshot holds a few buffers, not a tensor object per
    parameter. Tensors that are not plain dense ones are copied one by one.
    """

    # Why: copies scattered through glibc's heap made it hand freed step memory back to
    # the system and fault it in again at every step (40% slower steps for a
    # 3M-parameter transformer block; BENCHMARKS.md, overhead).

    buffers: dict[torch.dtype, torch.Tensor]
    places: list[tuple[torch.dtype, int, torch.Size] | torch.Tensor]
    """Per tensor: (dtype, offset into that dtype's buffer, shape), or its own copy."""

    @classmethod
    def of(cls, tensors: list[torch.Tensor]) -> HostCopies:
        places: list[tuple[torch.dtype, int, torch.Size] | torch.Tensor] = []
        sizes: dict[torch.dtype, int] = {}
        for tensor in tensors:
            plain = type(tensor) in (torch.Tensor, torch.nn.Parameter)
            if plain and tensor.layout == torch.strided and not tensor.is_quantized:
                offset = sizes.get(tensor.dtype, 0)
                places.append((tensor.dtype, offset, tensor.shape))
                sizes[tensor.dtype] = offset + tensor.numel()
            else:
                places.append(host_copy(tensor))
        buffers = {dtype: torch.empty(size, dtype=dtype) for dtype, size in sizes.items()}
        copies = cls(buffers, places)
        for tensor, place, view in zip(tensors, places, copies.views(), strict=True):
            if not isinstance(place, torch.Tensor):
                view.copy_(tensor.detach())
        return copies

    def views(self) -> list[torch.Tensor]:
        """The copies, in the order of the tensors they were taken from."""
        out = []
        for place in self.places:
            if isinstance(place, torch.Tensor):
                out.append(place)
            else:
                dtype, offset, shape = place
                out.append(self.buffers[dtype][offset : offset + shape.numel()].view(shape))
        return out

    def nbytes(self) -> int:
        """Bytes held: the buffers and the separate copies."""
        held = [*self.buffers.values(), *(p for p in self.places if isinstance(p, torch.Tensor))]
        return sum(t.untyped_storage().nbytes() for t in held)
