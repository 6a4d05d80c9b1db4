"""The Mario experiment of §5.2 / App. F-G: graph target, selection rule, measurements, training."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from causalkit.semvae.mario_experiment import (
    MarioConfig,
    coefficient_ratios,
    eval_clips,
    extrapolation,
    graph_shd,
    intervention_consistent,
    intervention_effects,
    load_mario,
    mario_config,
    reconstruction_accuracy,
    select_run,
    train_mario,
    true_latent_graph,
)
from causalkit.semvae.models import TemporalCausalVAE
from causalkit.semvae.sem import temporal_structural_hamming_distance

TINY = MarioConfig(clips=40, eval_clips=6, epochs=2, batch_size=20, sparsity_weights=(1.0,))


def test_true_graph_has_two_position_latents_reading_both_earlier_frames():
    graph = true_latent_graph()
    assert graph.shape == (12, 12) and int(graph.sum()) == 4
    assert graph[0, 8] and graph[4, 8] and graph[1, 9] and graph[5, 9]
    # Only frame 3 has parents: the data's SEM has no edge into frames 1 and 2.
    assert not graph[:, :8].any()
    # Which latents carry the position does not matter (App. G: up to a permutation).
    swapped = torch.zeros_like(graph)
    for a in (2, 3):
        swapped[a, 8 + a] = swapped[4 + a, 8 + a] = True
    assert temporal_structural_hamming_distance(swapped, graph, 4) == 0


def test_selection_takes_the_sparsest_graph_among_the_best_reconstructions():
    weights = (0.1, 1.0, 10.0, 100.0)
    assert select_run([0.990, 0.9952, 0.9950, 0.980], weights, 0.0005) == 2
    assert select_run([0.990, 0.9952, 0.9940, 0.980], weights, 0.0005) == 1
    assert select_run([0.99, 0.99, 0.99, 0.99], weights, 0.0) == 3


def test_intervention_check_follows_the_true_sem():
    effects = torch.zeros(12, 3)
    effects[0] = torch.tensor([2.0, 0.0, 2.0])  # frame-1 position latent: frames 1 and 3
    effects[5] = torch.tensor([0.0, 2.1, 4.0])  # frame-2 position latent: frames 2 and 3
    effects[9] = torch.tensor([0.0, 0.0, 3.0])  # frame-3 position latent: frame 3 only
    assert intervention_consistent(effects)
    leaky = effects.clone()
    leaky[0, 1] = 1.0  # a frame-1 latent must not move frame 2
    assert not intervention_consistent(leaky)
    orphan = effects.clone()
    orphan[4, 2] = 1.0  # a latent that does not move its own frame must move nothing
    assert not intervention_consistent(orphan)
    childless = effects.clone()
    childless[5, 2] = 0.0  # x3 = 2 x2 - x1: a frame-2 position must reach frame 3
    assert not intervention_consistent(childless)


def test_coefficient_ratio_reads_the_strongest_parents():
    model = TemporalCausalVAE().eval()
    with torch.no_grad():
        model.sem.weight.zero_()
        model.sem.edge_logits.fill_(-20.0)
        for parent, weight in ((0, -1.1), (4, 2.3), (2, 0.1)):
            model.sem.weight[8, parent] = weight
            model.sem.edge_logits[parent, 8] = 20.0
    assert coefficient_ratios(model) == pytest.approx([2.3 / -1.1])
    assert graph_shd(model) == 3  # one right pair, one edge too many, one pair missing


def test_config_and_arguments_are_checked():
    with pytest.raises(ValueError, match="epochs"):
        MarioConfig(epochs=0)
    with pytest.raises(ValueError, match="sparsity_weights"):
        MarioConfig(sparsity_weights=())
    with pytest.raises(ValueError, match="unknown preset"):
        mario_config("huge")
    with pytest.raises(ValueError, match="sparsity_weight"):
        train_mario(TINY, -1.0, 0)


def test_tiny_training_is_deterministic_and_measurable(tmp_path, monkeypatch):
    runs = []
    for cache in ("a", "b"):  # two empty caches: both runs train
        monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / cache))
        runs.append(train_mario(TINY, 1.0, seed=3))
    first, again = runs
    assert torch.equal(first["history"]["loss"], again["history"]["loss"])
    for name, tensor in first["state"].items():
        assert torch.equal(tensor, again["state"][name]), name
    other = train_mario(dataclasses.replace(TINY, learning_rate=1e-2), 1.0, seed=3)
    assert not torch.equal(first["history"]["loss"], other["history"]["loss"])
    assert len(first["history"]["shd"]) == TINY.epochs
    model, clips = load_mario(first), eval_clips(TINY, 3)
    assert 0 < reconstruction_accuracy(model, clips) <= 1
    effects = intervention_effects(model, clips)
    assert effects.shape == (12, 3)
    future = extrapolation(model, clips, k=2)
    assert future["frames"].shape == (6, 2, 3, 20, 20) and future["error_px"].shape == (2,)
    # The truth continues the motion: frame 3 of the data is the first step ahead.
    assert torch.equal(future["truth"][:, 0], clips.positions[:, 2])
