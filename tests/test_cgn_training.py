"""CGN training, role orientation, the classifiers of Table 2 / Table 5, and the lifecycle
(config, result, Result) with its cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from causalkit.cgn import CGN, PRESETS, CgnConfig, Result, config, make_variant, result
from causalkit.cgn.classifiers import (
    COLOR_BINS,
    IRM_ENVIRONMENTS,
    TABLE5_CORRELATIONS,
    ClassifierConfig,
    _ReverseGradient,
    color_bias,
    generate,
    irm_environments,
    irm_penalty,
    train_irm,
    train_lntl,
    train_mechanism_classifiers,
)
from causalkit.cgn.model import orient_roles
from causalkit.cgn.train import SNAPSHOT_CLASSES, TrainConfig, load_cgn, train_cgn

TINY = TrainConfig(steps=4, batch_size=8, ngf=4, ndf=4, log_every=2, snapshots=2)
TINY_CLF = ClassifierConfig(width=4, epochs=2, batch_size=32, generated=60, per_noise=3)


@pytest.fixture(scope="module")
def train():
    return make_variant("colored", "train")


@pytest.fixture(scope="module")
def tiny_run(train):
    return train_cgn(train, TINY, seed=0)


def test_training_records_history_snapshots_and_a_loadable_model(tiny_run):
    history = tiny_run["history"]
    assert history["step"] == [2, 4]
    assert all(0 <= mu <= 1 for mu in history["mu_mask"])
    assert all(0 <= b <= 1 for b in history["binary"])
    snaps = tiny_run["snapshots"]
    assert snaps["step"] == [0, 2, 4]
    assert snaps["mask"].shape == (3, len(SNAPSHOT_CLASSES), 1, 32, 32)
    assert snaps["composite"].shape == (3, len(SNAPSHOT_CLASSES), 3, 32, 32)
    cgn = load_cgn(tiny_run, "cpu")
    assert isinstance(cgn, CGN) and not cgn.training
    # The loaded weights are the trained ones, not a fresh init.
    assert all(torch.equal(v, tiny_run["state"][k]) for k, v in cgn.state_dict().items())


def test_training_is_deterministic_and_moves_the_weights(train, tiny_run):
    again = train_cgn(train, TINY, seed=0)
    assert again["history"]["mu_mask"] == tiny_run["history"]["mu_mask"]
    torch.manual_seed(123)
    fresh = CGN(ngf=4).state_dict()
    changed = [
        k
        for k, v in tiny_run["state"].items()
        if v.is_floating_point() and not torch.equal(v, fresh[k])
    ]
    assert changed


def test_ablation_switches(train):
    no_shuffle = train_cgn(train, dataclasses.replace(TINY, texture_bias=False, steps=2))
    assert load_cgn(no_shuffle).f_text1.shuffle.patch_size == 32
    no_adv = train_cgn(train, dataclasses.replace(TINY, adversarial=False, steps=2))
    assert no_adv["history"]["loss_d"] == [0.0]
    with pytest.raises(ValueError, match="nothing to train"):
        TrainConfig(shape_loss=False, adversarial=False)


def test_orient_roles_swaps_an_inverted_cgn_without_changing_composites():
    torch.manual_seed(0)
    # One patch per image: the shuffles, which draw from one generator in module order,
    # cannot differ between the two orders of the texture mechanisms.
    cgn = CGN(ngf=4, patch_size=32).eval()
    cgn.f_shape.net[-2].bias.data.fill_(3.0)  # mask ≈ 0.95 everywhere: the roles are swapped
    g = torch.Generator().manual_seed(1)
    inputs = cgn.sample_inputs(16, g, counterfactual=True)
    args = {k: v for k, v in inputs.items() if k != "counterfactual"}
    before = cgn(**args, generator=torch.Generator().manual_seed(2))
    assert orient_roles(cgn) is True
    after = cgn(
        **{
            **args,
            "y_fg": args["y_bg"],
            "y_bg": args["y_fg"],
            "u_fg": args["u_bg"],
            "u_bg": args["u_fg"],
        },
        generator=torch.Generator().manual_seed(2),
    )
    assert torch.allclose(after["mask"], 1 - before["mask"], atol=1e-6)
    assert torch.allclose(after["composite"], before["composite"], atol=1e-5)
    assert orient_roles(cgn) is False  # now the mask is the small region


def test_generate_counterfactual_and_gan_samples(tiny_run):
    cgn = load_cgn(tiny_run, "cpu")
    cf = generate(cgn, 300, counterfactual=True, per_noise=3, seed=0)
    assert cf["images"].shape == (300, 3, 32, 32)
    # Independent classes per mechanism: they agree about 1 time in 10, not always.
    assert (cf["shape"] == cf["fg"]).float().mean() < 0.3
    assert (cf["fg"] == cf["bg"]).float().mean() < 0.3
    assert set(cf["shape"].tolist()) == set(range(10))
    gan = generate(cgn, 50, counterfactual=False, seed=0)
    assert torch.equal(gan["shape"], gan["fg"]) and torch.equal(gan["fg"], gan["bg"])
    assert torch.equal(
        generate(cgn, 50, counterfactual=True, seed=4)["images"],
        generate(cgn, 50, counterfactual=True, seed=4)["images"],
    )


def test_irm_penalty_by_hand():
    # Cross-entropy of logits w·(0, 0) is log 2 for any w: gradient 0, penalty 0.
    assert irm_penalty(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])).item() == pytest.approx(0.0)
    # One example, logits (1, 0), label 0: d/dw CE(w·z) at w = 1 is −(1 − softmax_0) = −(1 − σ(1)).
    logits = torch.tensor([[1.0, 0.0]])
    expected = (1 - torch.sigmoid(torch.tensor(1.0))) ** 2
    assert irm_penalty(logits, torch.tensor([0])).item() == pytest.approx(expected.item(), rel=1e-5)


def test_irm_environments_are_whole_versions_with_their_own_cues():
    envs = irm_environments("double_colored", 5)
    assert [e.correlation for e in envs] == list(IRM_ENVIRONMENTS[5])
    # App. C.4's "versions" of the data set: every environment has all 4,000 digits ...
    assert all(torch.equal(e.digit_index, envs[0].digit_index) for e in envs)
    assert len(envs[0].digit_index.unique()) == 4000
    assert (envs[-1].fg_classes == envs[-1].labels).all()
    agree = (envs[0].fg_classes == envs[0].labels).float().mean().item()
    assert 0.88 < agree < 0.92
    # ... and draws its cues on its own: the off-cue digits of 90 % and 92.5 % differ.
    off = [set(torch.nonzero(e.fg_classes != e.labels).flatten().tolist()) for e in envs[:2]]
    assert len(off[0] & off[1]) < 0.5 * min(map(len, off))
    with pytest.raises(ValueError, match="n_envs"):
        irm_environments("colored", 3)


def test_irm_trains_and_rejects_one_environment():
    envs = [e.subset(torch.arange(64)) for e in irm_environments("colored", 2)]
    net = train_irm(envs, TINY_CLF)
    assert not net.training
    with pytest.raises(ValueError, match="two"):
        train_irm(envs[:1], TINY_CLF)


def test_color_bias_is_the_quantised_color_of_the_digit(train):
    bias = color_bias(train)
    assert bias.shape == (len(train.labels), 3) and bias.dtype == torch.int64
    assert bias.min() >= 0 and bias.max() < COLOR_BINS
    # Colored MNIST paints each class one (jittered) palette color, so the bins name the
    # class: each bin triple belongs almost only to one class (jitter moves some digits to a
    # neighbouring bin, never to another class's).
    codes = bias[:, 0] * COLOR_BINS**2 + bias[:, 1] * COLOR_BINS + bias[:, 2]
    majority = sum(
        train.fg_classes[codes == code].bincount().max().item() for code in codes.unique()
    )
    assert majority == len(codes)
    # A black background adds nothing: the mean is over the digit's own pixels.
    painted = train.subset(torch.arange(8))
    painted.images[:] = 0.6 * painted.masks
    assert (color_bias(painted) == int(0.6 * COLOR_BINS)).all()


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.ones(3, requires_grad=True)
    _ReverseGradient.apply(x, 0.25).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -0.25))


def test_lntl_trains_and_rejects_a_nonfinite_weight():
    data = make_variant("colored", "train").subset(torch.arange(512))
    net = train_lntl(data, TINY_CLF)
    assert not net.training
    with pytest.raises(ValueError, match="lntl_reversal"):
        ClassifierConfig(lntl_reversal=float("nan"))


def test_mechanism_classifiers_one_per_mechanism(tiny_run):
    nets = train_mechanism_classifiers(load_cgn(tiny_run, "cpu"), TINY_CLF)
    assert set(nets) == {"shape", "fg", "bg"}


def test_bad_inputs():
    with pytest.raises(ValueError, match="training split"):
        train_cgn(make_variant("colored", "test"), TINY)
    with pytest.raises(ValueError, match="MnistVariant"):
        train_cgn(torch.zeros(3), TINY)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match="CGN"):
        generate("not a cgn", 10, counterfactual=True)
    with pytest.raises(ValueError, match="train_cgn"):
        load_cgn({"state": {}})
    with pytest.raises(ValueError, match="variant"):
        result(config(cgn=TINY)).cgn("fashion")
    with pytest.raises(ValueError, match="variant"):
        result(config(cgn=TINY)).table2("fashion")
    with pytest.raises(ValueError, match="preset"):
        config("huge")
    with pytest.raises(ValueError, match="per_noise"):
        ClassifierConfig(per_noise=0)
    with pytest.raises(ValueError, match="cgn must be a TrainConfig"):
        config(cgn=TINY_CLF)
    with pytest.raises(ValueError, match="ablation_variant"):
        config(ablation_variant="fashion")


def test_cgn_results_are_cached(tmp_cache):
    first = result(config(cgn=TINY), seed=1).training("colored")
    assert len(list(tmp_cache.glob("cgn-model-*.pt"))) == 1
    second = result(config(cgn=TINY), seed=1).training("colored")  # a new Result: from disk
    assert second is not first and second["history"] == first["history"]
    assert all(torch.equal(second["state"][k], v) for k, v in first["state"].items())


def test_presets_config_and_the_lazy_result(tmp_cache):
    assert set(PRESETS) == {"quick", "paper"}
    assert PRESETS["paper"].cgn.ngf >= PRESETS["quick"].cgn.ngf
    assert config("paper") == PRESETS["paper"] and isinstance(config(), CgnConfig)
    assert config(ablation_steps=3).ablation_steps == 3
    with pytest.raises(ValueError, match="has no field 'seed'"):
        config(seed=1)  # the seed lives in result() only
    run = result(config(cgn=TINY), seed=0)
    assert isinstance(run, Result)
    assert not tmp_cache.exists() or not any(tmp_cache.iterdir())  # nothing trained yet
    cgn = run.cgn("wildlife")
    assert isinstance(cgn, CGN) and cgn.f_shape.net[0].in_features == cgn.latent_dim + 10
    assert run.cgn("wildlife") is cgn and not cgn.training
    assert run.training("wildlife")["config"] == dataclasses.asdict(TINY)
    assert len(list(tmp_cache.glob("cgn-model-*.pt"))) == 1


def test_result_tables_are_built_lazily_and_cached(tmp_cache, monkeypatch):
    # The plumbing, not the numbers: every variant cut to 256 digits keeps this test fast.
    from causalkit.cgn import classifiers, experiment

    def small_variant(*args, **kwargs):
        return make_variant(*args, **kwargs).subset(torch.arange(256))

    monkeypatch.setattr(experiment, "make_variant", small_variant)
    monkeypatch.setattr(classifiers, "make_variant", small_variant)
    tiny = config(cgn=TINY, classifier=TINY_CLF, ablation_steps=2)
    run = result(tiny, seed=0)
    table2 = run.table2("colored")
    assert set(table2["accuracy"]) == {"original", "irm2", "irm5", "lntl", "gan", "cgn"}
    assert all(0 <= a[s] <= 1 for a in table2["accuracy"].values() for s in ("train", "test"))
    assert table2["mu_mask"] == run.training("colored")["history"]["mu_mask"][-1]
    assert run.table2("colored") is table2
    assert set(run.table5) == {"shape", "fg", "bg"}
    assert all(len(accs) == len(TABLE5_CORRELATIONS) for accs in run.table5.values())
    assert set(run.ablation) == {"full", "no L_shape", "no texture bias", "no adversarial loss"}
    names = {p.name.split("-")[1] for p in tmp_cache.glob("cgn-*.pt")}
    assert names == {"model", "table2", "table5", "ablation"}
    again = result(tiny, seed=0)  # read back from disk, nothing retrained
    assert again.table2("colored") == table2 and again.table5 == run.table5


def test_irm_study_reports_each_environments_fit(monkeypatch):
    from causalkit.cgn import irm_study

    def small_variant(*args, **kwargs):
        return make_variant(*args, **kwargs).subset(torch.arange(128))

    monkeypatch.setattr(irm_study, "make_variant", small_variant)
    monkeypatch.setattr(
        irm_study,
        "irm_environments",
        lambda name, n, seed: [
            e.subset(torch.arange(128)) for e in irm_environments(name, n, seed)
        ],
    )
    (row,) = irm_study.study("colored", base=TINY_CLF, rows=[1])
    assert row["setting"] == irm_study.SETTINGS[1][0]
    assert len(row["risk"]) == 2 and all(r > 0 for r in row["risk"])
    assert 0 <= row["train"] <= 1 and 0 <= row["test"] <= 1 and row["penalty"] >= 0
    with pytest.raises(ValueError, match="rows"):
        next(irm_study.study("colored", rows=[len(irm_study.SETTINGS)]))
