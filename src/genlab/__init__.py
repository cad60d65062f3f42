"""genlab: train, sample, evaluate and compare deep generative models (VAE, GAN, DDPM/DDIM, latent diffusion)."""
__version__ = "0.1.0"
