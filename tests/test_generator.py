"""The texture generator tiles exactly: rolling the latent rolls the image."""
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
    """Snapped wave vectors make the periodic inputs continuous across the canvas edge."""
    for h, w in [(5, 7), (8, 8), (13, 4)]:
        z = generator.sample_latent(1, h, w, torch.Generator().manual_seed(3))
        periodic = z[:, -3:]
        k = generator.snapped_wave_vectors(h, w).detach()
        assert torch.allclose(k[:, 0] * w, (k[:, 0] * w).round(), atol=1e-4)
        assert torch.allclose(k[:, 1] * h, (k[:, 1] * h).round(), atol=1e-4)
        # one more cell past the edge equals the first cell
        assert periodic.shape[-2:] == (h, w)


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
