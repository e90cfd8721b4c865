from pathlib import Path

import pytest
import torch

from mnistlab.datasets import Split, load_split
from mnistlab.spec import JobConfig, early_stop_reason
from models_store import checkpoints
from workers.devices import available_devices, describe, resolve
from workers.training import (
    Stopped,
    checkpoint_payload,
    make_optimizer,
    new_state,
    restore_state,
    run_epoch,
)

CPU = torch.device("cpu")


pytestmark = pytest.mark.datasets


def _config(**overrides: object) -> JobConfig:
    values: dict[str, object] = dict(dataset="mnist", model="cnn", optimizer="adam", epochs=3, batch_size=256,
                                     seed=3, lr=0.001)
    values.update(overrides)
    return JobConfig(**values)  # type: ignore[arg-type]


EVERY_AUGMENTATION = {"rotation": 10.0, "scale": 0.1, "translation": 0.1, "flip": 0.5, "erasing": 0.5}
# Every way a job can train that carries state from batch to batch or draws random numbers.
RESUMABLE = [
    _config(),
    _config(optimizer="adamw", optimizer_params={"weight_decay": 0.05}),
    _config(optimizer="sgd", lr=0.05, optimizer_params={"momentum": 0.9, "nesterov": True}),
    _config(lr_schedule="onecycle", lr=0.01),
    _config(optimizer="sgd", lr=0.05, lr_schedule="cosine", optimizer_params={"momentum": 0.9, "nesterov": False}),
    _config(augmentation=EVERY_AUGMENTATION, label_smoothing=0.1),
    # The convnet with every augmentation trains for seconds: in the full suite, not the quick loop.
    pytest.param(_config(model="convnet", optimizer="adamw", optimizer_params={"weight_decay": 0.01},
                         lr_schedule="onecycle", lr=0.005, batch_size=512, augmentation=EVERY_AUGMENTATION,
                         label_smoothing=0.1), marks=pytest.mark.slow),
]
RESUMABLE_IDS = ["adam", "adamw", "sgd-nesterov", "adam-onecycle", "sgd-cosine", "augmented", "convnet-augmented"]


def _train(splits: tuple[Split, Split], config: JobConfig, epochs: int):  # type: ignore[no-untyped-def]
    return _train_on(*splits, config, epochs)


def _train_on(train: Split, test: Split, config: JobConfig, epochs: int):  # type: ignore[no-untyped-def]
    state = new_state(config, CPU)
    rows = [run_epoch(state, train, test, batch_size=config.batch_size) for _ in range(epochs)]
    return state, rows


@pytest.fixture(scope="module")
def small_splits(small_data_dir: Path) -> tuple[Split, Split]:
    """The small copy's 6,000 training and 1,000 test images, read once for the module."""
    return load_split(small_data_dir, "mnist", train=True), load_split(small_data_dir, "mnist", train=False)


def _few_images(splits: tuple[Split, Split], config: JobConfig) -> tuple[Split, Split]:
    """Four batches of training images and 256 test images: bit-identity needs several batches of every kind of
    state (the optimizer's moments, the schedule, the shuffles, the augmentation's draws), not a useful model."""
    (train, test), count = splits, 4 * config.batch_size
    return Split(train.images[:count], train.labels[:count]), Split(test.images[:256], test.labels[:256])


def test_training_learns_and_reports_each_epoch(small_splits: tuple[Split, Split]) -> None:
    _, rows = _train(small_splits, _config(batch_size=64), 2)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["loss"] < rows[0]["loss"]
    assert rows[1]["test_accuracy"] > 0.85


def test_same_seed_gives_bit_identical_weights(small_splits: tuple[Split, Split]) -> None:
    first, _ = _train(small_splits, _config(model="ffnn", hidden=64, optimizer="sgd", lr=0.05,
                                             optimizer_params={"momentum": 0.9, "nesterov": False}), 2)
    second, _ = _train(small_splits, _config(model="ffnn", hidden=64, optimizer="sgd", lr=0.05,
                                             optimizer_params={"momentum": 0.9, "nesterov": False}), 2)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("config", RESUMABLE, ids=RESUMABLE_IDS)
