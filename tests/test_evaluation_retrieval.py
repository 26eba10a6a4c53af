"""Retrieval metrics vs hand-computed cases and torchmetrics' retrieval metrics."""
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP, RetrievalMRR, RetrievalRecall

from imagebind_lite.evaluation import bidirectional_retrieval, recall_at_k, relevance_from_ids, retrieval_metrics


def _torchmetrics(scores, rel, metric):
    q, g = scores.shape
    indexes = torch.arange(q).unsqueeze(1).expand(q, g).flatten()
    # torchmetrics treats items with a score <= 0 as never retrieved; cosine + 2 > 0 keeps the order
    return metric(scores.flatten() + 2, rel.flatten(), indexes=indexes).item()


def test_hand_computed_ranks():
    q = torch.eye(3, 4)
    g = torch.tensor([[1.0, 0, 0, 0], [0.0, 0.2, 0, 0.98], [0.0, 0.0, 0.1, 1.0],
                      [0.1, 0.99, 0.0, 0.0], [0.0, 0.0, 0.9, 0.43], [0.0, 0.0, 1.0, 0.0]])
    rel = torch.tensor([[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0]], dtype=torch.bool)
    # by hand: q0 -> g0 first; q1 -> g3 (.995) first; q2 -> g5 (1.0), g4 (.90), g2 (.10): first
    # positive at rank 3, and g1 (score 0) ties with g0, g3 so it ranks last (6th)
    out = retrieval_metrics(q, g, rel, ks=(1, 2, 3))
    assert out.recall[1] == pytest.approx(2 / 3) and out.recall[2] == pytest.approx(2 / 3) and out.recall[3] == 1.0
    assert out.median_rank == 1.0
    assert out.mrr == pytest.approx((1 + 1 + 1 / 3) / 3)
    assert out.mean_average_precision == pytest.approx((1 + 1 + (1 / 3 + 2 / 6) / 2) / 3)


def test_simple_ranks_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    g = torch.tensor([[0.0, 1.0], [1.0, 0.1], [1.0, 0.5], [1.0, 0.0]])
    out = retrieval_metrics(q, g, torch.tensor([[True, False, True, False]]), ks=(1, 2, 3))
    # order by cosine: g3, g1, g2, g0 -> first positive (g2) at rank 3
    assert (out.recall[1], out.recall[2], out.recall[3]) == (0.0, 0.0, 1.0)
    assert out.median_rank == 3
    assert out.mean_average_precision == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_ties_are_pessimistic():
    # collapsed embeddings: every gallery item ties, so the positive must not count as found
    out = retrieval_metrics(torch.ones(4, 3), torch.ones(4, 3), torch.eye(4, dtype=torch.bool))
    assert out.recall[1] == 0.0 and out.median_rank == 4


@pytest.mark.parametrize("positives", [1, 3])
def test_matches_torchmetrics(positives):
    q, g = torch.randn(30, 8), torch.randn(45, 8)
    rel = torch.zeros(30, 45, dtype=torch.bool)
    for i in range(30):
        rel[i, torch.randperm(45)[:positives]] = True
    out = retrieval_metrics(q, g, rel, ks=(1, 5, 10))
    scores = F.normalize(q, dim=-1) @ F.normalize(g, dim=-1).T
    for k in (1, 5, 10):
        assert out.recall[k] == pytest.approx(_torchmetrics(scores, rel, RetrievalHitRate(top_k=k)), abs=1e-6)
        if positives == 1:  # recall == hit rate with a single positive
            assert out.recall[k] == pytest.approx(_torchmetrics(scores, rel, RetrievalRecall(top_k=k)), abs=1e-6)
    assert out.mrr == pytest.approx(_torchmetrics(scores, rel, RetrievalMRR()), abs=1e-6)
    assert out.mean_average_precision == pytest.approx(_torchmetrics(scores, rel, RetrievalMAP()), abs=1e-6)


