import pytest

from nas4cnn.core.objective import objective


def test_objective_is_error_plus_weighted_size():
    assert objective(0.02, 36_940, 206_742, 0.01) == pytest.approx(0.02 + 0.01 * 36_940 / 206_742)
    assert objective(0.1, 1000, 1000, 0.0) == pytest.approx(0.1)
    assert objective(0.0, 500, 1000, 1.0) == pytest.approx(0.5)


def test_smaller_network_wins_a_tie_in_error():
    assert objective(0.05, 1000, 206_742, 0.01) < objective(0.05, 2000, 206_742, 0.01)
