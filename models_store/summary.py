"""Layer-by-layer summary of an architecture: output shapes and parameter counts (the lab's question)."""

from __future__ import annotations

import torch

from models_store.architectures import build_model, count_parameters


def summarize(model: str, *, hidden: int | None = None) -> dict:
    network = build_model(model, hidden=hidden).eval()  # batch norm and dropout as they predict
    layers = []
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for index, layer in enumerate(network):
            x = layer(x)
            layers.append({"index": index, "layer": repr(layer), "output_shape": list(x.shape[1:]),
                           "parameters": count_parameters(layer)})
    return {"model": model, "hidden": hidden if model == "ffnn" else None, "input_shape": [1, 28, 28],
            "layers": layers, "total_parameters": count_parameters(network)}
