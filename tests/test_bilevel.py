"""nas/bilevel.py against mathematics: exact hypergradient, its finite-difference approximation, first order."""

from __future__ import annotations

import pytest
import torch

from videonas_lite.nas import bilevel
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.nas.tiny_problem import STEP, relative_error, tiny_bilevel_problem

# The gradient of a ReLU network jumps where a unit changes sign, so a central difference that straddles a
# kink errs by about jump / (2 eps): on these nets r = 1e-2 ... 1e-6 gave relative errors from 0.85 to 58,
# r = 1e-7 about 4e-9 on both (benchmarks/fd_error.py).
R_SMALL = 1e-7


pytestmark = pytest.mark.usefixtures("one_thread")


def _state(net):
    return [t.clone() for t in net.state_dict().values()]


@pytest.mark.parametrize("make", [peng_search_net, pvnas_search_net])
def test_finite_difference_matches_double_backward(make):
    net, train, val, buffers = tiny_bilevel_problem(make)
    exact = bilevel.exact_second_order(net, train, val, STEP, buffers)
    approx = bilevel.second_order(net, train, val, STEP, buffers, r=R_SMALL)
    assert relative_error(approx, exact) < 1e-4
    assert relative_error(bilevel.first_order(net, val), exact) > 1e-2, "the second-order term must matter here"


def test_exact_hypergradient_is_the_total_derivative_through_the_virtual_step():
    """Directional derivative of alpha -> L_val(w - xi * step(w, alpha), alpha), by central differences in alpha."""
    net, train, val, buffers = tiny_bilevel_problem()
    exact = bilevel.exact_second_order(net, train, val, STEP, buffers)
    alphas = net.arch_parameters()
    direction = [torch.randn_like(a) for a in alphas]
    h = 1e-8  # small enough that no ReLU flips: the virtual step jumps where one does (see R_SMALL)

    def unrolled_loss() -> float:
        with bilevel.restored(net):
            bilevel.virtual_step(net, train, STEP, buffers, bilevel.cross_entropy)
            with torch.no_grad():
                return bilevel.cross_entropy(net, val).item()

    values = []
    for sign in (1, -1):
        with bilevel.restored(net):
            with torch.no_grad():
                for a, d in zip(alphas, direction, strict=True):
                    a.add_(sign * h * d)
            values.append(unrolled_loss())
    numeric = (values[0] - values[1]) / (2 * h)
    analytic = sum((g * d).sum() for g, d in zip(exact, direction, strict=True)).item()
    assert abs(numeric - analytic) <= 1e-4 * abs(analytic)


def test_hessian_vector_product_matches_double_backward():
    net, train, _, _ = tiny_bilevel_problem(seed=1)
    weights, alphas = bilevel.split_parameters(net)
    v = [torch.randn_like(w) for w in weights]
    grads = torch.autograd.grad(bilevel.cross_entropy(net, train), weights, create_graph=True)
    exact = torch.autograd.grad(sum((g * vi).sum() for g, vi in zip(grads, v, strict=True)), alphas)
    assert relative_error(bilevel.hessian_vector_fd(net, train, v, r=R_SMALL), exact) < 1e-4


@pytest.mark.parametrize("make", [peng_search_net, pvnas_search_net])
def test_forward_difference_matches_double_backward(make):
    """One perturbed pass and g(w) reused from the virtual step: O(eps) truncation, still close at small r."""
    net, train, val, buffers = tiny_bilevel_problem(make)
    exact = bilevel.exact_second_order(net, train, val, STEP, buffers)
    forward = bilevel.second_order(net, train, val, STEP, buffers, r=R_SMALL, difference="forward")
    assert relative_error(forward, exact) < 1e-4


def test_forward_difference_reuses_the_virtual_steps_gradient_exactly():
    """g(w) from the virtual step's joint backward equals a separate alpha-only pass (float64, to rounding)."""
    net, train, _, buffers = tiny_bilevel_problem()
    weights, alphas = bilevel.split_parameters(net)
    with bilevel.restored(net):
        reused = bilevel.virtual_step(net, train, STEP, buffers, bilevel.cross_entropy, with_alpha=True)
    separate = torch.autograd.grad(bilevel.cross_entropy(net, train), alphas)
    assert relative_error(reused, separate) < 1e-13
    v = [torch.randn_like(w) for w in weights]
    assert relative_error(bilevel.hessian_vector_fd(net, train, v, 1e-7, difference="forward", at_w=reused),
                bilevel.hessian_vector_fd(net, train, v, 1e-7, difference="forward")) < 1e-6  # fmt: skip


def test_exact_difference_is_the_double_backward():
    net, train, val, buffers = tiny_bilevel_problem()
    a = bilevel.second_order(net, train, val, STEP, buffers, difference="exact")
    b = bilevel.exact_second_order(net, train, val, STEP, buffers)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="difference must be one of"):
        bilevel.second_order(net, train, val, STEP, buffers, difference="backward")


def test_finite_differences_run_in_float32_under_bf16_autocast():
    """bf16 keeps 3 significant digits, fewer than the two gradients of the difference share: so float32."""
    net, train, _, _ = tiny_bilevel_problem()
    net, train = net.float(), (train[0].float(), train[1])
    weights, _ = bilevel.split_parameters(net)
    v = [torch.randn_like(w) for w in weights]
    plain = bilevel.hessian_vector_fd(net, train, v)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert bilevel.cross_entropy(net, train).dtype == torch.float32  # the loss upcasts, the network ran in bf16:
        assert net(train[0]).dtype == torch.bfloat16  # so autocast is on here
        under = bilevel.hessian_vector_fd(net, train, v)
    assert all(torch.equal(x, y) for x, y in zip(plain, under, strict=True))


