"""The baseline of bench/predict_load.py: the same CNN served the plain way, as a competent engineer would.

    .venv/bin/python -m bench.bare_app --port 8100

One FastAPI app, one uvicorn worker with uvloop and httptools, no database, no auth, no metrics:
`POST /predict` (multipart field `file`: decode with Pillow, grayscale, 28x28, the shipped MNIST CNN)
and `POST /v2/models/mnist/infer` (the Open Inference Protocol's binary tensor extension, one FP32
input, binary probabilities back). Torch gets the settings `mnistlab serve` uses (one thread, no
oneDNN), so the comparison is about how the servers are built, not about a flag.
"""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request, Response, UploadFile
from PIL import Image

from models_store.architectures import build_model
from models_store.shipped import load_shipped

torch.set_num_threads(1)
torch.backends.mkldnn.enabled = False

shipped = load_shipped("mnist")
model = build_model(shipped.model)
model.load_state_dict(shipped.weights)
model.eval()

app = FastAPI()


def classify(images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(images).reshape(-1, 1, 28, 28)), dim=1).numpy()


@app.post("/predict")
async def predict(file: UploadFile) -> dict:
    image = Image.open(io.BytesIO(await file.read())).convert("L").resize((28, 28))
    probabilities = classify(np.asarray(image, dtype=np.float32) / 255.0)[0]
    label = int(probabilities.argmax())
    return {"label": label, "confidence": float(probabilities[label]), "probabilities": probabilities.tolist()}


@app.post("/v2/models/mnist/infer")
async def infer(request: Request) -> Response:
    body = await request.body()
    length = int(request.headers["inference-header-content-length"])
    (tensor,) = json.loads(body[:length])["inputs"]
    images = np.frombuffer(body[length:], dtype=np.float32).reshape(tensor["shape"]).copy()  # torch wants it writable
    probabilities = classify(images).astype(np.float32)
    header = json.dumps({"model_name": "mnist", "outputs": [{
        "name": "probabilities", "datatype": "FP32", "shape": list(probabilities.shape),
        "parameters": {"binary_data_size": probabilities.nbytes}}]}).encode()
    return Response(header + probabilities.tobytes(), media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(header))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, loop="uvloop", http="httptools", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
