"""Spaces are pure: a trial in, a validated configuration out; ranges narrow from plain data."""

import sys
import textwrap

import pytest

from spaces import BUILTIN, RandomTrial, SpaceError, get_space, load_narrowing, momentum_from_r
from trainers.config import TrainConfig


def test_momentum_through_r():
    assert momentum_from_r(-1.0) == pytest.approx(0.9)
    assert momentum_from_r(-2.0) == pytest.approx(0.99)
    assert momentum_from_r(-3.0) == pytest.approx(0.999)
    # r uniform in [-3, -1] puts half of the samples above beta = 0.99
    betas = [momentum_from_r(-3 + 2 * i / 1000) for i in range(1001)]
    assert sum(b >= 0.99 for b in betas) == pytest.approx(500, abs=2)


def test_spaces_do_not_import_keras_or_optuna():
    import subprocess

    code = "import sys, spaces; spaces.get_space('default').suggest(spaces.RandomTrial(0)); " \
           "bad = [m for m in ('keras', 'tensorflow', 'optuna', 'sqlalchemy') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("seed", range(40))
def test_every_sample_is_a_valid_config_within_the_ranges(seed):
    space = get_space("default")
    trial = RandomTrial(seed)
    config = space.suggest(trial)
    assert isinstance(config, TrainConfig)
    p = trial.params
    assert 1e-5 <= p["learning_rate"] <= 1e-1 and config.optimizer.learning_rate == p["learning_rate"]
    assert 0.0 <= config.model.dropout <= 0.5
    assert config.model.batch_norm in ("none", "before", "after")
    if config.optimizer.name == "sgd":
        assert -3 <= p["momentum_r"] <= -1
        assert config.optimizer.momentum == pytest.approx(1 - 10 ** p["momentum_r"])
    else:
        assert "momentum_r" not in p  # conditional: only asked when it matters
    if config.model.backbone == "small_cnn":
        assert "depth" in p and "fine_tune_fraction" not in p
    else:
        assert "depth" not in p and {"frozen_epochs", "fine_tune_fraction", "fine_tune_lr_ratio"} <= set(p)
    if p["hidden_layer"]:
        assert 32 <= p["head_units"] <= 1024 and config.model.head_units == p["head_units"]
    else:
        assert "head_units" not in p and config.model.head_units == 0
    assert TrainConfig.from_yaml(config.to_yaml()) == config


@pytest.mark.parametrize("name", ["default", "small"])
def test_both_builtin_spaces_sample_a_hidden_layer_before_the_softmax_with_log_scaled_units(name):
    space = get_space(name)
    units = [space.suggest(RandomTrial(s)).model.head_units for s in range(400)]
    hidden = [u for u in units if u]
    assert 150 < len(hidden) < 250  # half the configurations have one
    below = sum(u < 181 for u in hidden)  # 181 ~ the log-midpoint of 32 .. 1024
    assert 0.35 < below / len(hidden) < 0.65
    narrowed = get_space(name, {"hidden_layer": [True], "head_units": {"low": 64, "high": 128}})
    assert all(64 <= narrowed.suggest(RandomTrial(s)).model.head_units <= 128 for s in range(20))


def test_learning_rate_is_log_distributed():
    space = get_space("default")
    rates = [space.suggest(RandomTrial(s)).optimizer.learning_rate for s in range(400)]
    below = sum(r < 1e-3 for r in rates)  # 1e-3 is the log-midpoint of 1e-5 .. 1e-1
    assert 150 < below < 250


def test_base_config_supplies_what_the_space_does_not_sample():
    base = TrainConfig().replace(data={"dataset": "mnist"}, training={"epochs": 7}, model={"weights": "none"})
    config = get_space("default").suggest(RandomTrial(1), base)
    assert config.data.dataset == "mnist" and config.training.epochs == 7 and config.model.weights == "none"


def test_narrowing_from_yaml(tmp_path):
    path = tmp_path / "ranges.yaml"
    path.write_text("learning_rate: {low: 1.0e-4, high: 1.0e-3}\nbackbone: [small_cnn]\noptimizer: adam\n")
    space = get_space("default", load_narrowing(str(path)))
    for seed in range(20):
        c = space.suggest(RandomTrial(seed))
        assert 1e-4 <= c.optimizer.learning_rate <= 1e-3
        assert c.model.backbone == "small_cnn" and c.optimizer.name == "adam"


@pytest.mark.parametrize(
    "narrowing, message",
    [
        ({"learning_rate": {"low": 1e-6, "high": 1e-3}}, "can only be narrowed within 1e-05 .. 0.1"),
        ({"learning_rate": {"low": 1e-2, "high": 1e-3}}, "low (0.01) is above high (0.001)"),
        ({"dropout": {"low": -0.1, "high": 0.2}}, "can only be narrowed within 0 .. 0.5"),
        ({"backbone": ["resnet5"]}, "can only be narrowed to a subset of"),
        ({"learnig_rate": 0.1}, "has no dimension 'learnig_rate' (did you mean 'learning_rate'?)"),
        ({"depth": {"low": 1.5, "high": 3}}, "range bounds must be ints"),
        ({"dropout": {"lo": 0.1}}, "a range takes only low and high"),
    ],
)
def test_bad_narrowing_is_refused(narrowing, message):
    with pytest.raises(SpaceError) as err:
        get_space("default", narrowing)
    assert message in str(err.value)


def test_unknown_space_names():
    with pytest.raises(SpaceError, match="unknown space 'defualt' \\(did you mean 'default'\\?\\)"):
        get_space("defualt")
    with pytest.raises(SpaceError, match="cannot import space module 'nope.nothing'"):
        get_space("nope.nothing")


def test_a_user_space_module_without_editing_the_project(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "myspace.py").write_text(textwrap.dedent('''
        from spaces import Float, Space

        def build(pick, base):
            return base.replace(optimizer={"name": "adam", "learning_rate": pick("learning_rate")})

        SPACE = Space(name="mypkg.myspace", description="adam only", build=build,
                      dimensions={"learning_rate": Float(1e-4, 1e-2, log=True)})
    '''))
    (pkg / "broken.py").write_text("SPACE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = get_space("mypkg.myspace").suggest(RandomTrial(0))
    assert config.optimizer.name == "adam" and 1e-4 <= config.optimizer.learning_rate <= 1e-2
    with pytest.raises(SpaceError, match="must define SPACE"):
        get_space("mypkg.broken")


def test_every_builtin_space_describes_each_dimension():
    for space in BUILTIN.values():
        rows = space.table()
        assert rows and all(why for *_, why in rows)
        scales = {name: scale for name, _, scale, _ in rows}
        assert scales["learning_rate"] == "log"


def test_random_trial_int_log_stays_in_range():
    t = RandomTrial(3)
    values = [t.suggest_int("w", 16, 128, log=True) for _ in range(300)]
    assert min(values) >= 16 and max(values) <= 128
    assert sum(v < 45 for v in values) > 100  # log scale: ~half below the geometric mean (45)
