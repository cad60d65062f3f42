"""Reference samples of two run folders written by genlab before the diffusion restructuring (commit d8dc883)."""
# Run with the genlab of that commit on PYTHONPATH, after training the two folders with:
#   genlab train ddpm --data digits --steps 3 --set model.channels=[8,8] --set model.groups=4 \
#     --set condition.kind=class --set condition.context_dim=8 --set model.heads=1 --set diffusion.prediction=v \
#     --set diffusion.T=100 --set diffusion.sample_steps=5 --set train.batch_size=16 --set train.precision=bf16 \
#     --out ddpm_cls
#   genlab train vae --data digits --steps 3 --set vae.kl_warmup=10 --set train.batch_size=16 --set model.hidden=[16] \
#     --set model.latent_dim=2 --out vae
# (optimizer.pt files dropped: loading a run for sampling does not read them).
from pathlib import Path

import numpy as np
import torch

from genlab.data import load_dataset
from genlab.training.run import load_run
root = Path(__file__).parent
d = load_run(f"{root}/ddpm_cls")
v = load_run(f"{root}/vae")
out = {
  "ddpm_guided": d.sample(6, seed=1, label=3, guidance=2.5, precision="fp32").numpy(),
  "ddpm_ancestral": d.sample(6, seed=2, sampler="ancestral", steps=10, precision="fp32").numpy(),
  "ddpm_eta": d.sample(4, seed=4, eta=0.7, spacing="trailing", precision="fp32").numpy(),
  "vae": v.sample(6, seed=3).numpy(),
}
x = torch.from_numpy(load_dataset("digits", split="test", limit=8, seed=0).x)
out["vae_elbo"] = np.array([v.family.likelihood(v.models, x, seed=0, k=5, progress=False)["elbo"]])
np.savez(root / "expected.npz", **out)
print({k: a.shape for k, a in out.items()}, out["vae_elbo"])
