#!/usr/bin/env python3
"""Remake the shipped default models (models_store/shipped/) by training them with mnistlab itself.

    .venv/bin/python scripts/train_default_models.py --datasets ../shared/datasets
    .venv/bin/python scripts/train_default_models.py --export-only   # only remake the .onnx files

Each data set's model is trained as an ordinary mnistlab job (same worker code, same checkpoints) in a
throw-away MNISTLAB_HOME; the best checkpoint's weights, a card (the recipe, the job's whole config, the
accuracy, the training time) and the network exported to ONNX (what the server runs with onnxruntime)
are written next to the code. On two CPU cores: about 12 minutes for MNIST and
25 for Fashion-MNIST (docs/benchmarks.md). The recipes are mnistlab jobs like any other: POST one to /jobs to
see it train.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from mnistlab import schema
from mnistlab.datasets import import_all
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from mnistlab.spec import DATASET_CLASSES, JobRequest, JobStatus
from mnistlab.tables import Job
from models_store import checkpoints
from models_store.architectures import build_model
from models_store.onnx_export import to_onnx
from models_store.shipped import SHIPPED_DIR, load_shipped, shipped_onnx_path
from workers.worker import Worker

RECIPES = {
    "mnist": {"dataset": "mnist", "model": "convnet", "optimizer": "adamw", "lr": 0.005, "lr_schedule": "onecycle",
              "epochs": 12, "batch_size": 128, "augmentation": "digits", "seed": 0},
    "fashion-mnist": {"dataset": "fashion-mnist", "model": "convnet", "optimizer": "adamw", "lr": 0.005,
                      "lr_schedule": "onecycle", "epochs": 30, "batch_size": 128,
                      "augmentation": "clothes", "seed": 0},
}


def export_onnx(name: str) -> None:
    """The shipped weights as the ONNX file the server runs (tests/service/test_export_api.py holds it to
    PyTorch's answers on the whole test set)."""
    shipped = load_shipped(name)
    network = build_model(shipped.model)
    network.load_state_dict(shipped.weights)
    data = to_onnx(network.eval(), dataset=name, architecture=shipped.model, class_names=DATASET_CLASSES[name],
                   job_id=None, epoch=shipped.epoch, test_accuracy=shipped.test_accuracy)
    checkpoints.write_atomic(shipped_onnx_path(name), lambda handle: handle.write(data))
    print(f"{name}: exported to {shipped_onnx_path(name)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, help="folder with MNIST/raw and FashionMNIST/raw")
    parser.add_argument("--only", choices=sorted(RECIPES), help="remake one data set's model")
    parser.add_argument("--export-only", action="store_true", help="only export the shipped weights to ONNX")
    args = parser.parse_args()
    names = [args.only] if args.only else list(RECIPES)
    if args.export_only:
        for name in names:
            export_onnx(name)
        return
    if args.datasets is None:
        parser.error("--datasets is required to train")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), download=False)
        settings.ensure_dirs()
        import_all(args.datasets, settings.datasets_dir)
        engine = make_engine(settings.db_url)
        schema.upgrade(engine)
        sessions = make_sessions(engine)
        for name in names:
            recipe = RECIPES[name]
            with sessions.begin() as session:
                job = Job.from_config(JobRequest(**recipe).resolve(seed=0), status=JobStatus.queued)
                session.add(job)
            job_id = job.id
            started = time.perf_counter()
            Worker(settings, sessions=sessions).run(burst=True)
            seconds = time.perf_counter() - started
            best = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "best"))
            last = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last"))
            weights = {key: tensor.contiguous() for key, tensor in best["model"].items()}
            torch.save(weights, SHIPPED_DIR / f"{name}.pt")
            card = {"dataset": name, "model": recipe["model"], "epoch": best["epoch"],
                    "test_accuracy": best["metrics"]["test_accuracy"], "recipe": recipe, "job": best["config"],
                    "history": [{key: round(row[key], 4) for key in ("epoch", "loss", "train_accuracy",
                                                                      "test_accuracy", "seconds")}
                                for row in last["history"]],
                    "training_seconds": round(seconds), "trained_on": f"{platform.processor() or platform.machine()}, "
                                                                     f"{torch.get_num_threads()} threads",
                    "made_by": "scripts/train_default_models.py"}
            (SHIPPED_DIR / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
            print(f"{name}: epoch {card['epoch']}, test accuracy {card['test_accuracy']:.4f}")
            export_onnx(name)


if __name__ == "__main__":
    main()
