"""Dynamic exit policies and the runner that stops computing per utterance."""

import math

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from benchmark.variants import PolicyVariant
from modules.exits.dynamic import dynamic_exit_forward
from modules.exits.policies import (
    POLICIES,
    ExitObservation,
    ExitPolicy,
    build_policy,
)
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import (
    ConformerLayerStack,
    EncoderState,
    LayerStack,
)
from modules.nn.lengths import padding_mask

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
    return torch.round(lens * frames).long().tolist()


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


def observation(log_probs, valid=None, hidden=None, index=1):
    """An :class:`ExitObservation` of hand-made log-posteriors."""
    batch, frames = log_probs.shape[:2]
    if valid is None:
        valid = torch.ones(batch, frames, dtype=torch.bool)
    if hidden is None:
        hidden = torch.zeros(batch, frames, 2)
    return ExitObservation(
        index, index, hidden, valid, torch.arange(batch), log_probs=log_probs
    )


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


# ---------------------------------------------------------------------------
# Criteria on hand-made posteriors
# ---------------------------------------------------------------------------
def test_entropy_and_confidence_of_known_posteriors():
    uniform = torch.full((1, 3, VOCAB), 1.0 / VOCAB).log()
    peaked = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3]]), VOCAB)
    peaked = peaked.float().clamp(min=1e-30).log()
    # second utterance: 2 valid uniform frames, a padded one-hot frame
    mixed = torch.cat([uniform[:, :2], peaked[:, :1]], dim=1)
    valid = torch.tensor([[True] * 3, [True] * 3, [True, True, False]])
    obs = observation(torch.cat([uniform, peaked, mixed]), valid)
    entropy = build_policy("entropy", 0.1).criterion(obs, [])
    confidence = build_policy("confidence", 0.5).criterion(obs, [])
    torch.testing.assert_close(
        entropy, torch.tensor([math.log(VOCAB), 0.0, math.log(VOCAB)])
    )
    torch.testing.assert_close(confidence, torch.tensor([1 / VOCAB, 1.0, 1 / VOCAB]))
    assert build_policy("entropy", 0.1).decide(obs, []).tolist() == [False, True, False]
    assert build_policy("confidence", 0.5).decide(obs, []).tolist() == [
        False,
        True,
        False,
    ]


def test_similarity_of_known_hidden_states():
    base = torch.randn(3, 4, 6)
    later = torch.stack([base[0], -base[1], 2 * base[2]])
    later[2, 3] = -base[2, 3]  # a padded frame pointing the other way
    valid = torch.tensor([[True] * 4, [True] * 4, [True] * 3 + [False]])
    lp = torch.zeros(3, 4, 1)
    first = observation(lp, valid, base, index=1)
    second = observation(lp, valid, later, index=2)
    policy = build_policy("similarity", 0.9)
    assert policy.criterion(first, []).isnan().all()
    assert policy.decide(first, []).tolist() == [False, False, False]
    values = policy.criterion(second, [first])
    torch.testing.assert_close(values, torch.tensor([1.0, -1.0, 1.0]))
    assert policy.decide(second, [first]).tolist() == [True, False, True]


def test_patience_counts_agreeing_previous_exits():
    def exit_with(tokens, index):
        lp = torch.nn.functional.one_hot(torch.tensor(tokens), 4).float()
        return observation(lp.clamp(min=1e-30).log(), index=index)

    # utterance 0 says "1" at every exit; utterance 1 changes its mind
    exits = [
        exit_with([[1, 0], [2, 0]], 1),
        exit_with([[1, 1], [3, 0]], 2),
        exit_with([[0, 1], [3, 3]], 3),
    ]
    policy = build_policy("patience", 2)
    values = [policy.criterion(e, exits[:k][-2:]) for k, e in enumerate(exits)]
    assert [v.tolist() for v in values] == [[0, 0], [1, 0], [2, 1]]
    assert policy.decide(exits[2], exits[:2]).tolist() == [True, False]


def test_posterior_of_known_nbest():
    # one frame: blank 0.1, token 1 0.6, token 2 0.3 -> n-best "1", "2", ""
    frame = torch.tensor([0.1, 0.6, 0.3])
    # second utterance: the same frame then a padded frame that would add
    # more hypotheses if it were decoded
    lp = torch.stack([frame, torch.tensor([0.1, 0.3, 0.6])]).log().unsqueeze(0)
    lp = torch.cat([lp, lp])
    valid = torch.tensor([[True, False], [True, True]])
    policy = build_policy("posterior", 0.5, decoder="beam", topk=3)
    values = policy.criterion(observation(lp, valid), [])
    assert values[0].item() == pytest.approx(0.6, abs=1e-6)
    assert values[1].item() < 0.6


