"""Node wiring and image writing of the Blender extension, in the real bpy module, on synthetic maps.

(The end-to-end flow with a real model and the installed extension is in test_addon_install.py.)
"""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from addon import blender_images, nodes  # noqa: E402  (needs bpy)
from helpers import plane_with_material  # noqa: E402


def synthetic_maps(h=24, w=40, seed=0):
    rng = np.random.default_rng(seed)
    return {"base_color": rng.random((h, w, 3), dtype=np.float32),
            "height": rng.random((h, w), dtype=np.float32),
            "roughness": rng.random((h, w), dtype=np.float32)}


@pytest.fixture()
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return plane_with_material()


def links_into(socket):
    return [(link.from_node, link.from_socket.name) for link in socket.links]


def test_wiring_colour_spaces_and_pixels(scene):
    obj, material = scene
    maps = synthetic_maps()
    images = nodes.apply_maps(material, maps, scale=3.0)
    bsdf = nodes.find_principled(material)
    ours = nodes.our_nodes(material)
    assert set(ours) == {"coords", "mapping", "image:base_color", "image:height", "image:roughness", "bump"}

    (src, _), = links_into(bsdf.inputs["Base Color"])
    assert src == ours["image:base_color"] and src.image.colorspace_settings.name == "sRGB"
    (src, _), = links_into(bsdf.inputs["Roughness"])
    assert src == ours["image:roughness"] and src.image.colorspace_settings.name == "Non-Color"
    (src, _), = links_into(bsdf.inputs["Normal"])
    assert src == ours["bump"]
    (src, _), = links_into(ours["bump"].inputs["Height"])
    assert src == ours["image:height"] and src.image.colorspace_settings.name == "Non-Color"
    assert tuple(ours["mapping"].inputs["Scale"].default_value) == (3.0, 3.0, 3.0)
    (src, name), = links_into(ours["mapping"].inputs["Vector"])
    assert src == ours["coords"] and name == "UV"
    for role in maps:
        node = ours[f"image:{role}"]
        assert node.extension == "REPEAT"
        assert links_into(node.inputs["Vector"])[0][0] == ours["mapping"]
        assert tuple(node.image.size) == (40, 24)
        # No UI here (bpy module): packing is left for save time.
        assert node.image.packed_file is None and node.image[blender_images.PACK_TAG]

    # Pixels: float height exact; 8-bit maps within quantisation; row 0 at the top.
    height = blender_images.read_pixels(images["height"])
    np.testing.assert_allclose(height[..., 0], maps["height"], atol=1e-6)
    base = blender_images.read_pixels(images["base_color"])
    np.testing.assert_allclose(base[..., :3], maps["base_color"], atol=0.5 / 255 + 1e-6)
    rough = blender_images.read_pixels(images["roughness"])
    np.testing.assert_allclose(rough[..., 0], maps["roughness"], atol=0.5 / 255 + 1e-6)


def test_regenerate_reuses_nodes_and_images_and_keeps_foreign_nodes(scene):
    obj, material = scene
    tree = material.node_tree
    foreign_img = bpy.data.images.new("artist", 4, 4)
    foreign = tree.nodes.new("ShaderNodeTexImage")
    foreign.image = foreign_img
    foreign_pixels = np.array(foreign_img.pixels[:])
    nodes.apply_maps(material, synthetic_maps(seed=1))
    count, images = len(tree.nodes), len(bpy.data.images)
    first = {role: node.image for role, node in nodes.our_nodes(material).items() if role.startswith("image:")}

    new_maps = synthetic_maps(h=16, w=16, seed=2)
    nodes.apply_maps(material, new_maps, scale=2.0)
    assert len(tree.nodes) == count and len(bpy.data.images) == images
    ours = nodes.our_nodes(material)
    for role, image in first.items():
        assert ours[role].image == image and tuple(image.size) == (16, 16)
    np.testing.assert_allclose(blender_images.read_pixels(ours["image:height"].image)[..., 0], new_maps["height"], atol=1e-6)
    assert foreign.name in tree.nodes and foreign.image == foreign_img
    np.testing.assert_array_equal(np.array(foreign_img.pixels[:]), foreign_pixels)

    # A model with fewer maps: our stale nodes go, nothing else does.
    nodes.apply_maps(material, {"base_color": new_maps["base_color"]})
    assert set(nodes.our_nodes(material)) == {"coords", "mapping", "image:base_color"}
    assert foreign.name in tree.nodes
    assert not nodes.find_principled(material).inputs["Normal"].links


