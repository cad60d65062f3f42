"""Variational autoencoders (Kingma & Welling 2014) and the plain autoencoder: networks, objective, bounds,
latent tools."""
from genlab.vae.latent import attribute_vector, interpolate, manifold_grid, slerp, traversal
from genlab.vae.likelihood import active_units, elbo, evaluate_likelihood, iwae_bound, likelihood_bounds
from genlab.vae.networks import VAE, BernoulliLikelihood, GaussianLikelihood, build_vae
from genlab.vae.objective import kl_standard_normal, reparameterize

__all__ = ["VAE", "BernoulliLikelihood", "GaussianLikelihood", "active_units", "attribute_vector", "build_vae",
           "elbo", "evaluate_likelihood", "interpolate", "iwae_bound", "kl_standard_normal", "likelihood_bounds",
           "manifold_grid", "reparameterize", "slerp", "traversal"]
