"""How wide a margin of noise a generated texture needs around it.

The texture generator is fully convolutional: its output's edge pixels are made by
convolutions that reach past the noise field into zero padding, unless the field
extends beyond the output by the generator's receptive field
(``TextureGANConfig.noise_halo`` cells). Training crops have a margin of one cell
(``_gan_texture._MARGIN``); generation has used the receptive field
(``_gan_texture.generation_margin``) since 2026-12-06, one cell before. This compares
the two on the same generator and the same noise (the narrower field is the middle
of the wider one), so the textures differ only where the padding reaches:

* *edge*: 32 textures of 128 x 128 (``refine=False``); per side and per channel,
  the mean of the outermost pixel line against the mean of the middle (40 px in
  from every side), in units of the middle's standard deviation; the mean of the
  absolute values over sides and channels, for the outermost line and the 4th
  line in (0 for a texture with no border, plus the sampling noise of 32 textures);
* *classifier test*: two 256 x 256 textures against the unseen bottom quadrants,
  as in bench/textures.py (32 px crops, 3 seeds, 300 steps; 0.5 = indistinguishable),
  for the generator alone and for the default refinement.

Textures: bench/textures.py's (the top 256 rows of each 512 x 512 texture train), and
``histology_rgb``, the same crop of ``immunohistochemistry`` in colour. Writes
bench/out/texture_margin.json and bench/out/texture_margin.png (per texture, the
top-left 64 x 64 corner of one generator-alone texture, 3x: margin one cell | the
receptive field).

    python bench/texture_margin.py                          # 3 textures x 120 s, ~15 min on 2 CPU cores
    python bench/texture_margin.py --only gravel --seconds 20 --no-c2st   # smoke run
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from generate import OUT, SEED_EVAL, to_uint8
from skimage import data
from skimage.io import imsave
from textures import halves, texture

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.tasks import _gan_texture as texture_module

MARGINS = ("one cell (before)", "receptive field (default)")
SIDE = 256


def load(name: str) -> np.ndarray:
    if name == "histology_rgb":
        return data.immunohistochemistry().astype(np.float32)
    return texture(name)


def textures(gan, variant: str, n: int, size: tuple[int, int], refine: bool) -> np.ndarray:
    """``gan.generate(n, seed=SEED_EVAL, size=size, refine=refine)`` with the margin of
    ``variant``. Both margins get the same noise where they overlap (the narrower
    field is the middle of the wider one), so the textures differ only near the
    edges, where the narrower field's padding reaches."""
    default = texture_module.generation_margin
    z = gan._latents(n, SEED_EVAL, texture_module.field_cells(size, gan.net_config))
    if variant == MARGINS[0]:
        d = default(gan.net_config) - texture_module._MARGIN
        z = z[..., d:-d, d:-d] if d else z
        texture_module.generation_margin = lambda config: texture_module._MARGIN
    try:
        return gan._decode(z, None, size, refine=refine, seed=SEED_EVAL)
    finally:
        texture_module.generation_margin = default


def edge_scores(samples: np.ndarray) -> tuple[float, float]:
    """Mean |z| of the outermost and of the 4th pixel line (see the module's text)."""
    x = samples if samples.ndim == 4 else samples[..., None]
    middle = x[:, 40:-40, 40:-40]
    mean, std = middle.mean(axis=(0, 1, 2)), middle.std(axis=(0, 1, 2)) + 1e-12
    out = []
    for k in (0, 3):
        sides = [x[:, k], x[:, -1 - k], x[:, :, k], x[:, :, -1 - k]]  # (n, L, C) each
        out.append(float(np.mean([np.abs((s.mean(axis=(0, 1)) - mean) / std) for s in sides])))
    return out[0], out[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="gravel,histology,histology_rgb", help="comma list of textures")
    ap.add_argument("--seconds", type=float, default=120.0, help="training time per texture")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--no-c2st", action="store_true", help="edge scores only")
    args = ap.parse_args()
    results, pictures = {}, []
    for name in [s for s in args.only.split(",") if s]:
        image = load(name)
        rgb = image.ndim == 3
        train, reference = halves(image, SIDE)
        gan = ng.ImageGAN(mode="texture").fit(train, time_limit=args.seconds, seed=args.seed)
        r = results[name] = {"steps": gan.steps_trained, "noise_halo": gan.net_config.noise_halo}
        corners = []
        for variant in MARGINS:
            small = textures(gan, variant, 32, (128, 128), refine=False)
            outer, fourth = edge_scores(small)
            r[variant] = {"edge": outer, "edge_4th_line": fourth}
            corners.append(small[0, :64, :64])
            if not args.no_c2st:
                opts = {"steps": 300, "seeds": 3, "channel_axis": -1 if rgb else None}
                for refine in (False, True):
                    images = list(textures(gan, variant, 2, (SIDE, SIDE), refine))
                    key = "refined" if refine else "generator alone"
                    r[variant][key] = metrics.classifier_test(images, reference, **opts).accuracy
            print(f"{name} ({gan.steps_trained} steps): {variant}: {r[variant]}", flush=True)
        lo, hi = np.percentile(train, [0.5, 99.5])
        tiles = [np.repeat(np.repeat(to_uint8(c, lo, hi), 3, 0), 3, 1) for c in corners]
        tiles = [t if t.ndim == 3 else np.repeat(t[..., None], 3, -1) for t in tiles]
        pictures.append(np.concatenate([np.pad(t, ((0, 6), (0, 6), (0, 0)), constant_values=255) for t in tiles], 1))
    keys = ["edge", "edge_4th_line"] + ([] if args.no_c2st else ["generator alone", "refined"])
    print()
    print(f"| texture | steps | margin | {' | '.join(keys)} |")
    print("|---|---|---|" + "---|" * len(keys))
    for name, r in results.items():
        for variant in MARGINS:
            print(f"| {name} | {r['steps']} | {variant} | " + " | ".join(f"{r[variant][k]:.3f}" for k in keys) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    imsave(OUT / "texture_margin.png", np.concatenate(pictures), check_contrast=False)
    results["conditions"] = vars(args)
    (OUT / "texture_margin.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
