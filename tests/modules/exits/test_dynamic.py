"""The dynamic-exit runner stops computing per utterance
(modules/exits/dynamic.py), with real policies and the benchmark adapter."""

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from benchmark.variants import PolicyVariant
from modules.exits.dynamic import dynamic_exit_forward, select_utterances
from modules.exits.exit_policy import ExitPolicy
from modules.exits.policies import build_policy
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import (
    ConformerLayerStack,
    EncoderState,
    LayerStack,
)
from modules.nn.lengths import frame_lengths, padding_mask
from tests.modules.exits.observations import observation

D_MODEL = 32
VOCAB = 11
NUM_LAYERS = 5
LENS = torch.tensor([1.0, 0.5, 0.75, 0.25])  # 12, 6, 9 and 3 valid frames


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


class MLPStack(LayerStack):
    """A layer stack that is not a Conformer: position-wise MLP layers."""

    def __init__(self, num_layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(D_MODEL, D_MODEL) for _ in range(num_layers)
        )

    def begin(self, x, rel_lens):
        return EncoderState(x, padding_mask(rel_lens, x.shape[1]))

    def run_layer(self, index, state):
        return state.hidden + torch.tanh(self.layers[index](state.hidden))


def make_model(stack="conformer", **exit_kwargs):
    torch.manual_seed(0)
    if stack == "conformer":
        encoder = ConformerLayerStack(
            ConformerEncoder(
                num_layers=NUM_LAYERS, d_model=D_MODEL, d_ffn=64, nhead=4, kernel_size=3
            )
        )
    else:
        encoder = MLPStack(NUM_LAYERS)
    if "exit_layers" not in exit_kwargs:
        exit_kwargs.setdefault("exit_every", 1)
    model = EarlyExitCTC(identity_frontend, encoder, D_MODEL, VOCAB, **exit_kwargs)
    return model.eval()


def make_batch(lens=LENS, frames=12):
    torch.manual_seed(1)
    return torch.rand(len(lens), frames, D_MODEL) * 4, lens


def valid_frames(lens, frames):
    return frame_lengths(lens, frames)


class PlannedExits(ExitPolicy):
    """Test policy: utterance ``i`` (original batch position) exits at
    ``plan[i]``; records the running batch size and history length seen."""

    name = "planned"
    history_size = 2

    def __init__(self, plan):
        self.plan = torch.tensor(plan)
        self.mode = "utterance"
        self.seen = []

    def decide(self, obs, history):
        assert all(torch.equal(past.utterances, obs.utterances) for past in history), (
            "history must follow the running utterances"
        )
        self.seen.append((obs.index, obs.utterances.tolist(), len(history)))
        return self.plan[obs.utterances] == obs.index


def record_layer_batches(model):
    """Batch size seen by every layer call, as (layer, batch size)."""
    seen = []
    for index, layer in enumerate(model.encoder.layers):
        layer.register_forward_pre_hook(
            lambda _, args, i=index: seen.append((i, args[0].shape[0]))
        )
    return seen


# ---------------------------------------------------------------------------
# The runner stops computing
# ---------------------------------------------------------------------------
def test_exit_one_runs_only_layer_one():
    model = make_model()
    seen = record_layer_batches(model)
    x, lens = make_batch()
    result = dynamic_exit_forward(model, x, lens, build_policy("entropy", 100.0))
    assert seen == [(0, 4)]
    assert result.exit_index.tolist() == [1, 1, 1, 1]
    assert result.layers_run.tolist() == [1, 1, 1, 1]


def test_batch_shrinks_as_utterances_exit():
    model = make_model()
    seen = record_layer_batches(model)
    x, lens = make_batch()
    policy = PlannedExits([2, 1, 5, 3])
    result = dynamic_exit_forward(model, x, lens, policy)
    assert seen == [(0, 4), (1, 3), (2, 2), (3, 1), (4, 1)]
    assert result.exit_index.tolist() == [2, 1, 5, 3]
    assert result.layers_run.tolist() == [2, 1, 5, 3]
    assert result.mean_layers == pytest.approx(11 / 4)
    # exit 5 is the last: taken without asking the policy
    assert policy.seen == [
        (1, [0, 1, 2, 3], 0),
        (2, [0, 2, 3], 1),
        (3, [2, 3], 2),
        (4, [2], 2),
    ]


