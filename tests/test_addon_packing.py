"""Pixels into Blender images and packing at save time, in the real bpy module.

Without a UI (here: the bpy module), `bpy.ops.texgan.generate` leaves its images unpacked and
tagged; they are packed before any .blend is written (save_pre handler, or texgan's own explicit
call where it saves a .blend itself).
"""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

import addon  # noqa: E402
from addon import blender_images, nodes, worker  # noqa: E402
from helpers import plane_with_material  # noqa: E402

BYTE_ATOL = 0.5 / 255 + 1e-6  # 8-bit images round to the nearest code


# ---------------------------------------------------------------------------------------------
# to_rgba

def reference_rgba(array) -> np.ndarray:
    """The obvious implementation: RGBA with grey/xy expanded, clipped, rows flipped, flattened."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    out = np.ones((h, w, 4), dtype=np.float32)
    for y in range(h):
        for ch in range(3 if c == 1 else c):
            out[h - 1 - y, :, ch] = np.clip(a[y, :, 0 if c == 1 else ch], 0.0, 1.0)
    return out.ravel()


@pytest.mark.parametrize("channels", [0, 1, 2, 3, 4])  # 0: a plain HxW map
@pytest.mark.parametrize("layout", ["interleaved", "planar", "float64"])
@pytest.mark.parametrize("shape", [(7, 5), (37, 2048)])  # one band of rows; several and a partial one
def test_to_rgba_matches_the_reference(channels, layout, shape):
    rng = np.random.default_rng(channels)
    c = max(channels, 1)
    planes = rng.uniform(-0.3, 1.3, size=(c, *shape)).astype(np.float32)  # out-of-range values get clipped
    planes[0, 0, 0] = np.nan  # NaN stays NaN, as before
    if layout == "planar":  # what split_maps hands over: views into the model's [C, H, W] output
        a = planes.transpose(1, 2, 0)
    else:
        a = np.ascontiguousarray(planes.transpose(1, 2, 0))
        if layout == "float64":
            a = a.astype(np.float64)
    if channels == 0:
        a = a[:, :, 0]
    out = blender_images.to_rgba(a)
    assert out.dtype == np.float32 and out.shape == (shape[0] * shape[1] * 4,) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, reference_rgba(a))


def test_to_rgba_rejects_bad_shapes():
    for shape in [(4,), (4, 4, 5), (2, 4, 4, 3)]:
        with pytest.raises(ValueError, match="HxW"):
            blender_images.to_rgba(np.zeros(shape, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# The operator, saving and re-opening

@pytest.fixture()
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        yield
    finally:
        addon.unregister()


@pytest.fixture()
def plane(registered):
    return plane_with_material()


def expected_maps(model, h, w, seed) -> dict:
    from addon.inference import TextureModel
    tm = TextureModel(str(model), device="cpu")
    return worker.split_maps(tm.generate(h, w, seed=seed)[0], tm.channels)


def generate(model, **kw):
    kw = {"width": 40, "height": 24, "seed": 3, "target": 'ACTIVE_MATERIAL', "device": 'CPU', **kw}
    result = bpy.ops.texgan.generate(model=str(model), **kw)
    assert result == {'FINISHED'}, result


def texgan_images(material) -> dict:
    return {role[6:]: node.image for role, node in nodes.our_nodes(material).items() if role.startswith("image:")}


def assert_pixels(images, maps):
    for role, array in maps.items():
        px = blender_images.read_pixels(images[role])
        got = px[..., 0] if array.ndim == 2 else px[..., :array.shape[2]]
        np.testing.assert_allclose(got, np.clip(array, 0, 1), atol=1e-6 if images[role].is_float else BYTE_ATOL,
                                   err_msg=role)


def test_generate_defers_packing_and_save_packs_the_right_pixels(plane, tiny_onnx, tmp_path):
    obj, material = plane
    generate(tiny_onnx)
    images = texgan_images(material)
    assert set(images) == {"base_color", "height", "roughness"}
    for image in images.values():  # nothing encoded while generating
        assert image.packed_file is None and image.source == 'GENERATED' and image[blender_images.PACK_TAG]
    assert {i.name for i in blender_images.pending_images()} == {i.name for i in images.values()}

    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))  # the add-on's save_pre handler packs them
    assert blender_images.pending_images() == []
    bpy.ops.wm.open_mainfile(filepath=str(path))
    images = texgan_images(bpy.data.materials["Mat"])
    for image in images.values():
        assert image.packed_file is not None and blender_images.PACK_TAG not in image
    assert images["height"].is_float and images["height"].colorspace_settings.name == "Non-Color"
    assert images["base_color"].colorspace_settings.name == "sRGB"
    assert_pixels(images, expected_maps(tiny_onnx, 24, 40, 3))

    # Generating again into the packed images replaces the packed pixels at the next save.
    generate(tiny_onnx, seed=4)
    assert all(i.packed_file is None for i in texgan_images(bpy.data.materials["Mat"]).values())
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(path))
    images = texgan_images(bpy.data.materials["Mat"])
    assert all(i.packed_file is not None for i in images.values())
    assert_pixels(images, expected_maps(tiny_onnx, 24, 40, 4))


def test_with_a_ui_images_are_packed_at_once(plane, tiny_onnx, monkeypatch):
    # Interactive sessions pack straight away: undo/redo, autosave and colour-space changes drop
    # the pixels of unpacked generated images.
    monkeypatch.setattr(blender_images, "defer_packing", lambda: False)
    obj, material = plane
    generate(tiny_onnx)
    images = texgan_images(material)
    assert all(i.packed_file is not None and blender_images.PACK_TAG not in i for i in images.values())
    assert_pixels(images, expected_maps(tiny_onnx, 24, 40, 3))


def test_save_storage_writes_files_beside_the_blend(plane, tiny_onnx, tmp_path):
    obj, material = plane
    path = tmp_path / "s.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    generate(tiny_onnx, storage='SAVE')
    images = texgan_images(bpy.data.materials["Mat"])
    assert sorted(p.suffix for p in (tmp_path / "textures").iterdir()) == [".exr", ".png", ".png"]
    for image in images.values():
        assert image.source == 'FILE' and image.filepath.startswith("//textures/") and image.packed_file is None
        assert blender_images.PACK_TAG not in image
    assert blender_images.pending_images() == []
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(path))
    images = texgan_images(bpy.data.materials["Mat"])
    assert all(i.packed_file is None for i in images.values())
    assert_pixels(images, expected_maps(tiny_onnx, 24, 40, 3))


def test_unregister_packs_what_is_pending_and_removes_the_handler(tiny_onnx):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        assert sum(blender_images._is_our_handler(fn) for fn in bpy.app.handlers.save_pre) == 1
        blender_images.register()  # registering again (a reload) must not add a second handler
        assert sum(blender_images._is_our_handler(fn) for fn in bpy.app.handlers.save_pre) == 1
        bpy.ops.mesh.primitive_plane_add()
        generate(tiny_onnx, target='NEW_MATERIAL')
        images = texgan_images(bpy.context.active_object.active_material)
        assert all(i.packed_file is None for i in images.values())
    finally:
        addon.unregister()
    assert not any(blender_images._is_our_handler(fn) for fn in bpy.app.handlers.save_pre)
    assert all(i.packed_file is not None for i in images.values())


# ---------------------------------------------------------------------------------------------
# texgan's own .blend writers pack explicitly (no save handler needed)

@pytest.fixture()
def no_save_handler(monkeypatch):
    monkeypatch.setattr(blender_images, "ensure_save_handler", lambda: None)
    saved = list(bpy.app.handlers.save_pre)
    for fn in [fn for fn in saved if blender_images._is_our_handler(fn)]:
        bpy.app.handlers.save_pre.remove(fn)
    yield
    for fn in saved:
        if fn not in bpy.app.handlers.save_pre:
            bpy.app.handlers.save_pre.append(fn)


def test_write_textured_blend_packs_without_the_handler(no_save_handler, tmp_path):
    from addon.demo_scene import write_textured_blend
    rng = np.random.default_rng(1)
    maps = {"base_color": rng.random((16, 24, 3), dtype=np.float32), "height": rng.random((16, 24), dtype=np.float32)}
    write_textured_blend(tmp_path / "demo.blend", maps=maps)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "demo.blend"))
    images = texgan_images(bpy.data.objects["texgan sphere"].active_material)
    assert all(i.packed_file is not None for i in images.values())
    assert_pixels(images, maps)


def test_bake_save_blend_packs_pending_images_without_the_handler(no_save_handler, tmp_path):
    from addon import bake
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _, material = plane_with_material()
    maps = {"roughness": np.random.default_rng(2).random((8, 8), dtype=np.float32)}
    nodes.apply_maps(material, maps)
    assert blender_images.pending_images()
    bake._save_blend(str(tmp_path / "out.blend"), pack=False)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out.blend"))
    images = texgan_images(bpy.data.materials["Mat"])
    assert images["roughness"].packed_file is not None
    assert_pixels(images, maps)


def test_pending_image_that_lost_its_pixels_is_skipped(capsys):
    # Changing the colour space of an unpacked generated image makes Blender regenerate it blank:
    # there is nothing left to pack, and saving must still work.
    bpy.ops.wm.read_factory_settings(use_empty=True)
    material = bpy.data.materials.new("Mat")
    material.use_fake_user = True
    rng = np.random.default_rng(3)
    maps = {"base_color": rng.random((8, 8, 3), dtype=np.float32), "height": rng.random((8, 8), dtype=np.float32)}
    images = nodes.apply_maps(material, maps)
    images["height"].colorspace_settings.name = "sRGB"
    packed = blender_images.pack_pending_images()
    assert [i.name for i in packed] == [images["base_color"].name]
    assert images["height"].packed_file is None and blender_images.PACK_TAG not in images["height"]
    assert "lost its pixels" in capsys.readouterr().out
    assert blender_images.pending_images() == []
