"""Tiny random-weight Hugging Face audio models with their feature extractors, saved locally
(``save_pretrained``): AST, wav2vec2, HuBERT, Whisper, CLAP. Tests never reach a hub."""
from __future__ import annotations

from pathlib import Path

import torch

LAYERS = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
# wav2vec2 / HuBERT: a 2-layer feature encoder with stride 50 (320 in the real models): 320 frames a second
CONV = dict(conv_dim=(16, 16), conv_stride=(10, 5), conv_kernel=(10, 5), num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2, vocab_size=8)
FAMILIES = ("ast", "wav2vec2", "hubert", "whisper", "clap", "clap_audio")


def _ast():
    import transformers as tf

    model = tf.ASTModel(tf.ASTConfig(**LAYERS, max_length=100, num_mel_bins=32, patch_size=16,
                                     frequency_stride=10, time_stride=10))
    return model, tf.ASTFeatureExtractor(num_mel_bins=32, max_length=100)  # 100 frames: a 1 s window


def _wav2vec2():
    import transformers as tf

    return tf.Wav2Vec2Model(tf.Wav2Vec2Config(**LAYERS, **CONV)), tf.Wav2Vec2FeatureExtractor()


def _hubert():
    import transformers as tf

    return tf.HubertModel(tf.HubertConfig(**LAYERS, **CONV)), tf.Wav2Vec2FeatureExtractor()


def _whisper():
    import transformers as tf

    config = tf.WhisperConfig(num_mel_bins=16, d_model=32, encoder_layers=1, decoder_layers=1,
                              encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                              decoder_ffn_dim=64, max_source_positions=50, max_target_positions=16, vocab_size=64,
                              pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                              begin_suppress_tokens=None, suppress_tokens=None)
    # chunk_length 1 s: 100 mel frames, 50 encoder positions (the real model: 30 s, 3000, 1500)
    return tf.WhisperModel(config), tf.WhisperFeatureExtractor(feature_size=16, chunk_length=1)


CLAP_AUDIO = dict(window_size=4, num_mel_bins=16, spec_size=64, patch_size=4, patch_stride=[4, 4], depths=[1, 1],
                  num_attention_heads=[2, 2], hidden_size=32, patch_embeds_hidden_size=16, enable_fusion=False,
                  projection_dim=16)


def _clap_extractor():
    import transformers as tf

    return tf.ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, fft_window_size=400,
                                   max_length_s=1, frequency_max=8000, truncation="rand_trunc")


def _clap():
    import transformers as tf

    text = dict(vocab_size=64, max_position_embeddings=32, **LAYERS)
    config = tf.ClapConfig(text_config=text, audio_config=CLAP_AUDIO, projection_dim=16)
    return tf.ClapModel(config), _clap_extractor()


def _clap_audio():
    import transformers as tf

    return tf.ClapAudioModelWithProjection(tf.ClapAudioConfig(**CLAP_AUDIO)), _clap_extractor()


def make_tiny_audio_model(directory: Path, family: str = "ast", seed: int = 0) -> Path:
    """Write a tiny random ``family`` model (one of ``FAMILIES``) and its feature extractor to ``directory``."""
    builders = {"ast": _ast, "wav2vec2": _wav2vec2, "hubert": _hubert, "whisper": _whisper, "clap": _clap,
                "clap_audio": _clap_audio}
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model, extractor = builders[family]()
    model.save_pretrained(directory)
    extractor.save_pretrained(directory)
    return directory
