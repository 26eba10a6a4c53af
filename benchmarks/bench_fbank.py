"""Audio features: our one-FFT Kaldi fbank against ``torchaudio.compliance.kaldi.fbank`` per clip.

Both compute the same log-mel fbanks (ImageBind's arguments: htk_compat, no energy, Hann window,
no dither, 25 ms / 10 ms frames) for every clip of ``--recordings`` random recordings, in one
process, the two alternating; medians over ``--repeats``. The values are compared too.

    python benchmarks/bench_fbank.py                 # tiny preset's clips and ImageBind's, 1 thread
    python benchmarks/bench_fbank.py --smoke         # seconds: the script works
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torchaudio.compliance import kaldi

from imagebind_lite.modalities.audio_features import log_mels

SETTINGS = {  # name: (rate, clips, clip seconds, mel bins, frames): the tiny preset's and ImageBind's
    "tiny": (16000, 2, 1.0, 32, 96),
    "imagebind": (16000, 3, 2.0, 128, 204),
}


def per_clip_kaldi(clips, rate, bins, frames):
    out = []
    for clip in clips:
        fbank = kaldi.fbank(clip[None], htk_compat=True, sample_frequency=rate, use_energy=False,
                            window_type="hanning", num_mel_bins=bins, dither=0.0, frame_length=25.0,
                            frame_shift=10.0).T
        out.append(F.pad(fbank, (0, max(0, frames - fbank.shape[1])))[:, :frames])
    return torch.stack(out)


def measure(name, recordings, repeats):
    rate, n_clips, seconds, bins, frames = SETTINGS[name]
    generator = torch.Generator().manual_seed(0)
    data = [[0.1 * torch.randn(int(rate * seconds), generator=generator) for _ in range(n_clips)]
            for _ in range(recordings)]
    times = {"kaldi.fbank per clip": [], "ours (one FFT per recording)": []}
    worst = 0.0
    for repeat in range(repeats):
        order = list(times) if repeat % 2 == 0 else list(times)[::-1]
        for label in order:
            start = time.perf_counter()
            for clips in data:
                result = per_clip_kaldi(clips, rate, bins, frames) if label.startswith("kaldi") else \
                    log_mels(clips, rate, bins, frames)
            times[label].append((time.perf_counter() - start) / recordings * 1000)
        worst = max(worst, float((per_clip_kaldi(data[0], rate, bins, frames)
                                  - log_mels(data[0], rate, bins, frames)).abs().max()))
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"\n{name}: {recordings} recordings x {n_clips} clips of {seconds} s, {bins} mel bins "
          f"(torch threads {torch.get_num_threads()}); max |diff| {worst:.1e}")
    reference = medians["kaldi.fbank per clip"]
    for label, value in medians.items():
        print(f"  {label:32s} {value:7.3f} ms/recording  {reference / value:5.2f}x")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (preprocessing runs on 1)")
    parser.add_argument("--smoke", action="store_true", help="a few recordings, one repeat")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    recordings, repeats = (4, 1) if args.smoke else (args.recordings, args.repeats)
    try:
        for name in SETTINGS:
            measure(name, recordings, repeats)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
