"""Networks: time embeddings, residual blocks, attention, resampling; backbones (U-Net, MLP denoiser)."""
from genlab.nn.attention import CrossAttention2d, SelfAttention2d
from genlab.nn.embeddings import TimeEmbedding, sinusoidal_embedding
from genlab.nn.mlp import MLPDenoiser
from genlab.nn.resample import Downsample, Upsample
from genlab.nn.resblock import AdaGroupNorm, ResBlock
from genlab.nn.unet import UNET_PRESETS, UNet

__all__ = ["sinusoidal_embedding", "TimeEmbedding", "AdaGroupNorm", "ResBlock", "SelfAttention2d",
           "CrossAttention2d", "Downsample", "Upsample", "UNet", "UNET_PRESETS", "MLPDenoiser"]
