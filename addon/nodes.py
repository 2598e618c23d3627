"""Wire generated maps into a material's Principled BSDF (bpy only).

Every node texgan creates carries the custom property ``node["texgan_role"]`` (and a ``texgan …``
name and label). Regenerating finds its nodes by that tag and reuses them, so nodes never pile up;
nodes and images without the tag are never modified or removed. The only change made to the
artist's own nodes is the link into the Principled BSDF inputs texgan drives.

Layout::

    Texture Coordinate ─ Mapping (scale) ─┬─ Image base_color (sRGB) ──────────── Base Color
                                          ├─ Image roughness (Non-Color) ─────── Roughness
                                          ├─ Image normal ─ Normal Map ─┐
                                          └─ Image height ───────────── Bump ─── Normal
"""
from __future__ import annotations

import bpy

from . import blender_images
from .core.format import DEFAULT_BUMP_STRENGTH, DEFAULT_TEXTURE_SCALE

TAG = "texgan_role"

# Maps wired straight into a Principled BSDF input.
DIRECT_INPUTS = {"base_color": "Base Color", "roughness": "Roughness", "metallic": "Metallic", "opacity": "Alpha"}
# Structural nodes (not images), by role.
STRUCTURE = ("coords", "mapping", "bump", "normal_map")


class MaterialError(ValueError):
    """The material cannot take generated textures; the message says why and what to do."""


def is_editable(material) -> str | None:
    """None if texgan may edit ``material``, else the reason it may not."""
    if material is None:
        return "no material"
    if material.library is not None:
        return (f"material '{material.name}' is linked from {material.library.filepath} and read-only; "
                "make it local (Object > Relations > Make Local) or use target NEW_MATERIAL")
    override = getattr(material, "override_library", None)
    if override is not None and getattr(override, "is_system_override", False):
        return f"material '{material.name}' is a non-editable library override; make it editable or use target NEW_MATERIAL"
    return None


def find_principled(material):
    """The Principled BSDF that feeds the active Material Output (else the first one), or None."""
    tree = material.node_tree
    if tree is None:
        return None
    output = None
    try:
        output = tree.get_output_node('ALL')
    except Exception:  # noqa: BLE001 - older/odd trees
        output = None
    if output is not None and output.inputs.get("Surface") is not None:
        for link in output.inputs["Surface"].links:
            if link.from_node.bl_idname == "ShaderNodeBsdfPrincipled":
                return link.from_node
    for node in tree.nodes:
        if node.bl_idname == "ShaderNodeBsdfPrincipled":
            return node
    return None


def check_material(material) -> None:
    """Raise MaterialError (nothing changed) unless generate may wire textures into ``material``."""
    reason = is_editable(material)
    if reason:
        raise MaterialError(reason)
    if material.node_tree is None or find_principled(material) is None:
        raise MaterialError(f"material '{material.name}' has no Principled BSDF to wire textures into; "
                            "add one (Shift+A > Shader > Principled BSDF) or use target NEW_MATERIAL")


def new_material(name: str):
    """A new material with a Principled BSDF feeding a Material Output."""
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # Blender 4.x: new materials have no node tree yet
        material.use_nodes = True
    tree = material.node_tree
    if find_principled(material) is None:
        bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
        out = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial"), None) \
            or tree.nodes.new("ShaderNodeOutputMaterial")
        out.location = (bsdf.location.x + 300, bsdf.location.y)
        tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return material


def our_nodes(material) -> dict:
    """role -> node for the nodes texgan created in this material."""
    found = {}
    if material is None or material.node_tree is None:
        return found
    for node in material.node_tree.nodes:
        role = node.get(TAG)
        if isinstance(role, str) and role not in found:
            found[role] = node
    return found


def image_of(material, role: str):
    node = our_nodes(material).get(f"image:{role}")
    return node.image if node is not None else None


def _ensure(tree, found: dict, role: str, idname: str, location, label: str):
    node = found.get(role)
    if node is not None and node.bl_idname != idname:
        tree.nodes.remove(node)
        node = None
    if node is None:
        node = tree.nodes.new(idname)
        node[TAG] = role
        node.name = f"texgan {label}"
        node.label = f"texgan {label}"
        node.location = location
        found[role] = node
    return node


def _link(tree, from_socket, to_socket) -> None:
    for link in list(to_socket.links):
        if link.from_socket == from_socket:
            return
        tree.links.remove(link)
    tree.links.new(from_socket, to_socket)


def reusable_image(material, role: str):
    """Our image for ``role`` if regenerating may overwrite it (ours, and used by this node only)."""
    image = image_of(material, role)
    if not blender_images.is_ours(image):
        return None
    users = image.users - (1 if image.use_fake_user else 0)
    return image if users <= 1 else None


