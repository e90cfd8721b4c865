"""ONNX export of each architecture: export time (the first in a process, and later ones), file size, and
onnxruntime against PyTorch on the same weights, at batch 1 and batch 1,000 (the API's evaluation batch).

    .venv/bin/python -m bench.export [--repeats 5]

Rounds alternate PyTorch and onnxruntime (A B B A); the best of each is reported. Both run on the same
threads (torch's default here; onnxruntime's intra-op threads set to the same number).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime
import torch

from bench.common import best_of, describe_machine
from mnistlab.spec import DATASET_CLASSES
from models_store.architectures import count_parameters, initial_model
from models_store.onnx_export import to_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(describe_machine())
    print(f"onnxruntime {onnxruntime.__version__}\n")
    print("| architecture | parameters | first export (s) | later exports (s) | file (bytes) | batch 1: torch / ort (ms) "
          "| batch 1,000: torch / ort (ms) |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for architecture in ("linear", "ffnn", "cnn", "convnet"):
        network = initial_model(architecture, hidden=None, seed=0).eval()

        def export() -> bytes:
            return to_onnx(network, dataset="mnist", architecture=architecture, class_names=DATASET_CLASSES["mnist"],
                           job_id=1, epoch=1, test_accuracy=0.5)

        started = time.perf_counter()
        data = export()
        first = time.perf_counter() - started
        later = best_of(3, export)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        cells = []
        for batch in (1, 1000):
            images = rng.random((batch, 1, 28, 28), dtype=np.float32)
            tensor = torch.from_numpy(images)
            calls = 2000 if batch == 1 else 50

            def torch_run() -> None:
                with torch.inference_mode():
                    for _ in range(calls):
                        torch.softmax(network(tensor), dim=1)

            def ort_run() -> None:
                for _ in range(calls):
                    session.run(["probabilities"], {"images": images})

            torch_best, ort_best = float("inf"), float("inf")
            for first_is_torch in (True, False, False, True):  # A B B A, repeated
                for run in ((torch_run, ort_run) if first_is_torch else (ort_run, torch_run)):
                    seconds = best_of(max(1, args.repeats // 4), run) / calls * 1000
                    if run is torch_run:
                        torch_best = min(torch_best, seconds)
                    else:
                        ort_best = min(ort_best, seconds)
            cells.append(f"{torch_best:.3f} / {ort_best:.3f} ({torch_best / ort_best:.2f}x)")
        print(f"| {architecture} | {count_parameters(network):,} | {first:.2f} | {later:.2f} | {len(data):,} | "
              f"{cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
