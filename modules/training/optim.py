"""Optimiser and learning-rate schedule for fine-tuning a pre-trained encoder.

The published SSL recipes fine-tune the pre-trained encoder at a learning
rate about 10 times lower than the new heads': :func:`optimizer_with_ssl_lr`
gives it its own parameter group, and :class:`ScaledNoamScheduler` keeps the
ratio along SpeechBrain's Noam schedule.
"""

from speechbrain.nnet.schedulers import NoamScheduler


def optimizer_with_ssl_lr(params, optimizer, ssl_modules, ssl_lr):
    """An optimizer in which the SSL encoder has its own learning rate.

    Used as ``opt_class`` in YAML (``!name:``; ``sb.Brain`` passes the
    parameters): the published recipes fine-tune the pre-trained encoder at
    a learning rate about 10 times lower than the new heads'.

    Arguments
    ---------
    params : iterable of torch.nn.Parameter
        Every parameter of the model.
    optimizer : callable
        ``optimizer(param_groups)``, e.g. ``!name:torch.optim.AdamW`` with
        ``lr``: the learning rate of everything but the SSL encoder.
    ssl_modules : list of torch.nn.Module
        The SSL encoder (its front-end and its layer stack).
    ssl_lr : float
        Their learning rate.

    Returns
    -------
    torch.optim.Optimizer
        Two parameter groups, the SSL encoder's second; each has an
        ``lr_scale`` (its learning rate over the first group's), the ratio
        that :class:`ScaledNoamScheduler` keeps.

    Example
    -------
    >>> import functools
    >>> import torch
    >>> head, ssl = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> params = [*head.parameters(), *ssl.parameters()]
    >>> adam = functools.partial(torch.optim.Adam, lr=1e-3)
    >>> opt = optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr=1e-4)
    >>> [(len(g["params"]), g["lr"], g["lr_scale"]) for g in opt.param_groups]
    [(2, 0.001, 1.0), (2, 0.0001, 0.1)]
    """
    ssl_ids = {id(p) for module in ssl_modules for p in module.parameters()}
    params = list(params)
    opt = optimizer(
        [
            {"params": [p for p in params if id(p) not in ssl_ids]},
            {"params": [p for p in params if id(p) in ssl_ids], "lr": ssl_lr},
        ]
    )
    for group in opt.param_groups:
        group["lr_scale"] = group["lr"] / opt.defaults["lr"]
    return opt


class ScaledNoamScheduler(NoamScheduler):
    """SpeechBrain's Noam schedule, times each parameter group's ``lr_scale``.

    ``NoamScheduler`` gives every group the same learning rate; this keeps
    the ratios set by :func:`optimizer_with_ssl_lr` (groups without
    ``lr_scale`` follow the schedule as they are). Checkpointed like
    ``NoamScheduler``.

    Example
    -------
    >>> import functools
    >>> import torch
    >>> head, ssl = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> params = [*head.parameters(), *ssl.parameters()]
    >>> adam = functools.partial(torch.optim.Adam, lr=1.0)
    >>> opt = optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr=0.1)
    >>> scheduler = ScaledNoamScheduler(lr_initial=1.0, n_warmup_steps=2)
    >>> _ = scheduler(opt)
    >>> [round(group["lr"], 4) for group in opt.param_groups]
    [0.5, 0.05]
    """

    def __call__(self, opt):
        """Advance one step; return the first group's old and new rates."""
        current_lr, lr = super().__call__(opt)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return current_lr, lr
