"""Tiled prediction: exact for pointwise maps, no seams, bounded by tiles."""

import numpy as np
import pytest

from napari_gan.core.tiling import predict_tiled


@pytest.mark.parametrize(
    "spatial, tile", [((300, 517), (128, 128)), ((10, 20, 30), (16, 16, 16)), ((20, 20), (64, 64))]
)
def test_pointwise_function_is_reproduced_exactly(spatial, tile):
    x = np.random.default_rng(0).random((2, 1) + spatial, dtype=np.float32)
    y = predict_tiled(x, lambda b: 2 * b + 1, out_channels=1, tile=tile, overlap=16, multiple=4)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, 2 * x + 1, atol=1e-5)


def test_no_seams_for_a_function_with_bad_borders():
    # a "network" that is wrong near its tile's border (like a CNN with zero padding):
    # blending must hide it completely away from the image border
    def fn(b):
        out = b.copy()
        out[..., :4, :] = 0
        out[..., -4:, :] = 0
        out[..., :, :4] = 0
        out[..., :, -4:] = 0
        return out

    x = np.ones((1, 1, 200, 260), np.float32)
    y = predict_tiled(x, fn, out_channels=1, tile=(64, 64), overlap=24, multiple=4)
    np.testing.assert_allclose(y, 1.0, atol=1e-2)


def test_tiles_are_read_one_at_a_time():
    reads = []

    class Spy:
        shape = (1, 1, 256, 256)
        dtype = np.dtype(np.float32)

        def __getitem__(self, key):
            block = np.ones((1, 1, 256, 256), np.float32)[key]
            reads.append(block.size)
            return block

    predict_tiled(Spy(), lambda b: b, out_channels=1, tile=(64, 64), overlap=16, multiple=4)
    assert max(reads) <= 64 * 64
    assert len(reads) > 16


def test_dihedral_stack_maps_every_copy_back():
    import torch

    from napari_gan.core.tiling import dihedral_stack

    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    # an equivariant map comes back unchanged from every rotation/flip, also for non-square tiles
    for n in (4, 8):
        out = dihedral_stack(lambda t: 2 * t, x, n)
        assert out.shape == (n, *x.shape)
        torch.testing.assert_close(out, (2 * x).expand(n, *x.shape))

    # a map that is not equivariant (adds a fixed pattern) gives 8 different results: 8 distinct views
    def pattern(t):
        return t + 100 * torch.arange(t.shape[-2] * t.shape[-1], dtype=t.dtype).reshape(t.shape[-2:])

    out = dihedral_stack(pattern, x, 8)
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8
    assert len({tuple(o.flatten().tolist()) for o in dihedral_stack(pattern, x, 4)}) == 4
    with pytest.raises(ValueError, match="4 or 8"):
        dihedral_stack(pattern, x, 2)


@pytest.mark.parametrize("size", [400, 1080, 1500, 4096])
def test_tiles_share_the_extent_evenly(size):
    # a fixed 384 px tile over a 1080 px block (1112 with the mirrored margin) would
    # compute 4 x 384 = 1536 px per row, 1.4x the extent; even tiles need about 1.1x
    shapes = []

    def fn(b):
        shapes.extend([b.shape[-2:]] * len(b))
        return b

    x = np.random.default_rng(0).random((1, 1, size, 64), dtype=np.float32)
    y = predict_tiled(x, fn, out_channels=1, tile=(384, 384), overlap=32, multiple=8)
    np.testing.assert_allclose(y, x, atol=1e-5)
    edges = {s[0] for s in shapes}
    assert len(edges) == 1 and all(e % 8 == 0 and e <= 384 for e in edges)
    rows = len(shapes)  # the image is 64 px wide: one column of tiles
    computed = rows * edges.pop()
    fixed_rows = len(range(0, size + 32 - 384, 352)) + 1
    assert computed <= min(fixed_rows * 384, 1.15 * (size + 32) + 8 * rows)
