"""Evaluation: features -> statistics -> number, one module per metric (as in torch-fidelity)."""
