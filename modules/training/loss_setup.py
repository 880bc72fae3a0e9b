"""The run's exit loss, from the YAML's ``loss_class`` and ``loss_options``.

Every exit loss of :mod:`modules.losses` (a subclass of
:class:`modules.losses.exit_losses.ExitLoss`) is found by name, so that an
error can list the valid ``loss_class`` values.
"""

import importlib
import inspect
import pkgutil
from collections.abc import Mapping

import modules.losses
from modules.losses.exit_losses import EarlyExitCTCLoss, ExitLoss


def exit_loss_classes():
    """Every exit loss of :mod:`modules.losses`, by dotted name.

    Example
    -------
    >>> "modules.losses.exit_losses.EarlyExitCTCLoss" in exit_loss_classes()
    True
    >>> "modules.losses.exit_losses.ExitLoss" in exit_loss_classes()
    False
    """
    classes = {}
    for info in pkgutil.iter_modules(modules.losses.__path__):
        module = importlib.import_module(f"modules.losses.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, ExitLoss)
                and value is not ExitLoss
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                classes[f"{module.__name__}.{name}"] = value
    return classes


def class_name(value):
    """Dotted name of a class, else the value's ``repr``."""
    if inspect.isclass(value):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def check_loss_class(loss_class):
    """Refuse a ``loss_class`` that is not an exit loss class.

    Example
    -------
    >>> import torch
    >>> check_loss_class(torch.nn.CTCLoss)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: loss_class=torch.nn.modules.loss.CTCLoss is not an exit loss ...
    """
    if inspect.isclass(loss_class) and loss_class in exit_loss_classes().values():
        return
    valid = ", ".join(f"!name:{name}" for name in exit_loss_classes())
    raise ValueError(
        f"loss_class={class_name(loss_class)} is not an exit loss (a subclass of "
        f"modules.losses.exit_losses.ExitLoss); use one of: {valid}, without "
        "arguments (they go in loss_options)"
    )


def build_exit_loss(hparams, num_exits):
    """The loss ``loss_class(num_exits=N, blank_index=..., **loss_options)``.

    Example
    -------
    >>> from modules.losses.distillation import DynamicKDLoss
    >>> hparams = {"loss_class": DynamicKDLoss, "blank_index": 0,
    ...            "loss_options": {"alphas": [0.8, 1.0]}}
    >>> build_exit_loss(hparams, 2).alphas
    [0.8, 1.0]
    """
    loss_class = hparams.get("loss_class", EarlyExitCTCLoss)
    check_loss_class(loss_class)
    options = hparams.get("loss_options") or {}
    if not isinstance(options, Mapping):
        raise ValueError(
            f"loss_options={options!r} must map {class_name(loss_class)}'s "
            "argument names to values, e.g. loss_options: {} for none"
        )
    blank_index = hparams.get("blank_index")
    if not isinstance(blank_index, int):
        raise ValueError(
            f"blank_index={blank_index!r}: give the CTC blank's token id "
            "(blank_index: 0 with this project's tokenizers)"
        )
    try:
        return loss_class(num_exits=num_exits, blank_index=blank_index, **options)
    except TypeError as error:
        raise ValueError(
            f"loss_options={dict(options)} do not fit "
            f"loss_class={class_name(loss_class)} ({error}); see its docstring "
            "for its arguments"
        ) from error