def wire(material, images: dict, scale: float = DEFAULT_TEXTURE_SCALE, bump_strength: float = DEFAULT_BUMP_STRENGTH, bump_distance: float = 0.05,
         coordinates: str = "UV") -> dict:
    """Create or update texgan's nodes in ``material`` so ``images`` (role -> bpy Image) feed its BSDF.

    Returns role -> node. Our nodes for roles not in ``images`` are removed (never anyone else's).
    """
    check_material(material)
    tree = material.node_tree
    bsdf = find_principled(material)
    found = our_nodes(material)
    x0, y0 = bsdf.location.x, bsdf.location.y
    coords = _ensure(tree, found, "coords", "ShaderNodeTexCoord", (x0 - 1100, y0), "coordinates")
    mapping = _ensure(tree, found, "mapping", "ShaderNodeMapping", (x0 - 900, y0), "scale")
    mapping.vector_type = 'POINT'
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    _link(tree, coords.outputs["Object" if coordinates == "BOX" else "UV"], mapping.inputs["Vector"])

    wanted = {f"image:{role}" for role in images}
    if "height" in images:
        wanted.add("bump")
    if "normal" in images:
        wanted.add("normal_map")
    for role, node in list(found.items()):
        if role not in STRUCTURE[:2] and role not in wanted:
            tree.nodes.remove(node)
            del found[role]

    order = ["base_color", "roughness", "metallic", "opacity", "normal", "height"]
    roles = sorted(images, key=lambda r: order.index(r) if r in order else len(order))
    for i, role in enumerate(roles):
        image = images[role]
        node = _ensure(tree, found, f"image:{role}", "ShaderNodeTexImage", (x0 - 600, y0 - 280 * i), role)
        node.image = image
        node.extension = 'REPEAT'
        node.interpolation = 'Cubic' if role == "height" else 'Linear'
        node.projection = 'BOX' if coordinates == "BOX" else 'FLAT'
        if coordinates == "BOX":
            node.projection_blend = 0.2
        _link(tree, mapping.outputs["Vector"], node.inputs["Vector"])
        if role in DIRECT_INPUTS and bsdf.inputs.get(DIRECT_INPUTS[role]) is not None:
            _link(tree, node.outputs["Color"], bsdf.inputs[DIRECT_INPUTS[role]])

    normal_socket = None
    if "normal" in images:
        nmap = _ensure(tree, found, "normal_map", "ShaderNodeNormalMap", (x0 - 300, y0 - 280 * roles.index("normal")),
                       "normal map")
        nmap.space = 'TANGENT'
        _link(tree, found["image:normal"].outputs["Color"], nmap.inputs["Color"])
        normal_socket = nmap.outputs["Normal"]
    if "height" in images:
        bump = _ensure(tree, found, "bump", "ShaderNodeBump", (x0 - 300, y0 - 280 * roles.index("height")), "bump")
        bump.inputs["Strength"].default_value = bump_strength
        bump.inputs["Distance"].default_value = bump_distance
        _link(tree, found["image:height"].outputs["Color"], bump.inputs["Height"])
        if normal_socket is not None:
            _link(tree, normal_socket, bump.inputs["Normal"])
        normal_socket = bump.outputs["Normal"]
    if normal_socket is not None:
        _link(tree, normal_socket, bsdf.inputs["Normal"])
    return found


def apply_maps(material, maps: dict, scale: float = DEFAULT_TEXTURE_SCALE, storage: str = "PACK", save_dir: str | None = None,
               info: dict | None = None, bump_strength: float = DEFAULT_BUMP_STRENGTH, coordinates: str = "UV") -> dict:
    """Write ``maps`` (role -> HxW[xC] float array) into images and wire them into ``material``.

    Checks the material first and raises MaterialError before anything changes. Returns role -> image.
    """
    check_material(material)
    images = {}
    for role, array in maps.items():
        existing = reusable_image(material, role)
        images[role] = blender_images.write_image(f"{material.name} texgan {role}", role, array, image=existing,
                                                  storage=storage, save_dir=save_dir, info=info)
    wire(material, images, scale=scale, bump_strength=bump_strength, coordinates=coordinates)
    return images


def assign_material(obj, material) -> None:
    """Put ``material`` in ``obj``'s active slot (adding a slot if it has none)."""
    if obj.data is None or not hasattr(obj.data, "materials"):
        raise MaterialError(f"object '{obj.name}' ({obj.type.lower()}) cannot hold materials")
    if len(obj.material_slots) == 0:
        obj.data.materials.append(material)
        obj.active_material_index = 0
    else:
        obj.material_slots[obj.active_material_index].material = material
