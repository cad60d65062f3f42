"""One training loop for every family: phases, EMA, checkpoints, distributed through HF Accelerate."""
