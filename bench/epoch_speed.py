"""One epoch (train + evaluation on train and test) of mnistlab's loop against two baselines, per architecture.

    .venv/bin/python -m bench.epoch_speed --data ../shared/datasets [--device cuda] [--repeats 2]

Baselines, measured in the same run: (a) a plain PyTorch loop over the same preloaded tensors doing the
same work; (b) the lab's loop: torchvision Dataset + DataLoader(ToTensor). Targets: >= 0.95x (a), >= 2x (b).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets as tv_datasets
from torchvision.transforms import ToTensor

from bench.common import best_of, describe_machine
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import JobConfig
from workers.training import new_state, run_epoch

BATCH = 512


def plain_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                test_images: torch.Tensor, test_labels: torch.Tensor) -> None:
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(labels)).to(images.device)
    for start in range(0, len(labels), BATCH):
        index = order[start:start + BATCH]
        optimizer.zero_grad()
        loss_fn(model(images[index]), labels[index]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for x, y in ((images, labels), (test_images, test_labels)):
            (model(x).argmax(1) == y).sum().item()


def dataloader_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, train_loader: DataLoader,
                     eval_loaders: list[DataLoader], device: torch.device) -> None:
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for loader in eval_loaders:
            for x, y in loader:
                (model(x.to(device)).argmax(1) == y.to(device)).sum().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST/raw (e.g. ../shared/datasets)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(describe_machine(args.device))
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        import_all(args.data, data_dir)
        train = load_split(data_dir, "mnist", train=True).to(device)
        test = load_split(data_dir, "mnist", train=False).to(device)
        tv_train = tv_datasets.MNIST(str(data_dir), train=True, transform=ToTensor())
        tv_test = tv_datasets.MNIST(str(data_dir), train=False, transform=ToTensor())
        train_loader = DataLoader(tv_train, batch_size=BATCH, shuffle=True)
        eval_loaders = [DataLoader(tv_train, batch_size=1000), DataLoader(tv_test, batch_size=1000)]
        print(f"{'model':<8}{'mnistlab s':>12}{'plain s':>10}{'DataLoader s':>14}{'vs plain':>10}{'vs DataLoader':>15}")
        for model_name in ("linear", "ffnn", "cnn"):
            config = JobConfig(dataset="mnist", model=model_name, optimizer="adam", epochs=1,
                               batch_size=BATCH, seed=0, lr=0.001)
            state = new_state(config, device)
            ours = best_of(args.repeats, lambda: run_epoch(state, train, test, batch_size=BATCH), sync)
            plain_state = new_state(config, device)
            plain = best_of(args.repeats, lambda: plain_epoch(plain_state.model, plain_state.optimizer, train.images,
                                                              train.labels, test.images, test.labels), sync)
            lab_state = new_state(config, device)
            lab = best_of(1, lambda: dataloader_epoch(lab_state.model, lab_state.optimizer, train_loader,
                                                      eval_loaders, device), sync)
            print(f"{model_name:<8}{ours:>12.2f}{plain:>10.2f}{lab:>14.2f}{plain / ours:>9.2f}x{lab / ours:>14.2f}x")


if __name__ == "__main__":
    main()
