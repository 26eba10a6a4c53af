"""Training pairwise alignments with Lightning: a frozen pivot, one loss per (pivot, X) pair.

    from imagebind_lite.training import AlignmentModule, PairDataModule, ExportSavedModel
    module = AlignmentModule(pivot="runs/pivot/model", modalities={"audio": "tiny"},
                             temperatures={"audio": 20.0})
    data = PairDataModule(world=WorldConfig(), batch_size=64, cache_dir=".cache/pivot")
    Trainer(max_epochs=3, callbacks=[ExportSavedModel("runs/audio/model")]).fit(module, data)
    # or, with quiet defaults: fit_alignment(module, data, export_dir="runs/audio/model", max_epochs=3)

The pivot (frozen image encoder) is excluded from the optimiser and its embeddings are cached;
each (image, X) pair has its own loss (InfoNCE or sigmoid) and temperature, optional gradient
caching for batches beyond memory, and manifests may give several positives per image;
CLI: ``imagebind-lite fit --config``.
"""
from imagebind_lite.training.api import fit_alignment, make_trainer, pretrain_pivot
from imagebind_lite.training.build import LossSpec, TemperatureSpec, load_encoder
from imagebind_lite.training.callbacks import ExportSavedModel, ThroughputLogger
from imagebind_lite.training.datamodule import PairDataModule
from imagebind_lite.training.datasets import BadSample, ManifestPairDataset, PairCollate, WorldPairDataset
from imagebind_lite.training.finetune import LoraSpec
from imagebind_lite.training.module import AlignmentModule
from imagebind_lite.training.pivot_cache import PivotCache, PivotEmbeddings, cache_key, state_dict_hash
from imagebind_lite.training.positives import MultiPositivePairDataset
from imagebind_lite.training.pretrain import PivotDataModule, PivotPretrainModule

__all__ = [
    "AlignmentModule", "BadSample", "ExportSavedModel", "LoraSpec", "LossSpec", "ManifestPairDataset",
    "MultiPositivePairDataset", "PairCollate",
    "PairDataModule", "PivotCache", "PivotDataModule", "PivotEmbeddings", "PivotPretrainModule",
    "TemperatureSpec", "ThroughputLogger", "WorldPairDataset", "cache_key", "fit_alignment", "load_encoder",
    "make_trainer", "pretrain_pivot", "state_dict_hash",
]
