"""Adapters for other libraries' pretrained models, as trunks a modality's hooks can pick.

- ``timm_tower``: any timm model, weights and preprocessing through timm itself;
- ``open_clip_tower``: the image or text tower of an open_clip model (``encode_image`` /
  ``encode_text``), its files in open_clip's own ``local-dir`` format;
- ``hf_tower``: one tower of a Hugging Face dual encoder (``get_<tower>_features``), its inputs
  from the model directory's own processor;
- ``hf_audio``: a Hugging Face audio model (AST, wav2vec2, HuBERT, Whisper's encoder, CLAP's audio
  tower) pooled into one vector per clip, its inputs from the directory's feature extractor;
- ``files``: where the small files a tower is rebuilt from live (never beside the user's model:
  in the encoder's own directory, copied into saved models);
- ``packing``: several processor outputs as one tensor per sample, and back.

Nothing here knows a modality: the modalities (``imagebind_lite.modalities``) turn these into
``TrunkKind`` entries and data configs.
"""
