"""Throughput of the audio, depth and imu modalities: file preprocessing and tiny-preset embedding.

For each loader it writes realistic files (44.1 kHz stereo wav, 16 kHz mono wav, mp3, 480x640
16-bit png and npy depth, 100 Hz csv with a time column and npy IMU), times the modality's
transform on them (items/s, median of repeats), and times the tiny encoders on batches of the
resulting tensors (eval, no grad; and a training step, forward + backward). Side by side in the
same run: the two audio resamplers (soxr_hq, the tiny default, vs torchaudio's sinc, ImageBind's),
and our audio preprocessing against the official ImageBind ``load_and_transform_audio_data``
on the same files (``torchaudio.load`` swapped for soundfile, since it needs torchcodec here),
when ``imagebind-unofficial`` is installed, and preprocessing vs embedding rate per modality
(below 1 means one loader process is slower than the model's training step). Preprocessing is
timed on 1 thread, as DataLoader workers run it; the encoders on ``--threads``.

Usage: python benchmarks/bench_modalities_audio_depth_imu.py [--items 16] [--batch 64] [--repeats 3]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

import imagebind_lite as ib


def write_files(root: Path) -> dict:
    """name -> (modality, path) of one file per format."""
    rng = np.random.default_rng(0)
    t = np.arange(int(44100 * 2.0)) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1) * 0.4
    stereo = (stereo + rng.normal(0, 0.01, stereo.shape)).astype(np.float32)
    sf.write(root / "a44.wav", stereo, 44100)
    sf.write(root / "a16.wav", stereo[::2, 0][:32000], 16000)
    files = {"audio wav 44.1k stereo 2s": ("audio", root / "a44.wav"),
             "audio wav 16k mono 2s": ("audio", root / "a16.wav")}
    if "MP3" in sf.available_formats():
        sf.write(root / "a44.mp3", stereo, 44100)
        files["audio mp3 44.1k stereo 2s"] = ("audio", root / "a44.mp3")
    depth_mm = rng.uniform(500, 6000, (480, 640)).astype(np.uint16)
    Image.fromarray(depth_mm).save(root / "d.png")
    np.save(root / "d.npy", depth_mm / 1000.0)
    files["depth png16 480x640"] = ("depth", root / "d.png")
    files["depth npy 480x640"] = ("depth", root / "d.npy")
    times = np.arange(200) / 100.0
    imu = np.column_stack([times, rng.normal(0, 1, (200, 6))])
    np.savetxt(root / "i.csv", imu, delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="", fmt="%.6f")
    np.save(root / "i.npy", imu[:, 1:].astype(np.float32))
    files["imu csv 100Hz 2s (time col)"] = ("imu", root / "i.csv")
    files["imu npy 100Hz 2s"] = ("imu", root / "i.npy")
    return files


def rate(fn, items: int, repeats: int) -> float:
    """Median items/s of ``fn()``, which processes ``items`` items; one warm-up call first."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return items / statistics.median(times)


def reference_audio(paths, repeats):
    """ImageBind's own audio preprocessing on the same files, or None when not installed."""
    try:
        import torchvision.transforms._functional_tensor as functional_tensor

        sys.modules.setdefault("torchvision.transforms.functional_tensor", functional_tensor)
        import imagebind.data as reference
    except ImportError:
        return None

    def soundfile_load(path):
        samples, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(samples.T.copy()), sample_rate

    reference.torchaudio.load = soundfile_load
    return rate(lambda: reference.load_and_transform_audio_data([str(p) for p in paths], "cpu"), len(paths), repeats)


def bench_loaders(files, items, repeats):
    print(f"\npreprocessing from files, 1 thread (items/s, median of {repeats}; {items} files per timing)")
    rates = {}
    for name, (modality, path) in files.items():
        spec = ib.get_modality(modality)
        transform = spec.transform(spec.preset("tiny").data)
        rates[name] = rate(lambda: [transform(str(path)) for _ in range(items)], items, repeats)
        print(f"  {name:32s} tiny    {rates[name]:9.1f}")
    spec = ib.get_modality("audio")
    path = files["audio wav 44.1k stereo 2s"][1]
    sinc = spec.transform({**spec.preset("tiny").data, "resampler": "torchaudio"})
    sinc_rate = rate(lambda: [sinc(str(path)) for _ in range(items)], items, repeats)
    print(f"  {'audio wav 44.1k stereo 2s':32s} tiny, torchaudio resampler {sinc_rate:9.1f}"
          f"   soxr_hq/torchaudio {rates['audio wav 44.1k stereo 2s'] / sinc_rate:5.2f}x")
    huge = spec.transform(spec.preset("imagebind_huge").data)
    for name in [n for n in files if n.startswith("audio wav")]:
        path = files[name][1]
        ours = rate(lambda: [huge(str(path)) for _ in range(items)], items, repeats)
        theirs = reference_audio([path] * items, repeats)
        versus = ("reference not installed" if theirs is None
                  else f"ImageBind {theirs:8.1f}   ours/ImageBind {ours / theirs:5.2f}x")
        print(f"  {name:32s} huge    {ours:9.1f}   {versus}")
    return rates


def bench_encoders(files, batch, repeats, loader_rates):
    print(f"\ntiny encoders, batch {batch}, {torch.get_num_threads()} threads (items/s, median of {repeats})")
    for modality in ("audio", "depth", "imu"):
        encoder = ib.create_encoder(f"{modality}/tiny")
        spec = ib.get_modality(modality)
        path = next(p for m, p in files.values() if m == modality)
        sample = spec.transform(encoder.data_config)(str(path))
        inputs = spec.collate([sample] * batch)
        encoder.eval()
        with torch.no_grad():
            embed_rate = rate(lambda: encoder(inputs), batch, repeats)
        encoder.train()
        optimizer = torch.optim.SGD(encoder.parameters(), lr=1e-3)

        def step():
            optimizer.zero_grad()
            encoder(inputs).sum().backward()
            optimizer.step()

        train_rate = rate(step, batch, repeats)
        slowest_loader = min(v for k, v in loader_rates.items() if k.startswith(modality))
        print(f"  {modality:6s} sample {tuple(sample.shape)!s:18s} embed {embed_rate:9.1f}"
              f"   train step {train_rate:9.1f}"
              f"   slowest loader / train step {slowest_loader / train_rate:5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {args.threads} threads, load average before the run {load}")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp))
        torch.set_num_threads(1)  # as in DataLoader workers, where preprocessing runs
        loader_rates = bench_loaders(files, args.items, args.repeats)
        torch.set_num_threads(args.threads)
        bench_encoders(files, args.batch, args.repeats, loader_rates)


if __name__ == "__main__":
    main()