def test_batch_mode_compares_the_batch_mean():
    uniform = torch.full((1, 2, 4), 0.25).log()
    certain = torch.tensor([[[0.97, 0.01, 0.01, 0.01]] * 2]).log()
    obs = observation(torch.cat([uniform, certain]))
    per_utt = build_policy("entropy", 0.8).criterion(obs, [])
    assert build_policy("entropy", 0.8).decide(obs, []).tolist() == [False, True]
    batch = build_policy("entropy", 0.8, mode="batch")
    assert per_utt.mean() < 0.8 and batch.decide(obs, []).tolist() == [True, True]
    stricter = build_policy("entropy", 0.5, mode="batch")
    assert stricter.decide(obs, []).tolist() == [False, False]


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


# ---------------------------------------------------------------------------
# Configuration errors and the benchmark adapter
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("entropi", 0.1), {}, r"policy='entropi'.*entropy, confidence, posterior"),
        (("entropy", -0.1), {}, r"threshold=-0.1 .*\[0.0, inf\)"),
        (("entropy", math.inf), {}, r"threshold=inf"),
        (("entropy", math.nan), {}, r"threshold=nan"),
        (("entropy", "0.1"), {}, r"threshold='0.1'"),
        (("confidence", 0.0), {}, r"threshold=0.0 .*\(0.0, 1.0\]"),
        (("confidence", 1.5), {}, r"threshold=1.5 .*\(0.0, 1.0\]"),
        (("posterior", 0.0), {"decoder": "beam"}, r"threshold=0.0 .*\(0.0, 1.0\]"),
        (("similarity", 1.01), {}, r"threshold=1.01 .*\[-1.0, 1.0\]"),
        (("similarity", -2), {}, r"threshold=-2 .*\[-1.0, 1.0\]"),
        (("patience", 0), {}, r"threshold=0 .*integer k >= 1"),
        (("patience", 1.5), {}, r"threshold=1.5 .*integer k >= 1"),
        (("patience", True), {}, r"threshold=True"),
        (("entropy", 0.1), {"mode": "frame"}, r"mode='frame'.*utterance"),
        (("entropy", 0.1), {"decoder": "viterbi"}, r"decoder='viterbi'"),
        (("posterior", 0.9), {}, r"policy='posterior'.*decoder='greedy'"),
        (("posterior", 0.9), {"decoder": "greedy"}, r"decoder='greedy'"),
        (("posterior", 0.9), {"decoder": "beam", "topk": 1}, r"topk=1"),
    ],
)
def test_bad_settings_are_clear_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_policy(*args, **kwargs)


def test_posterior_refuses_a_searcher_without_nbest():
    from speechbrain.decoders.ctc import CTCBeamSearcher

    searcher = CTCBeamSearcher(blank_index=0, vocab_list=["\u2581a", "\u2581b"])
    with pytest.raises(ValueError, match="topk=1"):
        build_policy("posterior", 0.9, decoder="beam", searcher=searcher)


def test_registry_and_valid_settings():
    assert sorted(POLICIES) == [
        "confidence",
        "entropy",
        "patience",
        "posterior",
        "similarity",
    ]
    assert build_policy("patience", 2.0).threshold == 2
    assert build_policy("similarity", -1).threshold == -1.0
    assert build_policy("posterior", 1.0, decoder="beam").threshold == 1.0


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


def test_upsampling_head_outputs_use_valid_frames_at_their_rate():
    """A CTC-upsampling head emits 2 outputs per encoder frame: the valid
    mask is repeated, so padding stays out of the criterion and lengths."""
    confident, uniform = [0.9, 0.1], [0.5, 0.5]
    log_probs = torch.tensor([[confident, confident, uniform, uniform]]).log()
    valid = torch.tensor([[True, False]])
    obs = observation(log_probs, valid, hidden=torch.zeros(1, 2, 2))
    assert obs.lengths.tolist() == [2]
    confidence = build_policy("confidence", 0.5).criterion(obs, [])
    torch.testing.assert_close(confidence, torch.tensor([0.9]))


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