def test_chunking_does_not_change_results():
    q, g = torch.randn(37, 8), torch.randn(50, 8)
    rel = relevance_from_ids(torch.randint(0, 5, (37,)).tolist(), torch.randint(0, 5, (50,)).tolist())
    assert retrieval_metrics(q, g, rel, chunk=4).to_dict() == pytest.approx(retrieval_metrics(q, g, rel, chunk=1000).to_dict())


def test_bidirectional_paired_and_by_labels():
    a = F.normalize(torch.randn(20, 16), dim=-1)
    out = bidirectional_retrieval(a, a + 0.01 * torch.randn(20, 16), names=("audio", "text"))
    assert out["audio->text"].recall[1] == 1.0 and out["text->audio"].median_rank == 1.0
    labels_a, labels_b = [0, 1, 2], [2, 2, 0, 1, 1]
    out = bidirectional_retrieval(torch.randn(3, 4), torch.randn(5, 4), labels_a, labels_b)
    assert out["a->b"].n_queries == 3 and out["b->a"].n_queries == 5


def test_queries_without_positive_are_skipped():
    rel = torch.tensor([[True, False], [False, False]])
    out = retrieval_metrics(torch.randn(2, 3), torch.randn(2, 3), rel)
    assert out.n_queries == 1 and out.n_skipped == 1
    assert list(out.to_dict()) == ["R@1", "R@5", "R@10", "median_rank", "MRR", "mAP", "n_queries", "n_skipped"]


def test_recall_at_k_agrees_with_retrieval_metrics():
    q, g = torch.randn(30, 8), torch.randn(30, 8)
    paired = retrieval_metrics(q, g, torch.eye(30, dtype=torch.bool), ks=(1, 5))
    assert recall_at_k(q, g, 1) == paired.recall[1] and recall_at_k(q, g, 5, chunk=7) == paired.recall[5]
    labels = torch.randint(0, 4, (30,))
    by_label = retrieval_metrics(q, g, relevance_from_ids(labels, labels), ks=(1,))
    assert recall_at_k(q, g, 1, labels, labels) == by_label.recall[1]
    assert recall_at_k(q, g, 1, labels.tolist(), labels.tolist()) == by_label.recall[1]


def test_tie_rule_counts_ties_against_the_query_whatever_the_gallery_order():
    # query 0 ties its positive (row 0) with row 1; query 1's positive (row 1) is strictly best
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    rel = torch.tensor([[True, False, False], [False, False, True]])
    assert retrieval_metrics(q, g, rel, ks=(1, 2)).recall == {1: 0.5, 2: 1.0}  # the tie: a miss at k=1, a hit at 2
    flipped = [1, 0, 2]  # the tied pair swapped: an index-based rule would change its answer
    assert retrieval_metrics(q, g[flipped], rel[:, flipped], ks=(1,)).recall[1] == 0.5
    assert recall_at_k(q, g[:2], 1) == recall_at_k(q, g[[1, 0]], 1, [0, 1], [1, 0]) == 0.0


def test_training_validation_r1_is_the_evaluation_r1():
    from imagebind_lite.training.metrics import retrieval_top1

    a, b = F.normalize(torch.randn(24, 8), dim=-1), F.normalize(torch.randn(24, 8), dim=-1)
    labels = torch.arange(24) % 3
    assert retrieval_top1(a, b) == (recall_at_k(a, b), recall_at_k(b, a))
    a_to_b, b_to_a = retrieval_top1(a, b, labels)
    rel = relevance_from_ids(labels, labels)
    assert a_to_b == retrieval_metrics(a, b, rel, ks=(1,)).recall[1]
    assert b_to_a == retrieval_metrics(b, a, rel.T, ks=(1,)).recall[1]
    # collapsed embeddings score nothing, by pairs or by class (argmax would have found row 0)
    same = F.normalize(torch.ones(24, 8), dim=-1)
    assert retrieval_top1(same, same) == (0.0, 0.0) and retrieval_top1(same, same, labels) == (0.0, 0.0)
