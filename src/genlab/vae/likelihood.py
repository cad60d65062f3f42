"""Log-likelihood bounds of a trained VAE in nats per item: the ELBO and the importance-weighted bound (IWAE).

ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x) (Kingma & Welling 2014, eq. 3), and
L_k(x) = E[log 1/k sum_i p(x, z_i) / q(z_i|x)], z_i ~ q(z|x) (Burda et al. 2016, eq. 8), which satisfies
ELBO = L_1 <= L_k <= L_{k+1} <= log p(x) and tends to log p(x) as k grows (their Theorem 1).
Active units: dimension u counts when Cov_x(E_q[z_u]) > 0.01 (Burda et al. 2016, sec. 5.2).
"""
from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from genlab.errors import ModelInputError
from genlab.vae.networks import VAE
from genlab.vae.objective import kl_standard_normal, log_prior_over_posterior, reparameterize


def _posterior(vae: VAE, x: Tensor) -> tuple[Tensor, Tensor]:
    mu, logvar = vae.encode(x)
    if logvar is None:
        raise ModelInputError("a plain autoencoder has no q(z|x) and no prior term: it has no ELBO or IWAE bound")
    return mu, logvar


def _draw(vae: VAE, x: Tensor, mu: Tensor, logvar: Tensor, k: int,
          generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """k draws z_i ~ q(z|x) -> log w_i (k, B) and log p(x|z_i) (k, B) (Burda et al. 2016, eq. 8)."""
    z = reparameterize(mu, logvar, torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device))
    log_px_z = vae.likelihood.log_prob(vae.decode(z), x)
    return log_px_z + log_prior_over_posterior(z, mu, logvar), log_px_z


