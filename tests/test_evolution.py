import numpy as np
import pytest

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import SearchSpace
from nas4cnn.strategies import STRATEGIES, make_strategy
from nas4cnn.strategies.evolution import Evolution, mutate_one_gene, one_point_crossover

SPACE = SearchSpace()


def R(objective):
    return Evaluation(genotype=(0, 0, 0, 0, 0), arch="", params=0, epochs=8, val_error=objective, objective=objective)


def results(objectives):
    return [R(o) for o in objectives]


def fake_objective(g):
    # deterministic, with many ties, so that selection order matters
    return round(((g[0] * 7 + g[1] * 3 + g[2] * 5 + g[3] * 11 + g[4]) % 13) / 13, 2)


def test_crossover_and_mutation_keep_genotypes_valid():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b = SPACE.random_genotype(rng), SPACE.random_genotype(rng)
        c, d = one_point_crossover(a, b, rng)
        for child in (c, d):
            assert SPACE.validate(child) == child
            assert SPACE.validate(mutate_one_gene(child, SPACE, rng))
        # one-point: a prefix of one parent followed by the suffix of the other
        cut = next(i for i in range(1, 5) if c[:i] == a[:i] and c[i:] == b[i:])
        assert d == b[:cut] + a[cut:]


def test_mutation_changes_at_most_one_gene():
    rng = np.random.default_rng(1)
    for _ in range(1000):
        g = SPACE.random_genotype(rng)
        m = mutate_one_gene(g, SPACE, rng)
        assert sum(x != y for x, y in zip(g, m)) <= 1


def run(strategy, generations):
    best = []
    asked = []
    for _ in range(generations + 1):
        gs = strategy.ask()
        asked.append(gs)
        strategy.tell(gs, results([fake_objective(g) for g in gs]))
        best.append(strategy.best[1])
    return best, asked


def test_survivor_selection_is_elitist_and_keeps_mu():
    evo = Evolution(SPACE, population=10, seed=3)
    best, asked = run(evo, 30)
    assert all(b2 <= b1 for b1, b2 in zip(best, best[1:]))
    assert all(len(a) == 10 for a in asked)
    assert len(evo.population) == 10
    everything = [fake_objective(g) for gs in asked for g in gs]
    assert best[-1] == min(everything)
    objs = [o for _, o in evo.population]
    assert objs == sorted(objs)


def test_odd_population_still_makes_mu_children():
    evo = Evolution(SPACE, population=5, seed=0)
    _, asked = run(evo, 3)
    assert [len(a) for a in asked] == [5, 5, 5, 5]


def test_same_seed_same_search_and_resume_from_state():
    a, asked_a = run(Evolution(SPACE, population=8, seed=11), 10)
    b, asked_b = run(Evolution(SPACE, population=8, seed=11), 10)
    assert asked_a == asked_b
    c, asked_c = run(Evolution(SPACE, population=8, seed=12), 10)
    assert asked_c != asked_a

    first = Evolution(SPACE, population=8, seed=11)
    run(first, 4)
    state = first.state_dict()
    resumed = Evolution(SPACE, population=8, seed=999)
    resumed.load_state_dict(state)
    _, rest = run(resumed, 5)
    assert rest == asked_a[5:]


def test_registry_and_population_check():
    assert "evolution" in STRATEGIES
    with pytest.raises(ConfigError, match="population.*>= 2; got 1"):
        make_strategy("evolution", SPACE, population=1, seed=0)
    with pytest.raises(ConfigError, match="must be one of"):
        make_strategy("nope", SPACE, population=4, seed=0)


def test_distinct_survivors_keep_one_copy_unless_too_few():
    evo = Evolution(SPACE, population=3, seed=0)
    a, b, c = (0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (2, 0, 0, 0, 0)
    evo.tell([a, a, b], results([0.1, 0.1, 0.3]))
    assert [g for g, _ in evo.population] == [a, b, a]  # too few distinct: a copy fills the gap
    evo.tell([a, c, a], results([0.1, 0.2, 0.1]))
    assert [g for g, _ in evo.population] == [a, c, b]

    seed_rule = Evolution(SPACE, population=3, seed=0, distinct=False)
    seed_rule.tell([a, a, b], results([0.1, 0.1, 0.3]))
    seed_rule.tell([a, c, a], results([0.1, 0.2, 0.1]))
    assert [g for g, _ in seed_rule.population] == [a, a, a]
