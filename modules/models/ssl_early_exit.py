"""Early-exit CTC on an SSL encoder, with the exit heads of the SSL recipe.

The model of ``hparams/ssl_ctc_early_exit.yaml``: every exit head is DNN
blocks (:func:`modules.nn.heads.build_dnn`) followed by a linear CTC layer, as
in the published SSL fine-tuning recipes.
"""

import torch

from modules.models.early_exit import EarlyExitCTC
from modules.nn.heads import build_dnn


class DNNHeadEarlyExitCTC(EarlyExitCTC):
    """:class:`~modules.models.early_exit.EarlyExitCTC` with DNN + linear exit heads.

    Every head (or the one shared head) is
    :func:`modules.nn.heads.build_dnn` followed by the
    CTC output layer ``EarlyExitCTC`` builds, as in the published SSL
    fine-tuning recipes. Parameter names: ``heads.<i>.0.*`` (DNN) and
    ``heads.<i>.1.*`` (output layer).

    Arguments
    ---------
    frontend, encoder, output_size, vocab_size
        As for :class:`~modules.models.early_exit.EarlyExitCTC`.
    dnn_blocks : int
        DNN blocks before each output layer; 0 for a plain linear head.
    dnn_neurons : int
        Units of every block.
    dnn_dropout : float
        Dropout after every block.
    **options
        The other options of ``EarlyExitCTC`` (``exit_every``,
        ``exit_layers``, ``shared_head``, ``ctc_upsampling``,
        ``keep_layers``).

    Example
    -------
    >>> from modules.nn.ssl import build_ssl_encoder
    >>> from modules.nn.ssl_loading import TINY_CONFIG
    >>> frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    >>> model = DNNHeadEarlyExitCTC(frontend, stack, size, 7, dnn_neurons=16)
    >>> model.head(1)[1]
    Linear(in_features=16, out_features=7, bias=True)
    >>> [lp.shape for lp in model(torch.rand(1, 1600), torch.ones(1))]
    [torch.Size([1, 159, 7])]
    """

    def __init__(
        self,
        frontend,
        encoder,
        output_size,
        vocab_size,
        dnn_blocks=1,
        dnn_neurons=1024,
        dnn_dropout=0.15,
        **options,
    ):
        head_input = dnn_neurons if dnn_blocks else output_size
        super().__init__(frontend, encoder, head_input, vocab_size, **options)
        self.heads = torch.nn.ModuleList(
            torch.nn.Sequential(
                build_dnn(output_size, dnn_blocks, dnn_neurons, dnn_dropout), head
            )
            for head in self.heads
        )
