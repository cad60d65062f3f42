"""Variational autoencoders (Kingma & Welling 2014) and the plain autoencoder: networks, objective, bounds, latent tools."""
from genlab.vae.networks import VAE, BernoulliLikelihood, GaussianLikelihood, build_vae
from genlab.vae.objective import kl_standard_normal, reparameterize

__all__ = ["VAE", "BernoulliLikelihood", "GaussianLikelihood", "build_vae", "kl_standard_normal", "reparameterize"]
