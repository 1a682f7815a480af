"""nas/sharpness.py against mathematics: H v against the full Hessian, power iteration against eigvalsh, DARTS-ES
against hand-worked series; the search records the eigenvalue and stops where the rule fires."""

from __future__ import annotations

import json

import pytest
import torch

from videonas_lite.nas.genotype import from_run
from videonas_lite.nas.networks import pvnas_search_net
from videonas_lite.nas.sharpness import (
    alpha_hessian,
    dominant_eigenvalue,
    early_stop_epoch,
    hessian_vector_product,
    smoothed,
)
from videonas_lite.nas.tiny_problem import tiny_batch, tiny_net
from videonas_lite.train.search import SearchConfig, run_search


@pytest.fixture(scope="module")
def problem():
    """The tiny float64 net, two batches, and its full alpha Hessian (80 x 80)."""
    net = tiny_net()
    torch.manual_seed(1)
    batches = [tiny_batch(), tiny_batch()]
    return net, batches, alpha_hessian(net, batches)


def test_hessian_of_a_quadratic_in_the_alphas_is_its_matrix():
    """A loss 1/2 a^T A a (a: the flattened alphas) has Hessian A: the double backward is exact."""
    net = tiny_net(nodes=2)
    size = sum(a.numel() for a in net.arch_parameters())
    torch.manual_seed(0)
    b = torch.randn(size, size, dtype=torch.double)
    A = b + b.T

    def quadratic(model, batch):
        a = torch.cat([p.reshape(-1) for p in model.arch_parameters()])
        return 0.5 * a @ A @ a

    H = alpha_hessian(net, [None], quadratic)
    assert torch.allclose(H, A, atol=1e-12)
    v = torch.randn(size, dtype=torch.double)
    assert torch.allclose(hessian_vector_product(net, [None], v, quadratic), A @ v, atol=1e-12)


def test_hvp_equals_the_full_hessian_times_v(problem):
    net, batches, H = problem
    assert torch.allclose(H, H.T, atol=1e-10), "a Hessian is symmetric"
    v = torch.randn(H.shape[0], dtype=torch.double)
    assert torch.allclose(hessian_vector_product(net, batches, v), H @ v, atol=1e-10)


def test_power_iteration_finds_the_eigenvalue_of_largest_magnitude(problem):
    net, batches, H = problem
    eig = torch.linalg.eigvalsh(H)
    dominant = eig[eig.abs().argmax()].item()
    lam, v, iters = dominant_eigenvalue(net, batches, iters=300, tol=1e-10)
    assert lam == pytest.approx(dominant, rel=1e-4)
    assert 1 < iters < 300 and v.norm().item() == pytest.approx(1.0)
    warm, _, fewer = dominant_eigenvalue(net, batches, iters=300, tol=1e-10, v0=v)
    assert warm == pytest.approx(dominant, rel=1e-4) and fewer < iters, "a warm start converges sooner"


def test_measuring_changes_nothing_in_the_model():
    net = pvnas_search_net(3, channels=2, nodes=2)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    dominant_eigenvalue(net, [(torch.randn(2, 3, 2, 8, 8), torch.tensor([0, 2]))], iters=2)
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_smoothed_is_a_trailing_mean():
    assert smoothed([1, 2, 3, 4], 2) == [1, 1.5, 2.5, 3.5]
    with pytest.raises(ValueError, match="window"):
        smoothed([1.0], 0)


def test_darts_es_fires_where_the_smoothed_eigenvalue_rose_by_a_third():
    # k = window = 2; bar = [1, 1, 1, 1.5, 2.5]: at i=3, bar[1]/bar[3] = 0.67 < 0.75 -> stop 3, choose 1
    assert early_stop_epoch([1, 1, 1, 2, 3], k=2) == (3, 1)
    assert early_stop_epoch([1, 1.1, 1.2, 1.25, 1.3], k=2) is None, "a slow rise never fires"
    assert early_stop_epoch([5, 1, 1, 1, 2, 3], k=2, first=1) == (4, 2), "warm-up epochs are left out"
    with pytest.raises(ValueError, match="ratio"):
        early_stop_epoch([1.0], k=2, ratio=1.5)


def test_search_records_the_eigenvalue_and_early_stop_derives_the_chosen_epoch(tiny_dataset, tmp_path, monkeypatch):
    import videonas_lite.train.search as S

    rising = iter([1.0, 1.0, 3.0, 9.0, 27.0])
    monkeypatch.setattr(S, "dominant_eigenvalue", lambda *a, **k: (next(rising), torch.ones(1), 1))
    config = SearchConfig(space="pvnas", order="one-level", epochs=5, batch_size=2, channels=2, crop_size=24,
                          num_segments=2, frames_per_segment=2, sharpness_clips=2, early_stop=1)  # fmt: skip
    records = run_search(config, tiny_dataset, tmp_path, progress=False)
    # k = window = 1: bar = [1, 1, 3]; at i=2, 1/3 < 0.75 -> stop at epoch 2, derive epoch 1
    assert [r["sharpness"]["eigenvalue"] for r in records] == [1.0, 1.0, 3.0]
    assert records[-1]["early_stop"] == {"epoch": 2, "chosen_epoch": 1, "k": 1}
    assert from_run(tmp_path).provenance["epoch"] == 1
    assert json.loads((tmp_path / "records.json").read_text()) == records
    assert run_search(config, tiny_dataset, tmp_path, resume=True, progress=False) == records, "a stopped run stays"


def test_search_measures_a_real_eigenvalue(tiny_dataset, tmp_path):
    config = SearchConfig(space="pvnas", order="one-level", epochs=1, batch_size=2, channels=2, crop_size=24,
                          num_segments=2, frames_per_segment=2, sharpness_clips=2, sharpness_iters=2)  # fmt: skip
    (record,) = run_search(config, tiny_dataset, tmp_path, progress=False)
    s = record["sharpness"]
    assert s["clips"] == 2 and 1 <= s["iterations"] <= 2 and abs(s["eigenvalue"]) > 0


def test_early_stop_needs_the_eigenvalue():
    with pytest.raises(ValueError, match="sharpness_clips"):
        SearchConfig(early_stop=2)