def test_exit_layers_spaced_apart_count_layers_not_exits():
    model = make_model(exit_layers=[2, 5])
    seen = record_layer_batches(model)
    x, lens = make_batch()
    result = dynamic_exit_forward(model, x, lens, PlannedExits([1, 2, 1, 2]))
    assert seen == [(0, 4), (1, 4), (2, 2), (3, 2), (4, 2)]
    assert result.layers_run.tolist() == [2, 5, 2, 5]


# ---------------------------------------------------------------------------
# Outputs equal the static model's
# ---------------------------------------------------------------------------
NEVER = [
    ("entropy", 0.0, {}),
    ("confidence", 1.0, {}),
    ("similarity", 1.0, {}),
    ("patience", NUM_LAYERS, {}),
    ("posterior", 1.0, {"decoder": "beam", "topk": 3, "beam_size": 4}),
]


@pytest.mark.parametrize("name, threshold, kwargs", NEVER, ids=[n[0] for n in NEVER])
def test_threshold_never_met_gives_last_exit(name, threshold, kwargs):
    model = make_model()
    x, lens = make_batch()
    policy = build_policy(name, threshold, **kwargs)
    result = dynamic_exit_forward(model, x, lens, policy)
    with torch.no_grad():
        static = model(x, lens)[-1]
    assert result.exit_index.tolist() == [NUM_LAYERS] * 4
    for i, n in enumerate(valid_frames(lens, x.shape[1])):
        torch.testing.assert_close(result.log_probs[i, :n], static[i, :n])


@pytest.mark.parametrize("stack", ["conformer", "mlp"])
@pytest.mark.parametrize(
    "plan, lens", [([2, 1, 5, 3], LENS), ([3], torch.tensor([1.0]))]
)
def test_each_utterance_gets_the_static_output_of_its_exit(stack, plan, lens):
    model = make_model(stack)
    x, lens = make_batch(lens)
    result = dynamic_exit_forward(model, x, lens, PlannedExits(plan))
    assert result.exit_index.tolist() == plan
    with torch.no_grad():
        for i, n in enumerate(valid_frames(lens, x.shape[1])):
            alone = model.exit_log_probs(x[i : i + 1, :n], torch.ones(1), plan[i])
            torch.testing.assert_close(
                result.log_probs[i, :n], alone[0], atol=1e-4, rtol=1e-4
            )


def static_exits(model, x, lens):
    """Observations of every exit of the whole batch, from a static run."""
    valid = ~padding_mask(lens, x.shape[1])
    with torch.no_grad():
        return [
            observation(out.log_probs, valid, out.hidden, out.index)
            for out in model.iter_exits(x, lens)
        ]


def mixing_threshold(values):
    """A threshold splitting the utterances at the first exit where the
    criterion is defined (``values [exits, B]``): some exit there, some go on.
    """
    row = next(v for v in values if torch.isfinite(v).all()).sort().values
    k = int((row[1:] - row[:-1]).argmax())
    return float((row[k] + row[k + 1]) / 2)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("entropy", {}),
        ("confidence", {}),
        ("similarity", {}),
        ("posterior", {"decoder": "beam", "topk": 3, "beam_size": 4}),
    ],
)
def test_real_policies_decide_as_on_static_exits(name, kwargs):
    model = make_model()
    x, lens = make_batch()
    exits = static_exits(model, x, lens)
    probe = build_policy(name, 0.5, **kwargs)
    values = torch.stack(
        [probe.criterion(obs, exits[:k][-1:]) for k, obs in enumerate(exits)]
    )
    policy = build_policy(name, mixing_threshold(values[:-1]), **kwargs)
    expected = []
    for i in range(len(lens)):
        passed = [k + 1 for k in range(NUM_LAYERS - 1) if policy.passes(values[k, i])]
        expected.append(passed[0] if passed else NUM_LAYERS)
    assert len(set(expected)) > 1, "the threshold should mix decisions"
    result = dynamic_exit_forward(model, x, lens, policy)
    assert result.exit_index.tolist() == expected
    for i, n in enumerate(valid_frames(lens, x.shape[1])):
        static = exits[expected[i] - 1].log_probs[i, :n]
        torch.testing.assert_close(result.log_probs[i, :n], static)


