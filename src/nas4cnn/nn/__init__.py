"""Networks and their training: the model, the plain loop, the population-batched engine."""
