"""Progressive distillation (Salimans & Ho 2022): a diffusion run halved into few-step students, stage by stage.

target.py holds the math (Algorithm 2's two-step target, the truncated-SNR weight), grid.py the nested timestep
grids, family.py (and latent.py) the student as a family of the one training loop, progressive.py the stages
that `genlab distill` and `genlab compare` run. Only the family registry (by name) and those callers import it.
"""
