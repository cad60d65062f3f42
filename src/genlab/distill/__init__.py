"""Progressive distillation (Salimans & Ho 2022): a diffusion run halved into few-step students, stage by stage.

target.py holds the math (Algorithm 2's two-step target, the truncated-SNR weight), grid.py the nested timestep
grids, family.py the student as a family of the one training loop, stages.py the stages `genlab distill` runs.
Nothing in genlab imports this package but the family registry, by name.
"""
