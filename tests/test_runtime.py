"""train/runtime.py: device names, autocast, atomic writes."""

from __future__ import annotations

import pytest
import torch

from videonas_lite.train.runtime import atomic_write, autocast, torch_device


def test_device_names():
    assert torch_device("cpu") == torch.device("cpu")
    assert torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'auto', got 'gpu'"):
        torch_device("gpu")


def test_autocast_is_bf16_on_cuda_only_unless_asked():
    cpu = torch.device("cpu")
    with autocast(cpu):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32
    with autocast(cpu, bf16=True):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "records.json"
    atomic_write(path, lambda p: p.write_text("old"))

    def crash(p):
        p.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, crash)
    assert path.read_text() == "old"
    atomic_write(path, lambda p: p.write_text("new"))
    assert path.read_text() == "new" and not (tmp_path / "records.json.tmp").exists()