def test_resuming_from_a_checkpoint_is_bit_identical_to_not_stopping(small_splits: tuple[Split, Split],
                                                                     tmp_path: Path, config: JobConfig) -> None:
    train, test = _few_images(small_splits, config)
    uninterrupted, _ = _train_on(train, test, config, 3)
    halfway, _ = _train_on(train, test, config, 1)
    path = tmp_path / "last.pt"
    checkpoints.save_atomic(checkpoint_payload(halfway, config), path)
    resumed = restore_state(checkpoints.load(path), config, CPU)
    for _ in range(2):
        run_epoch(resumed, train, test, batch_size=config.batch_size)
    assert resumed.epoch == 3 and len(resumed.history) == 3
    for a, b in zip(uninterrupted.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_augmentation_changes_what_the_model_learns_and_the_same_seed_repeats_it(
        small_splits: tuple[Split, Split]) -> None:
    train, test = _few_images(small_splits, _config())
    plain, plain_rows = _train_on(train, test, _config(), 1)
    augmented, rows = _train_on(train, test, _config(augmentation=EVERY_AUGMENTATION), 1)
    again, again_rows = _train_on(train, test, _config(augmentation=EVERY_AUGMENTATION), 1)
    assert rows[0]["loss"] != plain_rows[0]["loss"]  # harder images: the augmentation was applied
    assert rows[0]["loss"] == again_rows[0]["loss"]
    for a, b in zip(augmented.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_full_batch_gradient_descent_takes_one_step_per_epoch(small_splits: tuple[Split, Split]) -> None:
    state, rows = _train(small_splits, _config(model="linear", optimizer="sgd", lr=0.5, batch_size=0), 2)
    assert state.optimizer.state_dict()["state"] == {}  # plain SGD keeps no state...
    assert rows[1]["loss"] < rows[0]["loss"]  # ...but each epoch's single step still lowers the loss


@pytest.mark.parametrize("device", available_devices())
def test_a_job_trains_on_each_device_this_machine_has(small_splits: tuple[Split, Split], device: str) -> None:
    """On a GPU host this covers cuda (and mps on a Mac); everywhere it covers the CPU."""
    target = resolve(device)
    train, test = (split.to(target) for split in small_splits)
    state = new_state(_config(batch_size=64), target)
    row = run_epoch(state, train, test, batch_size=64)
    assert row["test_accuracy"] > 0.8
    assert next(state.model.parameters()).device.type == target.type
    assert describe(target).startswith(target.type)


@pytest.mark.parametrize("config", RESUMABLE, ids=RESUMABLE_IDS)
def test_an_epoch_stopped_mid_way_and_resumed_from_its_checkpoint_is_bit_identical(
        small_splits: tuple[Split, Split], tmp_path: Path, config: JobConfig) -> None:
    train, test = _few_images(small_splits, config)
    halfway = -(-len(train) // config.batch_size) // 2  # the batch the epoch stops at: mid-epoch
    whole = new_state(config, CPU)
    expected = [run_epoch(whole, train, test, batch_size=config.batch_size) for _ in range(2)]
    stopped = new_state(config, CPU)
    run_epoch(stopped, train, test, batch_size=config.batch_size)
    with pytest.raises(Stopped):
        run_epoch(stopped, train, test, batch_size=config.batch_size,
                  on_batch=lambda done, total: done == halfway)
    path = tmp_path / "last.pt"
    checkpoints.save_atomic(checkpoint_payload(stopped, config), path)
    resumed = restore_state(checkpoints.load(path), config, CPU)
    assert halfway >= 2 and (resumed.epoch, resumed.step_in_epoch) == (1, halfway)
    row = run_epoch(resumed, train, test, batch_size=config.batch_size)
    assert row["loss"] == expected[1]["loss"] and row["test_accuracy"] == expected[1]["test_accuracy"]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_optimizer_gets_the_jobs_knobs() -> None:
    model = torch.nn.Linear(4, 2)
    adamw = make_optimizer(_config(optimizer="adamw", optimizer_params={"weight_decay": 0.05}), model)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["weight_decay"] == 0.05
    sgd = make_optimizer(_config(optimizer="sgd", lr=0.1, optimizer_params={"momentum": 0.9, "nesterov": True}), model)
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["nesterov"]) == (0.1, 0.9, True)


def test_weight_decay_and_nesterov_change_what_is_learned(small_splits: tuple[Split, Split]) -> None:
    """The knobs reach the optimizer: the same seed with and without them ends in different weights."""
    def weights(config: JobConfig) -> list[torch.Tensor]:
        state, _ = _train(small_splits, config, 1)
        return list(state.model.state_dict().values())

    plain_adamw = weights(_config(model="linear", optimizer="adamw", optimizer_params={"weight_decay": 0.0}))
    decayed = weights(_config(model="linear", optimizer="adamw", optimizer_params={"weight_decay": 0.5}))
    assert not torch.equal(plain_adamw[0], decayed[0])
    assert decayed[0].norm() < plain_adamw[0].norm()  # decay pulls the weights towards zero
    momentum = weights(_config(model="linear", optimizer="sgd", lr=0.05,
                               optimizer_params={"momentum": 0.9, "nesterov": False}))
    nesterov = weights(_config(model="linear", optimizer="sgd", lr=0.05,
                               optimizer_params={"momentum": 0.9, "nesterov": True}))
    assert not torch.equal(momentum[0], nesterov[0])


@pytest.mark.parametrize(("schedule", "expected"), [
    ("constant", lambda lrs, peak: all(lr == peak for lr in lrs)),
    # Cosine: from lr down to 0 at the job's very last step.
    ("cosine", lambda lrs, peak: lrs[0] == peak and lrs[-1] < 1e-3 * peak and lrs == sorted(lrs, reverse=True)),
    # One cycle: up to lr (the peak) at 30% of the steps, then down far below where it started.
    ("onecycle", lambda lrs, peak: abs(max(lrs) - peak) < 1e-9 and lrs.index(max(lrs)) in range(25, 35)
     and lrs[0] < peak / 10 and lrs[-1] < lrs[0] / 100),
])
def test_learning_rate_schedules_step_per_batch_over_the_whole_job(schedule: str, expected) -> None:  # type: ignore[no-untyped-def]
    config = _config(lr_schedule=schedule, lr=0.01, epochs=2, batch_size=1200)  # 50 steps an epoch, 100 in all
    state = new_state(config, CPU)
    model = state.model
    images, labels = torch.rand(1200, 1, 28, 28), torch.randint(0, 10, (1200,))
    lrs = []
    for _ in range(config.epochs * config.steps_per_epoch):
        lrs.append(state.optimizer.param_groups[0]["lr"])
        state.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images[:8]), labels[:8]).backward()
        state.optimizer.step()
        if state.scheduler is not None:
            state.scheduler.step()
    assert len(lrs) == 100 and expected(lrs, 0.01), lrs[::10]


@pytest.mark.parametrize(("rule", "accuracies", "reason"), [
    (None, [0.5, 0.6], None),
    ({"target_test_accuracy": 0.9}, [0.5, 0.89], None),
    ({"target_test_accuracy": 0.9}, [0.5, 0.9], "reached the target test accuracy 0.9 at epoch 2 (0.9000)"),
    ({"patience": 2, "min_delta": 0.0}, [0.5, 0.6, 0.6], None),
    ({"patience": 2, "min_delta": 0.0}, [0.5, 0.6, 0.6, 0.59],
     "no gain above 0 in test accuracy for 2 epochs (best 0.6000 at epoch 2)"),
    # Gains of 0.005 are no gains when min_delta is 0.01.
    ({"patience": 2, "min_delta": 0.01}, [0.5, 0.505, 0.51],
     "no gain above 0.01 in test accuracy for 2 epochs (best 0.5000 at epoch 1)"),
])
def test_early_stopping_decides_from_the_history_alone(rule, accuracies, reason) -> None:  # type: ignore[no-untyped-def]
    assert early_stop_reason(rule, accuracies) == reason
