"""Group norm: the channels-last path against the closed form (Wu & He 2018, eq. 1-3) and its gradient."""
from __future__ import annotations

import pytest
import torch

from genlab.nn.norm import GroupNorm, group_norm
from genlab.nn.runtime import keep_freed_memory


pytestmark = pytest.mark.usefixtures("one_thread")


def closed_form(x, groups, weight, bias, scale=None, shift=None, eps=1e-5):
    b, c = x.shape[:2]
    g = x.reshape(b, groups, -1)
    mean = g.mean(-1, keepdim=True)
    var = ((g - mean) ** 2).mean(-1, keepdim=True)
    y = ((g - mean) / torch.sqrt(var + eps)).reshape_as(x) * weight[:, None, None] + bias[:, None, None]
    if scale is not None:
        y = y * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
    return y


@pytest.mark.parametrize("groups", [1, 4, 8])
@pytest.mark.parametrize("channels_last", [False, True])
def test_group_norm_matches_closed_form(groups, channels_last):
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5, 6) * 2 + 3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(8), torch.randn(8)
    scale, shift = torch.randn(3, 8), torch.randn(3, 8)
    torch.testing.assert_close(group_norm(x, groups, w, b), closed_form(x, groups, w, b), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(group_norm(x, groups, w, b, scale=scale, shift=shift),
                               closed_form(x, groups, w, b, scale, shift), atol=1e-5, rtol=1e-5)


def test_channels_last_gradient_matches_closed_form():
    torch.manual_seed(0)
    x = (torch.randn(2, 8, 4, 3, dtype=torch.float64) * 2 + 1).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    scale, shift = torch.randn(2, 8, dtype=torch.float64), torch.randn(2, 8, dtype=torch.float64)
    leaves = [t.requires_grad_() for t in (x, w, b, scale, shift)]
    g_out = torch.randn(2, 8, 4, 3, dtype=torch.float64)
    ours = torch.autograd.grad((group_norm(x, 4, w, b, scale=scale, shift=shift) * g_out).sum(), leaves)
    ref = torch.autograd.grad((closed_form(x, 4, w, b, scale, shift) * g_out).sum(), leaves)
    for a, r in zip(ours, ref, strict=True):  # statistics and coefficients are float32 inside: float32 tolerance
        torch.testing.assert_close(a, r, atol=2e-4, rtol=2e-4)


def test_channels_last_bf16_close_and_keeps_layout():
    torch.manual_seed(0)
    norm = GroupNorm(4, 8)
    x = (torch.randn(2, 8, 6, 6) * 3 + 2).contiguous(memory_format=torch.channels_last)
    y = norm(x.bfloat16())
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    ref = closed_form(x, 4, norm.weight.detach(), norm.bias.detach())
    assert ((y.float() - ref).abs().max() < 0.05)  # bf16 keeps ~3 significant digits of the unit-scale output


def test_keep_freed_memory_reports_success_on_glibc():
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert keep_freed_memory() is True
