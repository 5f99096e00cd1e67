"""The search objective: O = validation error + lambda * Np / Nmax (lower is better)."""


def objective(val_error: float, params: int, nmax: int, lam: float) -> float:
    return float(val_error) + float(lam) * params / nmax
