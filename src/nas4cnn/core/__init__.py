"""Shared basics without torch: errors, seeds, the space, configs, the objective, run folders."""
