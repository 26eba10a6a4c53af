"""Zero-shot classification and multi-label mAP on fixed embeddings."""
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import MultilabelAveragePrecision

from imagebind_lite.errors import InputError
from imagebind_lite.evaluation import (
    class_prototypes, classify_logits, grouped_logits, multilabel_map, zero_shot_classify, zero_shot_multilabel,
)


def test_zero_shot_equals_direct_computation():
    n, c, t, d = 40, 7, 3, 16
    queries = F.normalize(torch.randn(n, d), dim=-1)
    texts = F.normalize(torch.randn(c, t, d), dim=-1)
    labels = torch.randint(0, c, (n,))
    out = zero_shot_classify(queries, texts, labels)
    protos = F.normalize(texts.mean(dim=1), dim=-1)  # templates averaged, then renormalised
    logits = queries @ protos.T
    pred = logits.argmax(dim=1)
    top5 = logits.topk(5, dim=1).indices
    assert out.top1 == pytest.approx((pred == labels).float().mean().item())
    assert out.top5 == pytest.approx((top5 == labels[:, None]).any(1).float().mean().item())
    recalls = [(pred[labels == k] == k).float().mean().item() for k in labels.unique()]
    assert out.mean_per_class_recall == pytest.approx(sum(recalls) / len(recalls))
    assert out.n == n and out.to_dict() == {"top1": out.top1, "top5": out.top5,
                                            "mean_per_class_recall": out.mean_per_class_recall, "n": n}


def test_hand_computed_case_and_template_list():
    # 2-D toy: class 0 along x, class 1 along y; the list form allows a different T per class
    texts = [torch.tensor([[1.0, 0.0], [1.0, 0.1]]), torch.tensor([[0.0, 1.0]])]
    queries = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 0.0], [0.9, 0.1]])
    labels = torch.tensor([0, 1, 1, 1])  # queries 2 and 3 are wrong
    out = zero_shot_classify(queries, texts, labels, topk=(1, 2))
    assert out.top1 == pytest.approx(0.5)
    assert out.topk[2] == pytest.approx(1.0) and out.top5 is None
    assert out.mean_per_class_recall == pytest.approx((1.0 + 1 / 3) / 2)
    assert class_prototypes(texts).shape == (2, 2)


def test_a_class_with_several_prototypes_scores_as_its_best():
    # prototypes along x, y and -x; class 1 owns y and -x (a group such as NYU-D's "others")
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    queries = torch.tensor([[1.0, 0.2], [-1.0, 0.1], [0.2, 1.0]])
    logits = grouped_logits(queries, protos, [0, 1, 1], num_classes=2)
    unit = F.normalize(queries, dim=-1)
    assert torch.allclose(logits[:, 0], unit[:, 0])
    assert torch.allclose(logits[:, 1], torch.maximum(unit[:, 1], -unit[:, 0]))
    out = classify_logits(logits, torch.tensor([0, 1, 1]), topk=(1,))
    assert out.top1 == pytest.approx(1.0)  # the -x query is class 1 through its second prototype
    assert torch.allclose(grouped_logits(queries, protos[:2], [0, 1], 2), unit @ protos[:2].T)
    with pytest.raises(InputError, match=r"classes \[2\] have no prototype"):
        grouped_logits(queries, protos, [0, 1, 1], num_classes=3)


def test_bad_labels_raise():
    with pytest.raises(InputError):
        zero_shot_classify(torch.randn(3, 4), torch.randn(2, 4), torch.tensor([0, 1, 2]))


def test_multilabel_map_matches_torchmetrics():
    n, c = 50, 6
    scores = torch.randn(n, c)
    targets = torch.rand(n, c) < 0.3
    targets[0] = True  # every class has a positive
    ref = MultilabelAveragePrecision(num_labels=c, average="macro", thresholds=None)(scores, targets.long())
    assert multilabel_map(scores, targets) == pytest.approx(ref.item(), abs=1e-5)


def test_multilabel_map_ties_and_hand_case():
    # ranking [pos, neg, pos]: AP = (1/1 + 2/3) / 2
    assert multilabel_map(torch.tensor([[3.0], [2.0], [1.0]]), torch.tensor([[1], [0], [1]])) == pytest.approx(5 / 6)
    scores = torch.tensor([[0.5, 1.0], [0.5, 0.2], [0.1, 0.2], [0.5, 0.9]])
    targets = torch.tensor([[1, 1], [0, 0], [1, 0], [1, 1]])
    ref = MultilabelAveragePrecision(num_labels=2, average="macro", thresholds=None)(scores, targets)
    assert multilabel_map(scores, targets) == pytest.approx(ref.item(), abs=1e-6)


def test_zero_shot_multilabel_perfect_when_aligned():
    protos = torch.eye(4)
    targets = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 1]]).bool()
    queries = targets.float()
    result = zero_shot_multilabel(queries, protos, targets)
    assert result.mean_average_precision == pytest.approx(1.0) and result.to_dict() == {"mAP": 1.0, "n": 4}