def log_weights(vae: VAE, x: Tensor, *, k: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(z|x) (Burda et al. 2016, eq. 8).

    x: (B, *shape) -> log w (k, B), log p(x|z_i) (k, B) and the closed-form KL (B,).
    """
    if k < 1:
        raise ModelInputError(f"the number of importance samples k must be >= 1, got {k}")
    mu, logvar = _posterior(vae, x)
    log_w, log_px_z = _draw(vae, x, mu, logvar, k, generator)
    return log_w, log_px_z, kl_standard_normal(mu, logvar)


def elbo(vae: VAE, x: Tensor, *, samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
    """ELBO per item in nats: Monte-Carlo E_q[log p(x|z)] over `samples` draws minus the closed-form KL (eq. 10).

    x: (B, *shape) -> (B,).
    """
    _, log_px_z, kl = log_weights(vae, x, k=samples, generator=generator)
    return log_px_z.mean(0) - kl


def iwae_bound(vae: VAE, x: Tensor, *, k: int = 50, generator: torch.Generator | None = None) -> Tensor:
    """Importance-weighted bound L_k = logsumexp_i log w_i - log k per item in nats (Burda et al. 2016, eq. 8).

    x: (B, *shape) -> (B,).
    """
    log_w, _, _ = log_weights(vae, x, k=k, generator=generator)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


class ActiveUnits:
    """Streaming Cov_x(E_q[z]) per latent dimension (float64 sums), for the active-unit count of Burda et al. (2016)."""

    def __init__(self, latent_dim: int) -> None:
        self.n = 0
        self.sum = torch.zeros(latent_dim, dtype=torch.float64)
        self.sum_sq = torch.zeros(latent_dim, dtype=torch.float64)

    def update(self, mu: Tensor) -> None:
        """mu: (B, d) posterior means of a batch."""
        m = mu.detach().double().cpu()
        self.n += m.shape[0]
        self.sum += m.sum(0)
        self.sum_sq += m.pow(2).sum(0)

    def variances(self) -> Tensor:
        """(d,) unbiased variance over items of each posterior-mean dimension."""
        if self.n < 2:
            raise ModelInputError(f"active units need at least 2 items, got {self.n}")
        mean = self.sum / self.n
        return (self.sum_sq - self.n * mean.pow(2)).clamp_min(0) / (self.n - 1)

    def count(self, *, threshold: float = 0.01) -> int:
        return int((self.variances() > threshold).sum())


def active_units(mu: Tensor, *, threshold: float = 0.01) -> tuple[int, Tensor]:
    """Dimensions u with Cov_x(E_q[z_u]) > threshold (Burda et al. 2016, eq. 12):
    mu (N, d) -> (count, variances (d,))."""
    if mu.ndim != 2:
        raise ModelInputError(f"expected posterior means (N, d), got shape {tuple(mu.shape)}")
    stats = ActiveUnits(mu.shape[1])
    stats.update(mu)
    return stats.count(threshold=threshold), stats.variances()


def chunked_bounds(vae: VAE, x: Tensor, *, k: int, chunk: int, generator: torch.Generator | None = None,
                   posterior: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """IWAE bound L_k, E_q log p(x|z) and the closed-form KL per item from k draws taken `chunk` at a time: a running
    logsumexp keeps memory at O(chunk * B) whatever k (Burda et al. 2016, eq. 8, for k = 5,000).

    x: (B, *shape) -> L_k (B,), mean log p(x|z_i) (B,), KL (B,), all float64 nats. The draws depend on `chunk`.
    `posterior`: (mu, logvar) of x when already encoded.
    """
    if k < 1 or chunk < 1:
        raise ModelInputError(f"importance samples k and the chunk size must be >= 1, got k={k}, chunk={chunk}")
    mu, logvar = _posterior(vae, x) if posterior is None else posterior
    log_sum = torch.full((len(x),), -math.inf, dtype=torch.float64, device=mu.device)
    sum_px_z = torch.zeros(len(x), dtype=torch.float64, device=mu.device)
    for start in range(0, k, chunk):
        log_w, log_px_z = _draw(vae, x, mu, logvar, min(chunk, k - start), generator)
        log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_w.double(), 0))
        sum_px_z += log_px_z.double().sum(0)
    return log_sum - math.log(k), sum_px_z / k, kl_standard_normal(mu, logvar).double()


@torch.no_grad()
def likelihood_bounds(vae: VAE, x: Tensor, *, k: int = 50, batch_size: int = 100, max_rows: int = 20_000,
                      generator: torch.Generator | None = None, progress: bool = False) -> dict[str, Any]:
    """Mean ELBO and IWAE(k) bound in nats per item over x: (N, *shape), scored as given (already binarised if so).

    Both bounds use the same k draws per item, decoded at most `max_rows` latents per forward pass (so k = 5,000
    runs in flat memory). Also: -E_q log p(x|z) ("recon"), the KL, `nll` = -iwae (the estimate of -log p(x)
    papers report), its standard error, and the active units of x.
    """
    from tqdm.auto import tqdm

    if len(x) == 0:
        raise ModelInputError("likelihood bounds need at least one item, got none")
    device = next(vae.parameters()).device
    vae.eval()
    parts: dict[str, list[Tensor]] = {"elbo": [], "iwae": [], "recon": [], "kl": []}
    units = ActiveUnits(vae.latent_dim)
    chunk = max(1, max_rows // min(batch_size, len(x)))
    for xb in tqdm(x.split(batch_size), disable=not progress, desc=f"IWAE k={k}", unit="batch", leave=False):
        xb = xb.to(device)
        posterior = _posterior(vae, xb)
        iwae, recon, kl = chunked_bounds(vae, xb, k=k, chunk=chunk, generator=generator, posterior=posterior)
        parts["elbo"].append(recon - kl)
        parts["iwae"].append(iwae)
        parts["recon"].append(-recon)
        parts["kl"].append(kl)
        units.update(posterior[0])
    values = {key: torch.cat(v).cpu() for key, v in parts.items()}
    out: dict[str, Any] = {key: v.mean().item() for key, v in values.items()}
    n = len(x)
    out.update(nll=-out["iwae"], nll_stderr=values["iwae"].std().item() / math.sqrt(n) if n > 1 else None, k=k, n=n,
               latent_dim=vae.latent_dim, active_units=units.count() if n > 1 else None)
    return out


def evaluate_likelihood(run: Any, dataset: Any = None, *, k: int = 50, n: int | None = None, batch_size: int = 100,
                        seed: int = 0, split: Literal["train", "test"] = "test",
                        progress: bool = False) -> dict[str, Any]:
    """ELBO and IWAE bound (nats per item, averaged) of a VAE run on a dataset, plus KL, reconstruction, active units.

    `run` is a `genlab.training.run.Run` or a run folder; `dataset` a `genlab.data.Dataset` (uint8 images or float
    vectors), a dataset name or path, or None for the run's own data; names are read at `split`. `n` caps the items
    (the first n). Bernoulli runs trained on binarised images are scored on the items binarised once, as in
    training: stochastically with `seed` (Burda et al.'s protocol) or by threshold.
    """
    from genlab.vae.runs import as_vae_run, run_items

    run = as_vae_run(run, need_posterior=True)
    if dataset is None or isinstance(dataset, str):
        x, _ = run_items(run, split=split, data=dataset)
    else:
        x = dataset.x if isinstance(dataset.x, Tensor) else torch.from_numpy(dataset.x)
    if n is not None:
        x = x[:n]
    result = run.family.likelihood(run.models, x, batch_size=batch_size, seed=seed, k=k, progress=progress)
    return {**result, "step": run.step}
