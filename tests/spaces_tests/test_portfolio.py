"""Each built-in space's portfolio of proven recipes: complete configurations, fitted to a narrowing."""

from __future__ import annotations

import pytest
from optuna.trial import FixedTrial

from spaces import BUILTIN, get_space
from spaces.portfolio import PORTFOLIOS, portfolio

RECIPES = [(space, recipe) for space in BUILTIN for recipe in PORTFOLIOS[space]]


@pytest.mark.parametrize("space, recipe", RECIPES, ids=[f"{s}-{r.name}" for s, r in RECIPES])
def test_a_recipe_is_a_whole_configuration_of_its_space_with_a_source(space, recipe):
    # FixedTrial raises on any parameter the space asks for that the recipe does not give:
    # a portfolio trial is the recipe, nothing of it drawn at random.
    config = get_space(space).suggest(FixedTrial(dict(recipe.params)))
    assert config.model.backbone == recipe.params["backbone"]
    assert config.optimizer.learning_rate == recipe.params["learning_rate"]
    assert recipe.source and recipe.name
    assert (space, recipe.params) in [(space, p) for _, p in portfolio(get_space(space))]


def test_every_built_in_space_has_four_to_eight_recipes():
    for space in BUILTIN:
        assert 4 <= len(portfolio(get_space(space))) <= 8


def test_a_narrowing_clamps_numbers_and_drops_excluded_choices():
    narrowed = get_space("small", {"depth": {"low": 1, "high": 1}, "width": {"low": 16, "high": 24},
                                   "optimizer": ["adam"], "learning_rate": {"low": 1e-4, "high": 5e-4}})
    fitted = portfolio(narrowed)
    names = [recipe.name for recipe, _ in fitted]
    assert "resnet-cifar-sgd-cosine" not in names  # SGD is narrowed away
    for _, params in fitted:
        assert (params["depth"], params["width"], params["learning_rate"]) == (1, 24, 5e-4)
        narrowed.suggest(FixedTrial(params))  # inside every narrowed range


def test_recipes_a_narrowing_makes_identical_run_once(monkeypatch):
    from spaces import portfolio as module

    deep, deeper = (module.Recipe(f"depth {d}", "test", {**PORTFOLIOS["small"][0].params, "depth": d}) for d in (3, 4))
    monkeypatch.setitem(module.PORTFOLIOS, "small", (deep, deeper))
    assert [r.name for r, _ in portfolio(get_space("small"))] == ["depth 3", "depth 4"]
    ((recipe, params),) = portfolio(get_space("small", {"depth": {"low": 1, "high": 2}}))
    assert (recipe.name, params["depth"]) == ("depth 3", 2)


def test_the_default_space_starts_with_transfer_and_a_small_cnn_only_narrowing_keeps_the_small_cnn_recipes():
    names = [recipe.name for recipe, _ in portfolio(get_space("default"))]
    assert names[0] == "tf-transfer-mobilenet-v2"
    small_only = portfolio(get_space("default", {"backbone": ["small_cnn"]}))
    assert [r.name for r, _ in small_only] == [r.name for r, _ in portfolio(get_space("small"))]


def test_a_users_space_has_no_portfolio():
    import dataclasses

    mine = dataclasses.replace(get_space("small"), name="mypkg.myspace")
    assert portfolio(mine) == []
