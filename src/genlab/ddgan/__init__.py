"""Denoising diffusion GANs (Xiao, Kreis & Vahdat 2022): a few large denoising steps, each a conditional GAN."""
from genlab.ddgan.process import ddgan_schedule, q_sample_pairs, sample_posterior, vp_alpha_bar

__all__ = ["ddgan_schedule", "q_sample_pairs", "sample_posterior", "vp_alpha_bar"]
