"""mnistlab's Python client: submit and follow jobs, predict, manage models and sweeps over HTTP.

Importing it does not import torch (only httpx): quick in a notebook or a shell command.

    from mnistlab.client import Client
    client = Client()                       # $MNISTLAB_URL, $MNISTLAB_API_KEY
    job = client.submit(dataset="mnist", model="cnn", optimizer="adam", epochs=3).wait(progress=True)
    print(job.best, client.predict(["seven.png"], job=job)[0].class_name)
"""

from mnistlab.client.core import Client, Job, Sweep
from mnistlab.client.errors import (
    ApiError,
    JobCancelled,
    JobEnded,
    JobFailed,
    MnistlabError,
    ServerUnavailable,
    WaitTimeout,
)
from mnistlab.client.records import (
    ClassProbability,
    Event,
    Metric,
    ModelInfo,
    Models,
    Prediction,
    Predictions,
    Trial,
)

__all__ = ["ApiError", "ClassProbability", "Client", "Event", "Job", "JobCancelled", "JobEnded", "JobFailed",
           "Metric", "MnistlabError", "ModelInfo", "Models", "Prediction", "Predictions", "ServerUnavailable",
           "Sweep", "Trial", "WaitTimeout"]
