"""The history of generated images a CycleGAN discriminator is shown (Shrivastava et al. 2017; Zhu et al. 2017, sec. 4).

Until the pool holds `size` images, each new image is stored and passed through. Once full, each new image is,
with probability 1/2, swapped for a uniformly chosen stored one (which is returned in its place), else passed
through. The pool is a module whose buffers hold the images and the count, so checkpoints save it and a resumed
run continues with the same history; its coin flips come from the loop's batch randomness.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.training.objective import BatchRandom


class ImagePool(nn.Module):
    """A buffer of up to `size` earlier generator outputs (size, C, H, W); size 0 passes every image through."""

    images: Tensor
    count: Tensor

    def __init__(self, *, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros((size, *shape)))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, fake: Tensor, rng: BatchRandom) -> Tensor:
        """fake: (B, C, H, W) -> (B, C, H, W): each row the new image or, once the pool is full, with
        probability 1/2 an older one; the coin u and the slot j of row i are rng.rand()[i] and rng.randint()[i]."""
        if self.size == 0:
            return fake
        u = rng.rand()
        slot = rng.randint(self.size)
        out = fake.detach().clone()
        for i in range(fake.shape[0]):
            n = int(self.count)
            if n < self.size:
                self.images[n] = fake[i].detach().to(self.images.dtype)
                self.count += 1
            elif float(u[i]) < 0.5:
                j = int(slot[i])
                out[i] = self.images[j].to(out.dtype)
                self.images[j] = fake[i].detach().to(self.images.dtype)
        return out
