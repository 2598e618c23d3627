"""The texture generator tiles exactly: rolling the latent rolls the image."""
import math

import pytest
import torch

from gan_core.models import GeneratorSpec, PatchDiscriminator, DiscriminatorSpec, TextureGenerator


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return TextureGenerator(GeneratorSpec(local_channels=4, global_channels=4, periodic_channels=3,
                                          out_channels=5, widths=(32, 32, 16, 8))).eval()


@pytest.mark.parametrize("h,w,shift", [(4, 4, (1, 2)), (5, 7, (3, 1)), (9, 3, (4, 2)), (6, 11, (0, 5))])
def test_rolling_latent_rolls_image(generator, h, w, shift):
    s = generator.scale
    z = generator.sample_latent(2, h, w, torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = generator(z)
        b = generator(torch.roll(z, shift, dims=(2, 3)))
    assert a.shape == (2, 5, h * s, w * s)
    assert torch.allclose(torch.roll(a, (shift[0] * s, shift[1] * s), dims=(2, 3)), b, atol=1e-5)


def test_output_wraps_without_seam(generator):
    """Across the wrap-around edge the image changes no more than between interior neighbours."""
    z = generator.sample_latent(4, 8, 8, torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = generator(z)
    edge = (x[..., :, 0] - x[..., :, -1]).abs().mean()
    interior = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    assert edge < 1.5 * interior


def test_periodic_channels_wrap_exactly(generator):
    """Snapped wave vectors make the periodic inputs continuous across the canvas edge: the cell one past
    the last row or column equals the first, so rolling the canvas by one cell moves it by one cell."""
    from gan_core.models import periodic_channels
    s = generator.spec
    for h, w in [(5, 7), (8, 8), (13, 4)]:
        z = generator.sample_latent(1, h, w, torch.Generator().manual_seed(3)).detach()
        periodic = z[:, -3:]
        # The latent's own phases: sample_latent draws local, global, then phase from the generator.
        rng = torch.Generator().manual_seed(3)
        torch.randn(1, s.local_channels, h, w, generator=rng)
        torch.randn(1, s.global_channels, 1, 1, generator=rng)
        phase = torch.rand(1, s.periodic_channels, 1, 1, generator=rng) * (2 * math.pi)
        k = generator.snapped_wave_vectors(h, w).detach()
        assert torch.allclose(periodic, periodic_channels(k, phase, h, w), atol=1e-6)
        assert float(periodic.std(dim=(2, 3)).max()) > 0.1  # real waves, not constants that wrap trivially
        # The same waves on a canvas one cell larger: row h is row 0 again, column w is column 0 again.
        wider = periodic_channels(k, phase, h + 1, w + 1)
        assert torch.allclose(wider[..., :h, :w], periodic, atol=1e-6)
        assert torch.allclose(wider[..., h, :w], periodic[..., 0, :], atol=1e-4)
        assert torch.allclose(wider[..., :h, w], periodic[..., :, 0], atol=1e-4)
        # so rolling by one cell (wrap-around included) equals shifting the canvas by one cell
        assert torch.allclose(torch.roll(periodic, -1, dims=3), wider[..., :h, 1:], atol=1e-4)
        assert torch.allclose(torch.roll(periodic, -1, dims=2), wider[..., 1:, :w], atol=1e-4)
        # the unsnapped vectors would not wrap: the snapping is what the checks above rely on
        raw = periodic_channels(generator.wave_vectors.detach(), phase, h + 1, w + 1)
        assert not torch.allclose(raw[..., h, :w], raw[..., 0, :w], atol=1e-3)


def test_no_zero_padding_anywhere(generator):
    for m in generator.modules():
        if isinstance(m, torch.nn.Conv2d) and any(p > 0 for p in m.padding):
            assert m.padding_mode == "circular", m


def test_latent_is_reproducible_across_calls(generator):
    a = generator.sample_latent(2, 5, 6, torch.Generator().manual_seed(7))
    b = generator.sample_latent(2, 5, 6, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_patch_discriminator_gives_a_logit_map():
    d = PatchDiscriminator(DiscriminatorSpec(in_channels=5, widths=(8, 16, 16), minibatch_std=True))
    out = d(torch.randn(3, 5, 32, 48))
    assert out.shape == (3, 1, 4, 6)


@pytest.mark.parametrize("latent_blocks", [0, 1])
def test_noise_maps_roll_and_change_only_their_level(latent_blocks):
    """Noise maps (StyleGAN's per-level noise, carried as extra local latent channels) keep the roll
    contract, and a noise value of level i changes the image only within its own pixel block's
    reach: a latent cell's noise of the finest level moves pixels of that cell and its neighbours."""
    torch.manual_seed(0)
    G = TextureGenerator(GeneratorSpec(local_channels=4, global_channels=2, periodic_channels=2, out_channels=3,
                                       widths=(16, 16, 8, 8), latent_blocks=latent_blocks, noise_channels=1)).eval()
    s = G.spec
    assert s.latent_channels == 4 + (4 + 16 + 64) + 2 + 2
    z = G.sample_latent(2, 6, 5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = G(z)
        b = G(torch.roll(z, (2, 3), dims=(2, 3)))
        assert torch.allclose(torch.roll(a, (2 * G.scale, 3 * G.scale), dims=(2, 3)), b, atol=1e-5)
        # the last 64 i.i.d. channels are the finest level's noise: one value per output pixel of a cell
        z2 = z.clone()
        z2[:, s.iid_channels - 1, 3, 2] += 3.0
        changed = (G(z2) - a).abs().amax(dim=(0, 1)) > 1e-6
    ys, xs = changed.nonzero(as_tuple=True)
    assert len(ys) > 0
    # two 3x3 convs and the output conv at the finest level: at most 3 px beyond the cell
    assert ys.min() >= 3 * G.scale - 3 and ys.max() < 4 * G.scale + 3
    assert xs.min() >= 2 * G.scale - 3 and xs.max() < 3 * G.scale + 3


@pytest.mark.parametrize("noise_channels, h, w", [(0, 4, 4), (1, 3, 5)])
def test_training_computes_the_same_function(noise_channels, h, w):
    """In training mode each upsampling level runs as one transposed convolution (upsampled_conv); the
    image and every weight's gradient must match the plain nearest-upsample-then-conv path (eval mode),
    which is what export and sampling run, on odd canvases and across the wrap."""
    torch.manual_seed(0)
    G = TextureGenerator(GeneratorSpec(local_channels=4, global_channels=2, periodic_channels=2, out_channels=3,
                                       widths=(16, 12, 8, 8), noise_channels=noise_channels))
    images, grads = [], []
    for training in (True, False):
        G.train(training)
        G.zero_grad()
        x = G(G.sample_latent(2, h, w, torch.Generator().manual_seed(1)))
        (x * torch.linspace(-1, 1, x.numel()).reshape(x.shape)).sum().backward()
        images.append(x.detach())
        grads.append(torch.cat([p.grad.flatten() for p in G.parameters() if p.grad is not None]))
    assert torch.allclose(images[0], images[1], atol=1e-5)
    assert grads[0].shape == grads[1].shape
    assert (grads[0] - grads[1]).norm() < 1e-5 * grads[1].norm()


@pytest.mark.parametrize("grey", [False, True])
def test_output_starts_at_the_exemplars_mean_colour(grey):
    # An untrained G paints a colour set by its random weights, whatever the exemplar; started from the
    # exemplar's mean it paints near that colour, so the first steps go to structure.
    torch.manual_seed(0)
    target = torch.tensor([0.7, -0.6, 0.2])
    G = TextureGenerator(GeneratorSpec(8, 8, 0, 3, (32, 16), grey=grey))
    z = G.sample_latent(4, 8, 8, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = G(z).mean(dim=(0, 2, 3))
        G.init_output_mean(target)
        after = G(z).mean(dim=(0, 2, 3))
    want = target[:1].expand(3) if grey else target
    assert (before - want).abs().max() > 0.5
    assert (after - want).abs().max() < 0.15
    if grey:
        assert torch.equal(after[0], after[1]) and torch.equal(after[1], after[2])


@pytest.mark.parametrize("waves,shear,h,w", [([[-0.125, -0.125], [0.0, 0.25]], 0.5, 16, 24),   # a running bond
                                             ([[0.0, -0.25], [0.25, 0.0]], 0.0, 12, 20),        # square tiles
                                             ([[0.1, 0.3], [-0.2, 0.15]], 0.37, 20, 20)])       # an oblique grid
def test_cell_channels_are_one_value_per_grid_cell_and_wrap(waves, shear, h, w):
    """Cell channels are constant on each lattice cell, as the numpy recipe lays them out; the cells
    continue across the canvas edge (so the latent, and the image, still tile); bricks are 8x4 cells."""
    import numpy as np
    from addon.core.latent import cell_index
    from gan_core.models import lattice_cells, snapped_counts
    G = TextureGenerator(GeneratorSpec(local_channels=2, global_channels=2, periodic_channels=2, out_channels=3,
                                       widths=(8, 8, 8, 8), cell_channels=3))
    G.wave_vectors.data.copy_(torch.tensor(waves))
    G.cell_shear.fill_(shear)
    z = G.sample_latent(3, h, w, torch.Generator().manual_seed(0)).detach()
    counts = snapped_counts(G.wave_vectors, h, w)
    rng = torch.Generator().manual_seed(0)   # sample_latent's draws, in its order: local, global, then the phases
    torch.randn(3, G.spec.iid_channels, h, w, generator=rng), torch.randn(3, 2, 1, 1, generator=rng)
    cycles = torch.rand(3, 2, generator=rng).double()
    index, cells = lattice_cells(counts, cycles, shear, h, w)
    for b in range(3):
        cell = z[b, -3:]
        for i in range(cells):
            values = cell[:, index[b] == i]
            assert values.shape[1] and torch.all(values == values[:, :1])            # one value per cell
        assert len(torch.unique(cell[0])) == cells                                   # and a fresh value per cell
        np_index, np_cells = cell_index(counts.tolist(), cycles[b].tolist(), shear, np.arange(2 * h),
                                        np.arange(2 * w), h, w)
        assert np_cells == cells and (np.tile(index[b].numpy(), (2, 2)) == np_index).all()   # same cells; wraps
        if shear == 0.5:   # a running bond: each brick is a rectangle 8 cells along its row and 4 across
            def runs(a):   # lengths of the runs of one cell between two changes, in every row of a
                return {int(n) for row in a for n in np.diff(np.nonzero(np.diff(row))[0])}
            assert runs(np_index) == {8} and runs(np_index.T) == {4}
    with torch.no_grad():
        a, b = G(z), G(torch.roll(z, (3, 5), dims=(2, 3)))
    assert torch.allclose(torch.roll(a, (3 * G.scale, 5 * G.scale), dims=(2, 3)), b, atol=1e-5)
    G.spec.cell_values = "binary"   # the same draws, each cell value cut to +1 or -1 by its sign
    binary = G.sample_latent(3, h, w, torch.Generator().manual_seed(0)).detach()
    assert torch.equal(binary[:, :-3], z[:, :-3]) and torch.equal(binary[:, -3:], torch.where(z[:, -3:] >= 0, 1.0, -1.0))
