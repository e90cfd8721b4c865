"""A trained network as an ONNX file that runs without mnistlab or PyTorch (onnxruntime, Triton, browsers).

PyTorch's own exporter (`torch.onnx.export`, the dynamo path, which needs `onnx` and `onnxscript`) writes
the graph; the file carries what a user of it needs to know as metadata properties.
"""

from __future__ import annotations

import json

import torch
from torch import nn

from models_store.architectures import GLOBAL_GENERATOR_LOCK

EXPORT_FORMATS = ("onnx",)
OPSET = 20  # onnxruntime >= 1.17, Triton's onnxruntime backend and onnxruntime-web all run it
DOCS = "docs/export.md in mnistlab's source (the README links it)"
PREPROCESSING = ("input 'images': FP32 [N,1,28,28] in [0,1], as the data set stores its images: a light "
                 "figure on black, centred in 28x28 (pixel/255, no mean or std). Photos and drawings need "
                 "mnistlab's /predict preprocessing (grey, inverted if light, cropped, centred by mass); see " + DOCS)


class _WithProbabilities(nn.Module):
    """The network's logits and their softmax, so that runtimes need no code of their own."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(images)
        return logits, torch.softmax(logits, dim=1)


def to_onnx(network: nn.Module, *, dataset: str, architecture: str, class_names: tuple[str, ...],
            job_id: int | None, epoch: int, test_accuracy: float | None) -> bytes:
    """The ONNX file's bytes: input `images` [N,1,28,28] with N dynamic, outputs `logits` and `probabilities`
    [N,10], and metadata naming the data set, classes, architecture, job, epoch, accuracy and preprocessing."""
    wrapped = _WithProbabilities(network).eval()
    example = torch.zeros(2, 1, 28, 28)  # two, not one: an axis of size 1 would be fixed, not dynamic
    # Tracing saves and restores torch's global RNG state: a model made in another thread meanwhile would draw
    # its initial weights from a state that is not its seed's. Models are made under the same lock.
    with GLOBAL_GENERATOR_LOCK, torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(wrapped, (example,), input_names=["images"],
                                    output_names=["logits", "probabilities"], opset_version=OPSET,
                                    dynamic_shapes={"images": {0: torch.export.Dim("batch")}}, dynamo=True,
                                    verbose=False)
    proto = program.model_proto
    proto.producer_name, proto.doc_string = "mnistlab", f"{architecture} trained on {dataset} by mnistlab"
    metadata = {"dataset": dataset, "class_names": json.dumps(list(class_names)), "architecture": architecture,
                "job_id": "shipped" if job_id is None else str(job_id), "epoch": str(epoch),
                "test_accuracy": "" if test_accuracy is None else f"{test_accuracy:.6f}",
                "preprocessing": PREPROCESSING, "docs": DOCS}
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()
