"""The final model: trained from scratch with all the data, repeats and baselines."""
