import json

import pytest
import yaml

from trainers.config import CONFIG_VERSION, ConfigError, TrainConfig, describe_fields, load_config


def test_default_round_trips_through_yaml_and_json():
    config = TrainConfig().replace(optimizer={"name": "sgd", "momentum": 0.995, "learning_rate": 3e-4},
                                   model={"backbone": "resnet50", "dropout": 0.25})
    assert TrainConfig.from_yaml(config.to_yaml()) == config
    assert TrainConfig.from_json(config.to_json()) == config
    # Plain data only: the YAML is safe_load-able and holds no Python tags.
    assert "!!python" not in config.to_yaml()
    assert yaml.safe_load(config.to_yaml())["optimizer"]["momentum"] == 0.995


def test_export_file_is_accepted(tmp_path):
    config = TrainConfig().replace(training={"epochs": 3})
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump({"study": "x", "trial": 4, "metrics": {"dev_error": 0.1}, "config": config.to_dict()}))
    assert load_config(str(path)) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"model": {"dropuot": 0.2}}, "unknown key 'model.dropuot'; did you mean 'model.dropout'?"),
        ({"modle": {}}, "unknown key 'modle'; did you mean 'model'?"),
        ({"model": {"dropout": 1.5}}, "model.dropout must be in [0.0, 0.9], got 1.5"),
        ({"model": {"dropout": "high"}}, "model.dropout must be a number, got 'high'"),
        ({"model": {"depth": 2.5}}, "model.depth must be an integer, got 2.5"),
        ({"model": {"depth": 0}}, "model.depth must be in [1, 6], got 0"),
        ({"model": {"backbone": "resnet5"}}, "model.backbone is 'resnet5' (did you mean 'resnet50'?)"),
        ({"model": {"batch_norm": "middle"}}, "model.batch_norm is 'middle'; choose one of: none, before, after"),
        ({"optimizer": {"learning_rate": 0}}, "optimizer.learning_rate must be in (0.0, 10.0], got 0"),
        ({"optimizer": {"learning_rate": -0.1}}, "optimizer.learning_rate must be in (0.0, 10.0]"),
        ({"optimizer": {"momentum": 1.0}}, "optimizer.momentum must be in [0.0, 0.9999], got 1.0"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer.name is 'rmsprop'"),
        ({"training": {"epochs": 0}}, "training.epochs must be in [1, 10000], got 0"),
        ({"training": {"batch_size": True}}, "training.batch_size must be an integer, got True"),
        ({"augment": {"policy": "mixupp"}}, "augment.policy is 'mixupp' (did you mean 'mixup'?)"),
        ({"data": {"image_size": 0}}, "data.image_size must be at least 1, got 0"),
        ({"data": {"dev_fraction": 0.4, "test_fraction": 0.4, "train_dev_fraction": 0.2}}, "must leave at least 10% for train"),
        ({"version": CONFIG_VERSION + 1}, f"configuration version {CONFIG_VERSION + 1} is newer"),
        ({"model": [1, 2]}, "model must be a mapping, got list"),
    ],
)
def test_bad_values_are_rejected_with_the_field_and_range(data, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert message in str(err.value)


def test_not_yaml_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml("model: {dropout: [")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yaml"))


def test_configs_are_frozen_plain_data():
    config = TrainConfig()
    with pytest.raises(Exception):
        config.model = None  # type: ignore[misc]
    assert json.loads(config.to_json())["version"] == CONFIG_VERSION


def test_every_field_is_described():
    rows = describe_fields()
    names = [r[0] for r in rows]
    assert "optimizer.learning_rate" in names and "model.batch_norm" in names
    assert all(doc for _, _, doc in rows)
