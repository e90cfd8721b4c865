"""`mnistlab predict FILE...` and `mnistlab models list | promote JOB | reset DATASET`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from mnistlab.client import Client, ModelInfo
from mnistlab.console.output import OK, fixed, print_json, stdout, table


def add_parsers(commands: argparse._SubParsersAction, connection: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[connection], help="classify image files (over HTTP)",
                                  description="Classify image files with a data set's default model or a job's.")
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE", help="PNG, JPEG, ... (any size or colour)")
    predict.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    predict.add_argument("--job", type=int, metavar="ID", help="a job's best checkpoint instead of the default")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to list per image (default 3)")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(run=predict_files)

    group = commands.add_parser("models", help="the models that answer predictions (over HTTP)",
                                description="Each data set's default model, and promoting a job's.")
    models = group.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    listing = models.add_parser("list", parents=[connection], help="defaults and every job with a checkpoint")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=list_models)
    promote = models.add_parser("promote", parents=[connection],
                                help="make a job's best checkpoint its data set's default")
    promote.add_argument("job_id", type=int, metavar="JOB")
    promote.add_argument("--json", action="store_true")
    promote.set_defaults(run=promote_model)
    reset = models.add_parser("reset", parents=[connection], help="go back to the shipped model")
    reset.add_argument("dataset", metavar="DATASET", help="mnist or fashion-mnist")
    reset.add_argument("--json", action="store_true")
    reset.set_defaults(run=reset_model)
    export = models.add_parser("export", parents=[connection], help="download a data set's default model as ONNX")
    export.add_argument("dataset", metavar="DATASET", help="mnist or fashion-mnist")
    export.add_argument("--format", choices=("onnx",), default="onnx")
    export.add_argument("-o", "--output", type=Path, default=Path("."),
                        help="file or folder to write (default: the server's file name, here)")
    export.set_defaults(run=export_default)


def _describe(model: ModelInfo) -> str:
    source = f"job {model.job_id}" if model.job_id is not None else "shipped"
    accuracy = f", test acc {model.test_accuracy:.4f}" if model.test_accuracy is not None else ""
    return f"{model.dataset}: {model.model} ({source}, epoch {model.epoch}{accuracy})"


def predict_files(client: Client, args: argparse.Namespace) -> int:
    answer = client.predict(list(args.files), dataset=args.dataset, job=args.job, top_k=args.top_k)
    if args.json:
        print_json({"model": asdict(answer.model), "predictions": [asdict(p) for p in answer]})
        return OK
    rows = [(p.filename, p.label, p.class_name, fixed(p.confidence),
             ", ".join(f"{c.class_name} {c.probability:.3f}" for c in p.top_k[1:]) or None) for p in answer]
    stdout().print(table(f"model {_describe(answer.model)}", ("file", "label", "class", "confidence", "next"), rows))
    return OK


def list_models(client: Client, args: argparse.Namespace) -> int:
    models = client.models()
    if args.json:
        print_json({"defaults": {name: asdict(info) for name, info in models.defaults.items()},
                    "jobs": [asdict(info) for info in models.jobs]})
        return OK
    rows = [(name, info.model, info.job_id if info.job_id is not None else "shipped", info.epoch,
             fixed(info.test_accuracy)) for name, info in models.defaults.items()]
    out = stdout()
    out.print(table("defaults (what /predict uses)", ("dataset", "model", "job", "epoch", "test acc"), rows))
    rows = [(info.job_id, info.dataset, info.model, info.epoch, fixed(info.test_accuracy)) for info in models.jobs]
    out.print(table("jobs with a checkpoint", ("job", "dataset", "model", "epoch", "test acc"), rows))
    return OK


def promote_model(client: Client, args: argparse.Namespace) -> int:
    return _print_model(client.promote(args.job_id), args, "default now")


def reset_model(client: Client, args: argparse.Namespace) -> int:
    return _print_model(client.reset(args.dataset), args, "back to the shipped model")


def export_default(client: Client, args: argparse.Namespace) -> int:
    path = client.export_model(args.dataset, args.output, format=args.format)
    stdout().print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return OK


def _print_model(model: ModelInfo, args: argparse.Namespace, what: str) -> int:
    if args.json:
        print_json(asdict(model))
    else:
        stdout().print(f"{what}: {_describe(model)}")
    return OK