@pytest.mark.parametrize("patience", [1, 2])
def test_patience_follows_the_greedy_transcripts(patience):
    # small residual updates and a shared head: transcripts settle at
    # different exits for different utterances
    model = make_model("mlp", shared_head=True)
    with torch.no_grad():
        for layer in model.encoder.layers:
            layer.weight.mul_(0.3)
            layer.bias.mul_(0.3)
    x, lens = make_batch()
    exits = static_exits(model, x, lens)
    expected = []
    for i in range(len(lens)):
        said = [obs.transcripts[i] for obs in exits]
        settled = [
            k + 1
            for k in range(patience, NUM_LAYERS)
            if all(t == said[k] for t in said[k - patience : k])
        ]
        expected.append(settled[0] if settled else NUM_LAYERS)
    assert len(set(expected)) > 1, "the model should mix decisions"
    result = dynamic_exit_forward(model, x, lens, build_policy("patience", patience))
    assert result.exit_index.tolist() == expected
    for i, n in enumerate(valid_frames(lens, x.shape[1])):
        static = exits[expected[i] - 1].log_probs[i, :n]
        torch.testing.assert_close(result.log_probs[i, :n], static)


def test_batch_mode_exits_all_together():
    model = make_model()
    x, lens = make_batch()
    exits = static_exits(model, x, lens)
    probe = build_policy("entropy", 1.0)
    means = [float(probe.criterion(obs, []).mean()) for obs in exits]
    best = min(range(NUM_LAYERS - 1), key=lambda k: means[k])
    above = min(means[:best], default=means[best] + 0.2)
    threshold = (means[best] + above) / 2
    policy = build_policy("entropy", threshold, mode="batch")
    result = dynamic_exit_forward(model, x, lens, policy)
    assert result.exit_index.tolist() == [best + 1] * 4
    torch.testing.assert_close(result.log_probs, exits[best].log_probs)


def test_policy_variant_records_exits_for_the_benchmark():
    model = make_model()
    x, lens = make_batch()
    variant = PolicyVariant(PlannedExits([2, 1, 5, 3]))
    log_probs = variant(model, x, lens)
    assert log_probs.shape == (4, 12, VOCAB)
    summary = variant.summary()
    assert summary["utterances"] == 4 and summary["mean_layers"] == 11 / 4
    assert summary["exit_counts"] == {1: 1, 2: 1, 3: 1, 5: 1}
    variant.reset()
    assert variant.summary() == {"utterances": 0}


@pytest.mark.parametrize("name", ["entropy", "confidence", "patience", "posterior"])
def test_policies_run_on_an_upsampling_model(name):
    model = make_model(ctc_upsampling=True)
    x, lens = make_batch()
    beam = {"decoder": "beam", "topk": 3, "beam_size": 4}
    policy = build_policy(
        name, 1 if name == "patience" else 0.5, **(beam if name == "posterior" else {})
    )
    result = dynamic_exit_forward(model, x, lens, policy)
    exits = static_exits(model, x, lens)
    assert result.log_probs.shape[1] == 2 * x.shape[1]
    for i, n in enumerate(valid_frames(lens, x.shape[1])):
        static = exits[int(result.exit_index[i]) - 1].log_probs[i, : 2 * n]
        torch.testing.assert_close(result.log_probs[i, : 2 * n], static)


def test_select_utterances_asks_a_state_that_can_select():
    class OwnSelection:
        def select(self, rows):
            return rows.tolist()

    assert select_utterances(OwnSelection(), torch.tensor([2, 0])) == [2, 0]
    state = EncoderState(torch.zeros(2, 3, 1), None)
    assert select_utterances(state, torch.tensor([1])).padding_mask is None
