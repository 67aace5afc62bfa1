"""trainer/: the batch plan, padding, schedules and metrics, checked on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.data import BatchPlan, TextFeatures, curriculum_batches, epoch_batches
from trainer.evaluate import classification_metrics, majority_baseline, multilabel_metrics
from trainer.loop import lr_lambda


def test_epoch_batches_cover_every_row_once_and_depend_only_on_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    first = epoch_batches(1000, 32, seed=1, epoch=0, lengths=lengths)
    assert sorted(np.concatenate(first)) == list(range(1000))
    again = epoch_batches(1000, 32, seed=1, epoch=0, lengths=lengths)
    assert all((a == b).all() for a, b in zip(first, again))
    other = epoch_batches(1000, 32, seed=1, epoch=1, lengths=lengths)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(first, other))


def test_length_grouping_cuts_padding_and_puts_the_widest_batch_first():
    lengths = np.random.default_rng(0).integers(3, 120, size=2000)
    padded = lambda batches: sum(len(b) * lengths[b].max() for b in batches)
    grouped = epoch_batches(2000, 32, 0, 0, lengths, group_by_length=True)
    plain = epoch_batches(2000, 32, 0, 0, lengths, group_by_length=False)
    assert padded(grouped) < 0.65 * padded(plain)
    tightest = np.sort(lengths)  # the least any cut into batches of 32 can pad
    assert padded(grouped) <= 1.01 * sum(len(b) * b.max() for b in np.array_split(tightest, range(32, 2000, 32)))
    assert lengths[grouped[0]].max() == lengths.max()


def test_curriculum_starts_easy_then_mixes_in_the_rest():
    scores = np.arange(100)[::-1].astype(float)        # row 99 is the easiest
    batches = curriculum_batches(scores, 10, fraction=0.5, seed=0, lengths=None, group_by_length=False)
    assert list(batches[0]) == list(range(99, 89, -1))
    easy = np.concatenate(batches[:5])
    assert set(easy) == set(range(50, 100))
    assert sorted(np.concatenate(batches)) == list(range(100))


def test_plan_counts_steps_with_gradient_accumulation():
    plan = BatchPlan(n=100, batch_size=8, grad_accum=4, seed=0, lengths=None, group_by_length=False)
    assert plan.micro_per_epoch == 13 and plan.steps_per_epoch == 4
    assert plan.total_steps(2.5, None) == 10 and plan.total_steps(3, 7) == 7


def test_collate_pads_to_the_longest_row_and_drops_a_mask_it_does_not_need():
    rows = [[2, 5, 6, 3], [2, 7, 3], [2, 8, 9, 10, 3]]
    lengths = np.array([len(r) for r in rows])
    feats = TextFeatures(np.concatenate(rows), np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths, 0,
                         np.array([0, 1, 0]))
    batch = feats.collate(np.array([1, 2]))
    assert batch["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 8, 9, 10, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [1, 0] and batch["n_tokens"] == 8
    assert "attention_mask" not in feats.collate(np.array([0, 0]))
    feats.pad_multiple = 8
    assert feats.collate(np.array([0, 1]))["input_ids"].shape == (2, 8)


@pytest.mark.parametrize("schedule, at_end", [("linear", 0.0), ("cosine", 0.0), ("constant", 1.0)])
def test_schedules_warm_up_then_decay(schedule, at_end):
    f = lr_lambda(schedule, warmup=10, total=100)
    assert f(0) < f(5) < f(9) <= 1.0
    assert f(10) == pytest.approx(1.0)
    assert f(100) == pytest.approx(at_end)


def test_classification_metrics_by_hand():
    labels = ["a", "b", "c"]
    targets = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = classification_metrics(targets, probs, labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    a = m["per_class"]["a"]
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == (0.5, 0.5, 0.5, 2)
    b = m["per_class"]["b"]
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0 and b["f1"] == pytest.approx(0.8)
    c = m["per_class"]["c"]
    assert c["precision"] == 1.0 and c["recall"] == 0.5 and c["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_macro_f1_skips_a_class_absent_from_targets_and_predictions():
    m = classification_metrics(np.array([0, 1]), np.eye(3)[[0, 1]], ["a", "b", "c"])
    assert m["macro_f1"] == 1.0 and m["per_class"]["c"]["support"] == 0


def test_multilabel_metrics_and_baseline():
    targets = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
    probs = np.array([[0.9, 0.2], [0.8, 0.3], [0.1, 0.7]], dtype=np.float32)
    m = multilabel_metrics(targets, probs, ["x", "y"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"]["y"] == {"tn": 1, "fp": 0, "fn": 1, "tp": 1}
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))
    base = majority_baseline(np.array([0, 0, 1]), np.array([0, 1, 1]), ["p", "q"], multi_label=False)
    assert base["label"] == "p" and base["accuracy"] == pytest.approx(1 / 3)


def test_text_features_subset_keeps_tokens_aligned():
    rows = [[2, 5, 3], [2, 6, 7, 3]]
    lengths = np.array([3, 4])
    feats = TextFeatures(np.concatenate(rows), np.array([0, 3]), lengths, 0, np.array([0, 1]))
    sub = feats.subset(np.array([1]))
    assert sub.collate(np.array([0]))["input_ids"].tolist() == [[2, 6, 7, 3]]
    assert torch.equal(sub.collate(np.array([0]))["labels"], torch.tensor([1]))


def test_a_bad_image_in_a_worker_process_is_one_line(tmp_path):
    from trainer.data import ImageFeatures, iterate
    from trainer.errors import DataError

    (tmp_path / "bad.png").write_bytes(b"not an image")
    features = ImageFeatures([str(tmp_path / "bad.png")], np.zeros(1, dtype=np.int64), processor=None)
    with pytest.raises(DataError) as info:
        list(iterate(features, [np.array([0])], workers=1))
    assert str(info.value).startswith(f"{tmp_path / 'bad.png'}: cannot decode image") and "\n" not in str(info.value)


def test_deterministic_sets_cuda_kernels_for_the_run_and_puts_them_back(monkeypatch):
    import os

    from trainer.config import TrainConfig
    from trainer.runtime import deterministic_cuda

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    flash = torch.backends.cuda.flash_sdp_enabled()
    with deterministic_cuda(TrainConfig(model="m", deterministic=True, device="cpu")):
        assert not torch.are_deterministic_algorithms_enabled()           # a CPU run repeats without it
    with deterministic_cuda(TrainConfig(model="m", deterministic=True)):
        assert torch.are_deterministic_algorithms_enabled() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.backends.cuda.math_sdp_enabled() and not torch.backends.cuda.flash_sdp_enabled()
        assert not torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cudnn.deterministic
    assert not torch.are_deterministic_algorithms_enabled() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert torch.backends.cuda.flash_sdp_enabled() == flash


def test_precision_auto_takes_bf16_only_where_the_gpu_has_it_natively(monkeypatch):
    from trainer.config import TrainConfig
    from trainer.runtime import make_env

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32     # make_env turns TF32 on
    try:
        for native, expected in ((False, "fp32"), (True, "bf16")):
            monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, n=native:
                                including_emulation or n)
            assert make_env(TrainConfig(model="m")).precision == expected
            assert make_env(TrainConfig(model="m", precision="bf16")).precision == "bf16"   # asked for: even emulated
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
