import pickle
from pathlib import Path

import pytest
import torch

from models_store import checkpoints


class _Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.marker),))  # type: ignore[attr-defined]


def test_a_checkpoint_round_trips_tensors_and_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "job-1" / "last.pt"
    checkpoints.save_atomic({"model": {"w": torch.arange(4.0)}, "epoch": 2, "config": {"model": "cnn"}}, path)
    loaded = checkpoints.load(path)
    assert loaded["epoch"] == 2 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_planted_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = str(marker)  # type: ignore[attr-defined]
    path = tmp_path / "best.pt"
    with open(path, "wb") as handle:
        pickle.dump({"model": exploit}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        checkpoints.load(path)
    assert not marker.exists()


def test_stale_temp_files_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    folder = tmp_path / "job-3"
    folder.mkdir()
    stale, fresh = folder / ".last.pt.111.partial", folder / ".best.pt.222.partial"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    import os

    os.utime(stale, (0, 0))
    assert checkpoints.remove_temp_files(tmp_path, older_than=60) == 1
    assert not stale.exists() and fresh.exists()


def test_a_copied_checkpoint_is_the_same_and_a_later_save_leaves_the_copy_alone(tmp_path: Path) -> None:
    best, last = tmp_path / "job-1" / "best.pt", tmp_path / "job-1" / "last.pt"
    checkpoints.save_atomic({"epoch": 3, "weights": torch.ones(4)}, best)
    checkpoints.copy_atomic(best, last)  # the epoch was the best so far: last is the same checkpoint
    assert checkpoints.load(last)["epoch"] == 3 and last.read_bytes() == best.read_bytes()
    checkpoints.save_atomic({"epoch": 4, "weights": torch.zeros(4)}, last)  # a later, worse epoch
    assert checkpoints.load(last)["epoch"] == 4
    assert checkpoints.load(best)["epoch"] == 3 and torch.equal(checkpoints.load(best)["weights"], torch.ones(4))
    checkpoints.copy_atomic(best, last)  # replacing an existing file works too
    assert checkpoints.load(last)["epoch"] == 3
    assert sorted(p.name for p in best.parent.iterdir()) == ["best.pt", "last.pt"]  # no temp file left