def test_image_shared_with_another_material_is_not_overwritten(scene):
    obj, material = scene
    nodes.apply_maps(material, synthetic_maps(seed=3))
    copy = material.copy()  # shares the images, like Shift+D
    before = blender_images.read_pixels(nodes.image_of(copy, "height")).copy()
    nodes.apply_maps(material, synthetic_maps(seed=4))
    assert nodes.image_of(material, "height") != nodes.image_of(copy, "height")
    np.testing.assert_array_equal(blender_images.read_pixels(nodes.image_of(copy, "height")), before)


def test_user_image_swapped_into_our_node_is_never_written(scene):
    obj, material = scene
    nodes.apply_maps(material, synthetic_maps(seed=5))
    user_image = bpy.data.images.new("photo", 8, 8)
    pixels = np.array(user_image.pixels[:])
    nodes.our_nodes(material)["image:base_color"].image = user_image
    nodes.apply_maps(material, synthetic_maps(seed=6))
    assert nodes.image_of(material, "base_color") != user_image
    np.testing.assert_array_equal(np.array(user_image.pixels[:]), pixels)


def test_material_without_principled_is_refused_untouched(scene):
    obj, material = scene
    tree = material.node_tree
    for node in [n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"]:
        tree.nodes.remove(node)
    tree.nodes.new("ShaderNodeBsdfDiffuse")
    names, images = sorted(n.name for n in tree.nodes), len(bpy.data.images)
    with pytest.raises(nodes.MaterialError, match="no Principled BSDF"):
        nodes.apply_maps(material, synthetic_maps())
    assert sorted(n.name for n in tree.nodes) == names and len(bpy.data.images) == images


def test_packed_images_survive_save_and_reload(scene, tmp_path):
    obj, material = scene
    maps = synthetic_maps(seed=7)
    nodes.apply_maps(material, maps)  # deferred packing puts texgan's save_pre handler in place
    assert any(blender_images._is_our_handler(fn) for fn in bpy.app.handlers.save_pre)
    path = tmp_path / "t.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    material = bpy.data.materials["Mat"]
    ours = nodes.our_nodes(material)
    assert set(ours) >= {"image:base_color", "image:height", "image:roughness"}
    height = ours["image:height"].image
    assert height.packed_file is not None and blender_images.PACK_TAG not in height
    assert height.colorspace_settings.name == "Non-Color"
    np.testing.assert_allclose(blender_images.read_pixels(height)[..., 0], maps["height"], atol=1e-6)
    base = ours["image:base_color"].image
    assert base.colorspace_settings.name == "sRGB"
    np.testing.assert_allclose(blender_images.read_pixels(base)[..., :3], maps["base_color"], atol=0.5 / 255 + 1e-6)


def test_save_beside_the_blend(scene, tmp_path):
    obj, material = scene
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "s.blend"))
    material = bpy.data.materials["Mat"]
    maps = synthetic_maps(seed=8)
    images = nodes.apply_maps(material, maps, storage="SAVE", save_dir=str(tmp_path / "textures"))
    assert (tmp_path / "textures").is_dir() and len(list((tmp_path / "textures").iterdir())) == 3
    for role, image in images.items():
        assert image.packed_file is None and image.filepath.startswith("//")
        assert blender_images.PACK_TAG not in image  # a file on disk: nothing left to pack
    np.testing.assert_allclose(blender_images.read_pixels(images["height"])[..., 0], maps["height"], atol=1e-6)
    np.testing.assert_allclose(blender_images.read_pixels(images["base_color"])[..., :3], maps["base_color"],
                               atol=0.5 / 255 + 1e-6)


def test_write_textured_blend_for_the_demo(tmp_path):
    from addon.demo_scene import write_textured_blend
    maps = synthetic_maps(h=32, w=32, seed=9)
    summary = write_textured_blend(tmp_path / "demo.blend", maps=maps, texture_scale=2.0)
    assert summary["size"] == [32, 32] and summary["maps"] == ["base_color", "height", "roughness"]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "demo.blend"))
    sphere = bpy.data.objects["texgan sphere"]
    material = sphere.active_material
    assert material.name == summary["material"] and bpy.data.objects["texgan floor"].active_material == material
    ours = nodes.our_nodes(material)
    assert {"image:base_color", "image:height", "image:roughness", "bump"} <= set(ours)
    assert all(ours[f"image:{role}"].image.packed_file is not None for role in maps)
    np.testing.assert_allclose(blender_images.read_pixels(ours["image:height"].image)[..., 0], maps["height"], atol=1e-6)
    assert bpy.context.scene.camera is not None
