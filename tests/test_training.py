from pathlib import Path

import pytest
import torch

from mnistlab.datasets import load_split
from models_store import checkpoints
from workers.devices import available_devices, describe, resolve
from workers.training import (Stopped, TrainingConfig, batches_per_epoch, checkpoint_payload, new_state, restore_state,
                              run_epoch)

CPU = torch.device("cpu")


def _config(**overrides: object) -> TrainingConfig:
    values: dict[str, object] = dict(dataset="mnist", model="cnn", optimizer="adam", epochs=3, batch_size=256,
                                     seed=3, lr=0.001)
    values.update(overrides)
    return TrainingConfig(**values)  # type: ignore[arg-type]


def _train(small_data_dir: Path, config: TrainingConfig, epochs: int):  # type: ignore[no-untyped-def]
    train = load_split(small_data_dir, "mnist", train=True)
    test = load_split(small_data_dir, "mnist", train=False)
    state = new_state(config, CPU)
    rows = [run_epoch(state, train, test, batch_size=config.batch_size) for _ in range(epochs)]
    return state, rows


def test_dataloader_arithmetic_of_the_lab() -> None:
    assert batches_per_epoch(60_000, 64) == (938, 32)
    assert batches_per_epoch(60_000, 0) == (1, 60_000)
    assert batches_per_epoch(60_000, 512) == (118, 96)


def test_training_learns_and_reports_each_epoch(small_data_dir: Path) -> None:
    _, rows = _train(small_data_dir, _config(batch_size=64), 2)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["loss"] < rows[0]["loss"]
    assert rows[1]["test_accuracy"] > 0.85


def test_same_seed_gives_bit_identical_weights(small_data_dir: Path) -> None:
    first, _ = _train(small_data_dir, _config(model="ffnn", hidden=64, optimizer="sgd", lr=0.05, momentum=0.9), 2)
    second, _ = _train(small_data_dir, _config(model="ffnn", hidden=64, optimizer="sgd", lr=0.05, momentum=0.9), 2)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resuming_from_a_checkpoint_is_bit_identical_to_not_stopping(small_data_dir: Path, tmp_path: Path) -> None:
    config = _config()
    uninterrupted, _ = _train(small_data_dir, config, 3)
    halfway, _ = _train(small_data_dir, config, 1)
    path = tmp_path / "last.pt"
    checkpoints.save_atomic(checkpoint_payload(halfway, config), path)
    resumed = restore_state(checkpoints.load(path), config, CPU)
    train = load_split(small_data_dir, "mnist", train=True)
    test = load_split(small_data_dir, "mnist", train=False)
    for _ in range(2):
        run_epoch(resumed, train, test, batch_size=config.batch_size)
    assert resumed.epoch == 3 and len(resumed.history) == 3
    for a, b in zip(uninterrupted.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_full_batch_gradient_descent_takes_one_step_per_epoch(small_data_dir: Path) -> None:
    state, rows = _train(small_data_dir, _config(model="linear", optimizer="sgd", lr=0.5, batch_size=0), 2)
    assert state.optimizer.state_dict()["state"] == {}  # plain SGD keeps no state...
    assert rows[1]["loss"] < rows[0]["loss"]  # ...but each epoch's single step still lowers the loss


@pytest.mark.parametrize("device", available_devices())
def test_a_job_trains_on_each_device_this_machine_has(small_data_dir: Path, device: str) -> None:
    """On a GPU host this covers cuda (and mps on a Mac); everywhere it covers the CPU."""
    target = resolve(device)
    train = load_split(small_data_dir, "mnist", train=True).to(target)
    test = load_split(small_data_dir, "mnist", train=False).to(target)
    state = new_state(_config(batch_size=64), target)
    row = run_epoch(state, train, test, batch_size=64)
    assert row["test_accuracy"] > 0.8
    assert next(state.model.parameters()).device.type == target.type
    assert describe(target).startswith(target.type)


def test_an_epoch_stopped_mid_way_and_resumed_from_its_checkpoint_is_bit_identical(small_data_dir: Path,
                                                                                    tmp_path: Path) -> None:
    config = _config()
    train = load_split(small_data_dir, "mnist", train=True)
    test = load_split(small_data_dir, "mnist", train=False)
    whole = new_state(config, CPU)
    expected = [run_epoch(whole, train, test, batch_size=config.batch_size) for _ in range(2)]
    stopped = new_state(config, CPU)
    run_epoch(stopped, train, test, batch_size=config.batch_size)
    with pytest.raises(Stopped):
        run_epoch(stopped, train, test, batch_size=config.batch_size, on_batch=lambda done, total: done == 7)
    path = tmp_path / "last.pt"
    checkpoints.save_atomic(checkpoint_payload(stopped, config), path)
    resumed = restore_state(checkpoints.load(path), config, CPU)
    assert (resumed.epoch, resumed.step_in_epoch) == (1, 7)
    row = run_epoch(resumed, train, test, batch_size=config.batch_size)
    assert row["loss"] == expected[1]["loss"] and row["test_accuracy"] == expected[1]["test_accuracy"]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
