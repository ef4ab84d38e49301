"""The trainer core: device policy, on-device perturbations, training loop, checkpoints."""
