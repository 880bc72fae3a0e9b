"""A lower learning rate for the SSL encoder, kept along the Noam schedule."""

import functools

import pytest
import torch
from speechbrain.nnet.schedulers import NoamScheduler
from speechbrain.utils.checkpoints import Checkpointer

from modules.training.optim import ScaledNoamScheduler, optimizer_with_ssl_lr


def two_group_optimizer(lr=1.0, ssl_lr=0.1):
    head, ssl = torch.nn.Linear(3, 2), torch.nn.Linear(3, 3)
    params = [*ssl.parameters(), *head.parameters()]
    adam = functools.partial(torch.optim.AdamW, lr=lr)
    return optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr), head, ssl


def test_ssl_parameters_get_their_own_learning_rate():
    opt, head, ssl = two_group_optimizer()
    head_group, ssl_group = opt.param_groups
    assert {id(p) for p in head_group["params"]} == {id(p) for p in head.parameters()}
    assert {id(p) for p in ssl_group["params"]} == {id(p) for p in ssl.parameters()}
    assert (head_group["lr"], ssl_group["lr"]) == (1.0, 0.1)
    scheduler = ScaledNoamScheduler(lr_initial=1.0, n_warmup_steps=4)
    noam = NoamScheduler(lr_initial=1.0, n_warmup_steps=4)
    plain = torch.optim.SGD(head.parameters(), lr=1.0)
    for _ in range(6):
        scheduler(opt), noam(plain)
        expected = plain.param_groups[0]["lr"]
        assert head_group["lr"] == pytest.approx(expected)
        assert ssl_group["lr"] == pytest.approx(0.1 * expected)


def test_learning_rate_ratio_survives_a_checkpoint(tmp_path):
    opt, _, _ = two_group_optimizer(lr=0.002, ssl_lr=0.0005)
    scheduler = ScaledNoamScheduler(lr_initial=0.002, n_warmup_steps=4)
    for _ in range(3):
        scheduler(opt)
    checkpointer = Checkpointer(tmp_path, {"opt": opt, "noam": scheduler})
    checkpointer.save_checkpoint()
    new_opt, _, _ = two_group_optimizer(lr=0.002, ssl_lr=0.0005)
    new_scheduler = ScaledNoamScheduler(lr_initial=0.002, n_warmup_steps=4)
    Checkpointer(
        tmp_path, {"opt": new_opt, "noam": new_scheduler}
    ).recover_if_possible()
    assert new_scheduler.n_steps == 3
    assert [g["lr_scale"] for g in new_opt.param_groups] == [1.0, 0.25]
    scheduler(opt), new_scheduler(new_opt)
    assert [g["lr"] for g in new_opt.param_groups] == [
        g["lr"] for g in opt.param_groups
    ]
