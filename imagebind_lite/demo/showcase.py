"""The demo's index and example queries: a caption finds sounds, a sound finds captions and
depth maps, an image plus a sound finds images (embedding arithmetic)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Mapping

import torch

from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.registry import get_modality
from imagebind_lite.retrieval import EmbeddingIndex, query_vector


def build_index(embeddings: Mapping[str, torch.Tensor], manifest_path: Path, target: Path) -> EmbeddingIndex:
    """Every held-out embedding of every modality, with ids ``modality:sample`` and absolute source
    paths (so ``imagebind-lite serve`` finds the files from any working directory)."""
    manifest = read_manifest(manifest_path)
    index = EmbeddingIndex(next(iter(embeddings.values())).shape[1])
    for modality, emb in embeddings.items():
        text = get_modality(modality).strings_are_data
        ids = [f"{modality}:{manifest.sample_id(i)}" for i in range(len(manifest))]
        sources = [str(item if text else Path(item).resolve())
                   for item in (manifest.item(i, modality, text) for i in range(len(manifest)))]
        index.add(emb, ids, modality, sources)
    index.save(target)
    return index


def _concept_of(manifest, sample_id: str) -> str:
    row = next(r for i, r in enumerate(manifest.rows) if manifest.sample_id(i) == sample_id)
    return str(row.get("concept", row.get("label")))


def _describe(results, manifest) -> List[dict]:
    out = []
    for r in results:
        sample_id = r.id.split(":", 1)[1]
        out.append({"rank": r.rank, "score": round(r.score, 4), "modality": r.modality,
                    "concept": _concept_of(manifest, sample_id), "source": r.source})
    return out


def example_queries(model, index: EmbeddingIndex, manifest_path: Path, class_names: List[str], k: int = 3) -> List[dict]:
    """Run the three kinds of query; each result names the concept so correctness is visible."""
    manifest = read_manifest(manifest_path)
    first = {c: next(i for i in range(len(manifest)) if manifest.rows[i].get("concept") == c)
             for c in class_names[:3] if any(r.get("concept") == c for r in manifest.rows)}
    names = list(first)
    examples = []
    caption = f"the sound of a {names[0]}"
    vec = model.embed({"text": [caption]})["text"][0]
    examples.append({"query": f"text {caption!r} -> audio", "expected": names[0],
                     "results": _describe(index.search(vec, k=k, modality="audio")[0], manifest)})
    sound = manifest.item(first[names[1]], "audio")
    vec = model.embed({"audio": [sound]})["audio"][0]
    for target in ("text", "depth"):
        examples.append({"query": f"audio {Path(sound).name} -> {target}", "expected": names[1],
                         "results": _describe(index.search(vec, k=k, modality=target)[0], manifest)})
    image = manifest.item(first[names[2]], "vision")
    emb = model.embed({"vision": [image], "audio": [sound]})
    vec = query_vector([(emb["vision"][0], 1.0), (emb["audio"][0], 1.0)])
    examples.append({"query": f"image {Path(image).name} + audio {Path(sound).name} -> vision",
                     "expected": f"{names[2]} and {names[1]}",
                     "results": _describe(index.search(vec, k=k, modality="vision")[0], manifest)})
    return examples


def format_examples(examples: List[dict]) -> List[str]:
    lines = []
    for example in examples:
        lines.append(f"  {example['query']}   (expect: {example['expected']})")
        for r in example["results"]:
            lines.append(f"      {r['rank']}. {r['score']:+.3f}  {r['concept']:<10} {Path(r['source']).name if r['modality'] != 'text' else repr(r['source'])}")
    return lines
