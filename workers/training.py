"""The lab's training function, done properly: preloaded tensors, seeded shuffles, resumable state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from mnistlab.datasets import Split
from mnistlab.spec import OPTIMIZERS, JobConfig
from models_store.architectures import eval_batch_size, initial_model, uses_channels_last
from workers.augmentation import augment, batch_generator, batch_seed, is_identity

# The optimizer factory: the spec's name -> torch's class; the spec's knobs are its keyword arguments.
OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
assert set(OPTIMIZER_CLASSES) == set(OPTIMIZERS), "every optimizer of mnistlab/spec.py needs its torch class"


def make_optimizer(config: JobConfig, model: nn.Module) -> torch.optim.Optimizer:
    return OPTIMIZER_CLASSES[config.optimizer](model.parameters(), lr=config.lr, **config.optimizer_params)


def make_scheduler(config: JobConfig, optimizer: torch.optim.Optimizer) -> LRScheduler | None:
    """The job's learning-rate schedule, stepped after every batch over all of its epochs."""
    total_steps = config.epochs * config.steps_per_epoch
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if config.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    assert config.lr_schedule == "constant", config.lr_schedule
    return None


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler | None
    generator: torch.Generator  # drives the shuffles; saved so a resumed job shuffles the same way
    seed: int = 0  # with (epoch, batch), what each batch's augmentation draws from
    augmentation: dict[str, float] | None = None
    label_smoothing: float = 0.0
    channels_last: bool = False
    random_layers: bool = False  # dropout: its masks come from torch's global generator, seeded per batch
    epoch: int = 0
    best_epoch: int | None = None
    best_test_accuracy: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    # Where an interrupted epoch stopped: its batch, its loss so far, and the shuffle's state at its start.
    step_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    epoch_rng_state: torch.Tensor | None = None


def new_state(config: JobConfig, device: torch.device) -> TrainState:
    model = initial_model(config.model, hidden=config.hidden, seed=config.seed).to(device)
    if uses_channels_last(config.model):
        model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(config, model)
    return TrainState(model=model, optimizer=optimizer, scheduler=make_scheduler(config, optimizer),
                      generator=generator, seed=config.seed,
                      augmentation=None if is_identity(config.augmentation) else config.augmentation,
                      label_smoothing=config.label_smoothing, channels_last=uses_channels_last(config.model),
                      random_layers=any(isinstance(layer, nn.Dropout) for layer in model.modules()))


def checkpoint_payload(state: TrainState, config: JobConfig) -> dict[str, Any]:
    """A plain dict of tensors and plain values, so it loads with weights_only=True."""
    return {
        "model": {k: v.detach().cpu() for k, v in state.model.state_dict().items()},
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "epoch": state.epoch,
        "rng_state": state.generator.get_state(),
        "config": config.as_dict(),
        "best_epoch": state.best_epoch,
        "best_test_accuracy": state.best_test_accuracy,
        "history": list(state.history),
        "metrics": state.history[-1] if state.history else None,
        "step_in_epoch": state.step_in_epoch,
        "epoch_loss_sum": state.epoch_loss_sum,
        "epoch_rng_state": state.epoch_rng_state,
    }


def restore_state(payload: dict[str, Any], config: JobConfig, device: torch.device) -> TrainState:
    state = new_state(config, device)
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    if state.scheduler is not None:  # after the optimizer: the schedule's state is what sets the next lr
        state.scheduler.load_state_dict(payload["scheduler"])
    state.generator.set_state(payload["rng_state"])
    state.epoch = payload["epoch"]
    state.best_epoch = payload["best_epoch"]
    state.best_test_accuracy = payload["best_test_accuracy"]
    state.history = list(payload["history"])
    state.step_in_epoch = payload.get("step_in_epoch", 0)
    state.epoch_loss_sum = payload.get("epoch_loss_sum", 0.0)
    state.epoch_rng_state = payload.get("epoch_rng_state")
    return state


class Stopped(Exception):
    """Training stopped at a batch boundary because should_stop said so."""


def train_one_epoch(state: TrainState, train: Split, *, batch_size: int,
                    on_batch: Callable[[int, int], bool] | None = None) -> float:
    """One pass over shuffled mini-batches; returns the mean training loss. on_batch(done, total) -> stop?

    Stopping leaves the state able to finish this very epoch later (same order, same loss), so an epoch
    interrupted and resumed gives the same weights as one never interrupted.
    """
    model, optimizer = state.model, state.optimizer
    model.train()
    device = train.images.device
    n = len(train)
    size = batch_size or n
    if state.step_in_epoch == 0:
        state.epoch_rng_state = state.generator.get_state()
    else:  # resuming mid-epoch: draw the same permutation again
        assert state.epoch_rng_state is not None
        state.generator.set_state(state.epoch_rng_state)
    order = torch.randperm(n, generator=state.generator).to(device)
    steps = -(-n // size)
    loss_sum = torch.tensor(state.epoch_loss_sum, device=device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=state.label_smoothing)
    for step in range(state.step_in_epoch, steps):
        if on_batch is not None and on_batch(step, steps):
            state.step_in_epoch, state.epoch_loss_sum = step, float(loss_sum)
            raise Stopped
        index = order[step * size:(step + 1) * size]
        images = train.images[index]
        if state.augmentation is not None:
            images = augment(images, state.augmentation, batch_generator(state.seed, state.epoch, step))
        if state.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if state.random_layers:  # the same dropout masks for this batch whenever it is trained (resumes too)
            torch.manual_seed(batch_seed(state.seed, state.epoch, step) ^ 0x5EED)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), train.labels[index])
        loss.backward()
        optimizer.step()
        if state.scheduler is not None:
            state.scheduler.step()
        loss_sum += loss.detach() * len(index)
    state.step_in_epoch, state.epoch_loss_sum = 0, 0.0
    return float(loss_sum / n)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, *, batch_size: int | None = None) -> float:
    model.eval()
    if batch_size is None:
        batch_size = eval_batch_size(model, split.images.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.images.device)
    for start in range(0, len(split), batch_size):
        logits = model(split.images[start:start + batch_size])
        correct += (logits.argmax(1) == split.labels[start:start + batch_size]).sum()
    return int(correct) / len(split)


def run_epoch(state: TrainState, train: Split, test: Split, *, batch_size: int,
              on_batch: Callable[[int, int], bool] | None = None) -> dict[str, float]:
    """Train one epoch, evaluate, update best, and return the epoch's metrics row."""
    started = time.perf_counter()
    loss = train_one_epoch(state, train, batch_size=batch_size, on_batch=on_batch)
    train_accuracy = accuracy(state.model, train)
    test_accuracy = accuracy(state.model, test)
    seconds = time.perf_counter() - started
    state.epoch += 1
    if state.best_test_accuracy is None or test_accuracy > state.best_test_accuracy:
        state.best_epoch, state.best_test_accuracy = state.epoch, test_accuracy
    metric = {"epoch": state.epoch, "loss": loss, "train_accuracy": train_accuracy,
              "test_accuracy": test_accuracy, "seconds": seconds,
              "images_per_second": len(train) / seconds}
    state.history.append(metric)
    return metric