def test_a_gradient_pass_leaves_no_saved_activations_behind():
    """An alpha-only backward never reaches the stem; its saved tensors must die with the pass, not later."""
    import gc
    import weakref

    net, train, _, _ = tiny_bilevel_problem()
    _, alphas = bilevel.split_parameters(net)
    alive: list[weakref.ref] = []

    class Saved:  # holds a detached copy: the tensor itself may point back to the node that saves it
        def __init__(self, t):
            self.t = t.detach()

    def pack(t):
        box = Saved(t)
        alive.append(weakref.ref(box))
        return box

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.t):
        bilevel.loss_gradient(net, train, alphas, bilevel.cross_entropy)
        gc.collect()
        assert alive and all(ref() is None for ref in alive)
        loss = bilevel.cross_entropy(net, train)  # what search_step used to do: keep the loss across the next pass
        torch.autograd.grad(loss, alphas)
        gc.collect()
        assert any(ref() is not None for ref in alive), "the stem's activations outlive an alpha-only backward"
        del loss


def test_xi_zero_is_the_first_order_gradient():
    net, train, val, buffers = tiny_bilevel_problem()
    zero = bilevel.VirtualStep(xi=0.0, momentum=0.9, weight_decay=3e-4)
    assert relative_error(bilevel.second_order(net, train, val, zero, buffers), bilevel.first_order(net, val)) < 1e-10


@pytest.mark.parametrize("fn", ["second_order", "exact_second_order"])
def test_the_model_is_left_exactly_as_it_was(fn):
    net, train, val, buffers = tiny_bilevel_problem()
    before = _state(net)
    getattr(bilevel, fn)(net, train, val, STEP, buffers)
    after = _state(net)
    assert all(torch.equal(x, y) for x, y in zip(before, after, strict=True))


def test_the_virtual_step_moves_the_weights_as_sgd_would():
    """w' = w - xi (m buf + g + lambda w), checked against torch.optim.SGD's own step from the same buffers."""
    net, train, _, buffers = tiny_bilevel_problem()
    weights, _ = bilevel.split_parameters(net)
    sgd = torch.optim.SGD(weights, lr=STEP.xi, momentum=STEP.momentum, weight_decay=STEP.weight_decay)
    for w, buf in zip(weights, buffers, strict=True):
        sgd.state[w]["momentum_buffer"] = buf.clone()
    step, bufs = bilevel.VirtualStep.from_optimizer(sgd, weights)
    assert step == STEP
    with bilevel.restored(net):
        bilevel.virtual_step(net, train, step, bufs, bilevel.cross_entropy)
        virtual = [w.detach().clone() for w in weights]
    start = [w.detach().clone() for w in weights]
    sgd.zero_grad()
    bilevel.cross_entropy(net, train).backward()
    sgd.step()
    assert any(not torch.equal(v, s) for v, s in zip(virtual, start, strict=True)), "the weights must move"
    assert relative_error(virtual, [w.detach() for w in weights]) < 1e-12


@pytest.mark.parametrize("order", bilevel.ORDERS)
def test_search_step_moves_both_parameter_sets_as_its_order_says(order):
    from videonas_lite.train.optim import PAPERS, make_optimizers

    net, train, val, _ = tiny_bilevel_problem()
    sgd, adam = make_optimizers(net, PAPERS["pvnas" if order == "one-level" else "peng"])
    weights, alphas = bilevel.split_parameters(net)
    w0, a0 = [w.detach().clone() for w in weights], [a.detach().clone() for a in alphas]
    expected = bilevel.first_order(net, train if order == "one-level" else val)  # the first-order cases' alpha gradient
    losses = bilevel.search_step(net, order, train, val, sgd, adam)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()) and "train" in losses
    assert all(not torch.equal(a, b) for a, b in zip(alphas, a0, strict=True))
    assert any(not torch.equal(w, b) for w, b in zip(weights, w0, strict=True))
    if order != "second":  # Adam's first step: lr * g / (|g| + eps), g including the L2 term (bias-corrected)
        group = adam.param_groups[0]
        for a, start, g in zip(alphas, a0, expected, strict=True):
            g = g + group["weight_decay"] * start
            torch.testing.assert_close(start - a.detach(), group["lr"] * g / (g.abs() + group["eps"]))


def test_unknown_order_is_refused():
    net, train, val, _ = tiny_bilevel_problem()
    from videonas_lite.train.optim import PAPERS, make_optimizers

    with pytest.raises(ValueError, match="order must be one of"):
        bilevel.search_step(net, "third", train, val, *make_optimizers(net, PAPERS["peng"]))


def test_schedules_follow_the_papers():
    from videonas_lite.train.optim import PAPERS, make_optimizers, make_schedule

    net, *_ = tiny_bilevel_problem()
    for paper, epochs, expected_last in (("peng", 10, PAPERS["peng"].lr_min), ("pvnas", 45, 0.1 * 0.1 * 0.1)):
        sgd, _ = make_optimizers(net, PAPERS[paper])
        schedule = make_schedule(sgd, PAPERS[paper], epochs)
        for _ in range(epochs):
            sgd.step()
            schedule.step()
        assert sgd.param_groups[0]["lr"] == pytest.approx(expected_last)
