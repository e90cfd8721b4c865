"""The job spec: defaults, cross-field rules and derived figures, in one place."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mnistlab import spec
from mnistlab.spec import JobConfig, JobRequest, batches_per_epoch
from mnistlab.tables import Job

BASE = {"dataset": "mnist", "model": "cnn", "optimizer": "adam"}


def test_dataloader_arithmetic_of_the_lab() -> None:
    assert batches_per_epoch(60_000, 64) == (938, 32)
    assert batches_per_epoch(60_000, 0) == (1, 60_000)
    assert batches_per_epoch(60_000, 512) == (118, 96)


def test_a_request_resolves_to_a_complete_config() -> None:
    config = JobRequest(**BASE).resolve(seed=7)
    assert config == JobConfig(dataset="mnist", model="cnn", optimizer="adam", epochs=100, batch_size=128, seed=7,
                               lr=0.001, optimizer_params={}, hidden=None, device="auto")
    assert (config.steps_per_epoch, config.last_batch_size) == (469, 96)
    ffnn = JobRequest(**{**BASE, "model": "ffnn", "optimizer": "sgd", "seed": 3}).resolve(seed=7)
    assert (ffnn.hidden, ffnn.lr, ffnn.seed) == (128, 0.005, 3)
    assert ffnn.optimizer_params == {"momentum": 0.0, "nesterov": False}  # every knob, defaults filled in


def test_each_optimizer_gets_exactly_its_own_knobs_with_their_defaults() -> None:
    for name, optimizer in spec.OPTIMIZERS.items():
        config = JobRequest(**{**BASE, "optimizer": name}).resolve(seed=0)
        assert config.optimizer_params == {knob: p.default for knob, p in optimizer.hyper.items()}
        assert config.lr == optimizer.default_lr
    assert spec.OPTIMIZERS["adamw"].hyper["weight_decay"].default == 0.01


@pytest.mark.parametrize(("request_fields", "message"), [
    ({"hidden": 64}, "hidden applies to model 'ffnn' only"),
    ({"momentum": 0.9}, "momentum applies to optimizer 'sgd' only, not 'adam'"),
    ({"optimizer": "sgd", "nesterov": True}, "nesterov needs momentum > 0"),
    ({"optimizer": "adamw", "momentum": 0.5}, "momentum applies to optimizer 'sgd' only, not 'adamw'"),
    ({"optimizer": "sgd", "weight_decay": 0.1}, "weight_decay applies to optimizer 'adamw' only"),
])
def test_cross_field_rules_say_what_is_wrong(request_fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JobRequest(**{**BASE, **request_fields})


def test_a_config_round_trips_through_the_jobs_table() -> None:
    config = JobRequest(**{**BASE, "optimizer": "sgd", "momentum": 0.9, "nesterov": True}).resolve(seed=1)
    assert Job.from_config(config).config == config


def test_the_description_for_forms_lists_every_choice_and_knob() -> None:
    described = spec.describe()
    assert [d["name"] for d in described["datasets"]] == list(spec.DATASET_NAMES)
    assert [m["name"] for m in described["models"]] == list(spec.ARCHITECTURES) == ["linear", "ffnn", "cnn", "convnet"]
    assert described["devices"] == list(spec.DEVICES)
    optimizers = {o["name"]: o for o in described["optimizers"]}
    assert list(optimizers) == ["sgd", "adam", "adamw"]
    assert optimizers["adamw"]["options"]["weight_decay"]["default"] == 0.01
    assert optimizers["sgd"]["options"]["nesterov"] == {"default": False, "type": "boolean",
                                                         "description": "Nesterov momentum (needs momentum > 0)"}
    assert optimizers["sgd"]["options"]["momentum"]["exclusiveMaximum"] == 1
    assert described["fields"]["epochs"]["maximum"] == spec.MAX_EPOCHS
    assert described["augmentation"]["presets"]["digits"] == spec.AUGMENTATION_PRESETS["digits"].model_dump()
    assert set(described["augmentation"]["fields"]) == {"rotation", "scale", "translation", "flip", "erasing"}
    assert described["augmentation"]["fields"]["rotation"]["maximum"] == 45
    assert described["fields"]["label_smoothing"]["maximum"] == spec.MAX_LABEL_SMOOTHING


def test_augmentation_by_preset_or_by_value_resolves_to_explicit_values() -> None:
    digits = JobRequest(**BASE, augmentation="digits").resolve(seed=0)
    assert digits.augmentation == {"rotation": 10.0, "scale": 0.1, "translation": 0.1, "flip": 0.0, "erasing": 0.0}
    explicit = JobRequest(**BASE, augmentation={"flip": 0.5}).resolve(seed=0)
    assert explicit.augmentation == {"rotation": 0.0, "scale": 0.0, "translation": 0.0, "flip": 0.5, "erasing": 0.0}
    assert JobRequest(**BASE, augmentation="none").resolve(seed=0).augmentation is None
    assert JobRequest(**BASE).resolve(seed=0).augmentation is None
    config = JobRequest(**BASE, augmentation="clothes", label_smoothing=0.1).resolve(seed=0)
    assert Job.from_config(config).config == config


@pytest.mark.parametrize(("request_fields", "message"), [
    ({"augmentation": {"shear": 5}}, "shear"),
    ({"augmentation": {"rotation": 90}}, "less than or equal to 45"),
    ({"augmentation": {"erasing": -0.1}}, "greater than or equal to 0"),
    ({"augmentation": "heavy"}, "'none', 'digits' or 'clothes'"),
    ({"label_smoothing": 0.9}, "less than or equal to 0.5"),
])
def test_bad_augmentation_says_what_is_wrong(request_fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JobRequest(**{**BASE, **request_fields})
