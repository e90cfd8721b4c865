from pathlib import Path

import pytest

from mnistlab.datasets import load_split
from models_store.architectures import build_model
from models_store.shipped import load_shipped
from workers.training import accuracy


@pytest.mark.parametrize(("dataset", "target"), [("mnist", 0.995), ("fashion-mnist", 0.93)])
def test_shipped_models_reach_their_accuracy_on_the_real_test_set(data_dir: Path, dataset: str, target: float) -> None:
    shipped = load_shipped(dataset)
    model = build_model(shipped.model)
    model.load_state_dict(shipped.weights)
    measured = accuracy(model, load_split(data_dir, dataset, train=False))
    assert measured == shipped.test_accuracy  # the recorded number is the real one
    assert measured >= target
    assert shipped.model == "convnet"  # the best small model, not one of the lab's three
