"""Do uploads gain as much as the test sets? The shipped models before and after, on test images sent as users send them.

    .venv/bin/python -m bench.upload_accuracy --data ../shared/datasets [--before-rev 5c38a58] [--images 1000]

Each of the first --images test images of each data set goes through /predict's own preprocessing
(service/imaging.py: decode, grey, invert if light, crop, centre by mass) in four forms: as the data set
stores it (a 28x28 PNG), as a phone-like photo of dark ink on paper (PNG and JPEG), and as a drawing on a
transparent canvas; the tests' own image makers (tests/helpers/images.py) make them. Both models classify
the same preprocessed pixels: the shipped model at --before-rev (read with `git show`) and the one in the
working tree. The gain on each form is set against the gain on the plain test images.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.common import describe_machine
from mnistlab.datasets import import_all, load_split
from models_store.architectures import build_model
from models_store.shipped import SHIPPED_DIR
from service.imaging import decode, to_dataset_form
from tests.helpers.images import as_paper_photo, as_transparent_drawing, dataset_image, encode

FORMS = {
    "28x28 PNG": lambda a: encode(dataset_image(a)),
    "paper photo PNG": lambda a: encode(as_paper_photo(a)),
    "paper photo JPEG": lambda a: encode(as_paper_photo(a).convert("RGB"), "JPEG", quality=85),
    "drawing, transparent PNG": lambda a: encode(as_transparent_drawing(a)),
}
REPO = Path(__file__).resolve().parents[1]


def model_at(rev: str | None, dataset: str) -> tuple[str, torch.nn.Module]:
    if rev is None:
        card, weights = (SHIPPED_DIR / f"{dataset}.json").read_text(), (SHIPPED_DIR / f"{dataset}.pt").read_bytes()
    else:
        show = ["git", "-C", str(REPO), "show"]
        card = subprocess.run([*show, f"{rev}:models_store/shipped/{dataset}.json"], capture_output=True, check=True,
                              text=True).stdout
        weights = subprocess.run([*show, f"{rev}:models_store/shipped/{dataset}.pt"], capture_output=True,
                                 check=True).stdout
    architecture = json.loads(card)["model"]
    network = build_model(architecture)
    network.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    return architecture, network.eval()


def accuracy(network: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.inference_mode():
        predicted = network(torch.from_numpy(images).reshape(-1, 1, 28, 28)).argmax(1).numpy()
    return float((predicted == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--before-rev", default="5c38a58", help="git revision of the models to compare with")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        import_all(args.data, Path(folder))
        for dataset in ("mnist", "fashion-mnist"):
            test = load_split(Path(folder), dataset, train=False)
            arrays, labels = test.images[:args.images, 0].numpy(), test.labels[:args.images].numpy()
            models = {"before": model_at(args.before_rev, dataset), "now": model_at(None, dataset)}
            print(f"\n{dataset}, first {args.images} test images: before = {models['before'][0]} at "
                  f"{args.before_rev}, now = {models['now'][0]}")
            for form, make in FORMS.items():
                seen = np.stack([to_dataset_form(decode(make(a), max_pixels=40_000_000), dataset) for a in arrays])
                before, now = (accuracy(network, seen, labels) for _, network in models.values())
                print(f"  {form:<26} before {before:.4f}  now {now:.4f}  gain {100 * (now - before):+.2f} points "
                      f"(errors {1 - before:.4f} -> {1 - now:.4f}, {(1 - now) / max(1 - before, 1e-9):.2f}x)",
                      flush=True)


if __name__ == "__main__":
    main()
