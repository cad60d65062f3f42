"""The denoiser network of a diffusion run: a U-Net (conditioned by the [condition] section) or an MLP."""
from __future__ import annotations

from torch import nn

from genlab.diffusion.conditioning import ConditionalUNet, ConditionConfig
from genlab.diffusion.config import DenoiserConfig
from genlab.errors import ConfigError
from genlab.text.encoder import TEXT_DIM
from genlab.training.objective import DataInfo


def build_network(m: DenoiserConfig, c: ConditionConfig, info: DataInfo, shape: tuple[int, ...]) -> nn.Module:
    """A fresh network eps/x0/v_theta(x_t, t[, cond]) for diffusion on `shape` (the data's, or latents')."""
    arch = m.arch if m.arch != "auto" else ("unet" if info.kind == "image" else "mlp")
    if arch == "mlp":
        if info.kind != "vector":
            raise ConfigError(f"model.arch = 'mlp' needs vectors, the data are images of shape {info.shape}")
        from genlab.nn.mlp import MLPDenoiser
        return MLPDenoiser(dim=info.shape[0], hidden=m.hidden, layers=m.layers)
    if info.kind != "image":
        raise ConfigError(f"model.arch = 'unet' needs images, the data are vectors of shape {info.shape}")
    from genlab.nn.unet import UNet
    channels = shape[0]
    context_dim = {"text": TEXT_DIM, "class": c.context_dim if c.via == "cross_attention" else None}.get(c.kind)
    if c.kind == "masked" and tuple(shape) != tuple(info.shape):
        raise ConfigError("condition.kind = 'masked' (Palette inpainting) works in pixel space: use a 'ddpm' run, "
                          "not latent diffusion")
    # concatenated channels: the low-res image's, or the known pixels' and the mask's
    extra = {"image": info.shape[0], "masked": info.shape[0] + 1}.get(c.kind, 0)
    net: nn.Module = UNet(in_channels=channels + extra, out_channels=channels, channels=m.channels,
                          blocks_per_level=m.blocks_per_level, attention_levels=m.attention_levels,
                          mid_attention=m.mid_attention, heads=m.heads, groups=m.groups,
                          time_embedding=m.time_embedding, dropout=m.dropout, upsample=m.upsample,
                          num_classes=info.num_classes if c.kind == "class" and c.via == "embedding" else None,
                          context_dim=context_dim)
    if c.kind != "none":
        net = ConditionalUNet(net, kind=c.kind, num_classes=info.num_classes, via=c.via, context_dim=context_dim)
    return net
