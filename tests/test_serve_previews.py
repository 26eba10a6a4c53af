"""Preview rendering: the renderer registry and the shape-based fallback for modalities without one."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from imagebind_lite.serving import previews


def _png(preview):
    media_type, body = preview
    assert media_type == "image/png"
    return Image.open(io.BytesIO(body))


def test_fallback_renders_by_the_shape_of_the_raw_data():
    heat = _png(previews.by_shape(np.random.rand(40, 60)))
    assert heat.size == (60, 40) and heat.mode == "RGB"
    chw = _png(previews.by_shape(torch.rand(3, 300, 500)))
    assert max(chw.size) == previews.THUMBNAIL  # thumbnails, not full-size pictures
    media_type, svg = previews.by_shape(np.random.randn(6, 2000))  # a few channels over time
    assert media_type == "image/svg+xml" and svg.count(b"<polyline") == 6
    assert previews.by_shape(np.random.randn(500, 3))[0] == "image/svg+xml"  # time-major series
    assert previews.by_shape({"not": "an array"}) is None


def test_maps_keep_invalid_pixels_black_and_constant_inputs_render():
    depth = np.full((8, 8), 2.0)
    depth[0, 0] = 0.0  # no reading
    image = _png(previews.render("depth", depth))
    assert image.getpixel((0, 0)) == (0, 0, 0)
    assert _png(previews.colour_map(np.zeros((4, 4)))).size == (4, 4)
    assert previews.line_plot(np.zeros((2, 50)))[0] == "image/svg+xml"


def test_a_registered_renderer_wins(monkeypatch):
    monkeypatch.setattr(previews, "_RENDERERS", dict(previews._RENDERERS))

    @previews.register_preview("tactile")
    def tactile(raw):
        return "image/svg+xml", b"<svg>tactile</svg>"

    assert previews.render("tactile", np.zeros((3, 3))) == ("image/svg+xml", b"<svg>tactile</svg>")
    assert previews.render("smell", np.zeros((3, 3)))[0] == "image/png"  # unregistered: by shape


@pytest.mark.parametrize("channels", [1, 2])
def test_waveforms_of_mono_and_stereo_sounds(channels):
    media_type, svg = previews.waveform(np.sin(np.linspace(0, 100, 16000))[None].repeat(channels, 0))
    assert media_type == "image/svg+xml" and b"<polygon" in svg
