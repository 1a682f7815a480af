"""train/runtime.py: device names, autocast, atomic writes."""

from __future__ import annotations

import pytest
import torch

from videonas_lite.train.runtime import atomic_write, autocast, load_checkpoint, prepare, torch_device


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


def test_a_full_disk_while_torch_saves_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic_write(path, lambda p: torch.save({"epoch": 0}, p))

    def no_space(obj, f, *args, **kwargs):
        with open(f, "wb") as half:
            half.write(b"PK\x03\x04 partial")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(OSError, match=r"cannot write \(\[enforce fail.*PytorchStreamWriter.*previous checkpoint\.pt"):
        atomic_write(path, lambda p: torch.save({"epoch": 1}, p))
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 0}
    assert not (tmp_path / "checkpoint.pt.tmp").exists()


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "run"
    blocker.write_text("a file where the run folder should be")  # root ignores chmod; a file blocks any user
    with pytest.raises(OSError) as err:
        atomic_write(blocker / "records.json", lambda p: p.write_text("{}"))
    assert err.value.filename == str(blocker / "records.json") and "cannot write (Not a directory)" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"not a checkpoint at all\n", "list"])
def test_a_truncated_or_foreign_checkpoint_is_one_line(tmp_path, content):
    path = tmp_path / "checkpoint.pt"
    if content == "list":
        torch.save([1, 2, 3], path)  # a valid torch file of something else
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"checkpoint\.pt: not a (readable )?search checkpoint .*move it away") as err:
        load_checkpoint(path, "search", ("model", "epoch"))
    assert "\n" not in str(err.value)


def test_prepare_turns_on_cudnn_autotuning_for_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    prepare(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    prepare(torch.device("cuda"))  # sets the backend flag only: no GPU needed
    assert torch.backends.cudnn.benchmark is True
