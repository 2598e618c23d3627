"""Exemplars: reading images, grouping material maps, and random wrap-around crops.

A DATA path is one of
  * an image file                       -> one RGB exemplar (channels base_color.r/g/b)
  * a folder of images                  -> several RGB exemplars
  * a folder of material maps           -> exemplars with extra channels, e.g.
        bricks/basecolor.png bricks/height.png bricks/roughness.png
    or  wall_basecolor.png wall_height.png ...  (maps grouped by name prefix)

Everything is decoded once and kept in memory as float tensors in [-1, 1]; a
training step only slices crops out of them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".tga", ".exr"}

# Map names as texture libraries spell them -> the channel group they fill.
MAP_ALIASES = {
    "basecolor": "base_color", "base_color": "base_color", "albedo": "base_color",
    "diffuse": "base_color", "color": "base_color", "col": "base_color",
    "height": "height", "disp": "height", "displacement": "height",
    "roughness": "roughness", "rough": "roughness",
}
MAP_ORDER = ("base_color", "height", "roughness")


class DataError(ValueError):
    """A problem with the user's exemplar; the CLI prints it as one line."""


@dataclass
class Exemplars:
    images: list[torch.Tensor]          # each [C, H, W] in [-1, 1]
    channels: list[str]                  # meaning of each channel, e.g. "base_color.r", "height"
    names: list[str]
    notices: list[str] = field(default_factory=list)

    @property
    def min_side(self) -> int:
        return min(min(im.shape[1:]) for im in self.images)

    @property
    def all_images(self) -> list[torch.Tensor]:
        return self.images

    def downscale(self, factor: int) -> None:
        """Bring every image to 1/factor of its resolution (area average), in place."""
        self.images = [torch.nn.functional.avg_pool2d(im[None], factor)[0] for im in self.images]

    @property
    def is_grey(self) -> bool:
        """An RGB exemplar whose every pixel has R = G = B (a grey photo): paint grey, not colour."""
        if self.channels != ["base_color.r", "base_color.g", "base_color.b"]:
            return False
        return all(bool((im[0] == im[1]).all() and (im[1] == im[2]).all()) for im in self.images)


def read_image(path: Path, notices: list[str]) -> np.ndarray:
    """Decode one file to float32 [H, W, C] in [0, 1]; C is 1 or 3."""
    if path.suffix.lower() == ".exr":
        return _read_exr(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float32)
                a = a / (65535.0 if a.max() > 255 or mode.startswith("I;16") else 255.0)
                return np.clip(a, 0, 1)[..., None]
            if mode == "F":
                return np.clip(np.asarray(im, dtype=np.float32), 0, 1)[..., None]
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                notices.append(f"{path.name}: alpha channel dropped")
            if mode in ("L", "LA", "1"):
                return np.asarray(im.convert("L"), dtype=np.float32)[..., None] / 255.0
            return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
        with OpenEXR.File(str(path)) as f:
            chans = f.channels()
            if "RGB" in chans:
                a = np.asarray(chans["RGB"].pixels, dtype=np.float32)
            elif "RGBA" in chans:
                a = np.asarray(chans["RGBA"].pixels, dtype=np.float32)[..., :3]
            else:
                a = np.asarray(next(iter(chans.values())).pixels, dtype=np.float32)
    except Exception as e:  # OpenEXR raises plain Exceptions for bad files
        raise DataError(f"cannot read EXR {path}: {e}") from None
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 3:  # linear HDR -> display-referred sRGB, like a base colour texture
        a = np.where(a <= 0.0031308, 12.92 * a, 1.055 * np.power(np.maximum(a, 0), 1 / 2.4) - 0.055)
    return np.clip(a, 0, 1).astype(np.float32)


def _map_kind(stem: str) -> tuple[str, str | None]:
    """'wall_height' -> ('wall', 'height'); 'basecolor' -> ('', 'base_color'); 'photo' -> ('photo', None)."""
    low = stem.lower()
    for sep in ("_", "-", "."):
        prefix, _, suffix = low.rpartition(sep)
        if sep in low and suffix in MAP_ALIASES:
            return stem[: len(prefix)], MAP_ALIASES[suffix]
    if low in MAP_ALIASES:
        return "", MAP_ALIASES[low]
    return stem, None


def _material_tensor(maps: dict[str, np.ndarray], where: str) -> tuple[np.ndarray, list[str]]:
    if "base_color" not in maps:
        raise DataError(f"{where}: material maps without a base colour map ({', '.join(maps)})")
    shapes = {m.shape[:2] for m in maps.values()}
    if len(shapes) > 1:
        raise DataError(f"{where}: material maps differ in size: {sorted(shapes)}")
    parts, channels = [], []
    for kind in MAP_ORDER:
        if kind not in maps:
            continue
        a = maps[kind]
        if kind == "base_color":
            a = a if a.shape[-1] == 3 else np.repeat(a, 3, axis=-1)
            channels += ["base_color.r", "base_color.g", "base_color.b"]
        else:
            a = a.mean(axis=-1, keepdims=True)  # scalar maps: one channel
            channels.append(kind)
        parts.append(a)
    return np.concatenate(parts, axis=-1), channels


def load_exemplars(path: str | Path, derive_maps: bool = False, crop: int = 64) -> Exemplars:
    """derive_maps: each photo becomes base colour + height + roughness, at scales set from the
    training crop size (see derive_maps.py)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"exemplar not found: {p}")
    notices: list[str] = []
    if p.is_file():
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"not an image file (expected one of {', '.join(sorted(IMAGE_SUFFIXES))}): {p}")
        groups = {p.stem: {"base_color": read_image(p, notices)}}
    else:
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images in folder {p} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        groups: dict[str, dict[str, np.ndarray]] = {}
        for f in files:
            name, kind = _map_kind(f.stem)
            key = name or p.name
            groups.setdefault(key if kind else f.stem, {})[kind or "base_color"] = read_image(f, notices)
    if derive_maps:
        from .derive_maps import derive_groups
        groups = derive_groups(groups, str(p), crop)
    images, names, channel_sets = [], [], set()
    for name, maps in groups.items():
        arr, channels = _material_tensor(maps, f"{p}/{name}" if p.is_dir() else str(p))
        if maps["base_color"].shape[-1] == 1:
            notices.append(f"{name}: grayscale image used as grey base colour")
        channel_sets.add(tuple(channels))
        images.append(torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))) * 2 - 1)
        names.append(name)
    if len(channel_sets) > 1:
        raise DataError(f"{p}: exemplars have different map sets {sorted(channel_sets)}; train one set at a time")
    return Exemplars(images, list(channel_sets.pop()), names, notices)


class CropSampler:
    """Random crops from in-memory exemplars, optionally wrapping around their edges.

    Larger exemplars are picked proportionally to their area so every pixel is
    equally likely to be seen.
    """

    def __init__(self, exemplars: Exemplars, size: int, device: torch.device, wrap: bool = True,
                 flip_rot: bool = False, generator: torch.Generator | None = None):
        if exemplars.min_side < size:
            small = min(exemplars.images, key=lambda im: min(im.shape[1:]))
            raise DataError(f"exemplar is {small.shape[2]}x{small.shape[1]} px, smaller than the "
                            f"{size} px training crop; use a smaller --size or a larger image")
        self.images = [im.to(device) for im in exemplars.images]
        self.size, self.wrap, self.flip_rot = size, wrap, flip_rot
        self.generator = generator or torch.Generator()
        areas = torch.tensor([im.shape[1] * im.shape[2] for im in self.images], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def crop(self) -> torch.Tensor:
        idx = int(torch.multinomial(self.weights, 1, generator=self.generator))
        im = self.images[idx]
        _, h, w = im.shape
        s = self.size
        if self.wrap:
            y, x = self._randint(h), self._randint(w)
            rows = (torch.arange(s, device=im.device) + y) % h
            cols = (torch.arange(s, device=im.device) + x) % w
            c = im.index_select(1, rows).index_select(2, cols)
        else:
            y, x = self._randint(h - s + 1), self._randint(w - s + 1)
            c = im[:, y:y + s, x:x + s]
        if self.flip_rot:
            c = torch.rot90(c, self._randint(4), dims=(1, 2))
            if self._randint(2):
                c = c.flip(2)
        return c

    def batch(self, n: int) -> torch.Tensor:
        return torch.stack([self.crop() for _ in range(n)])


@dataclass
class ClassExemplars:
    """A folder of sub-folders, one texture class each (for conditional training)."""
    classes: list[str]
    sets: list[Exemplars]
    channels: list[str]
    notices: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f"{c}/{n}" for c, ex in zip(self.classes, self.sets) for n in ex.names]

    @property
    def is_grey(self) -> bool:
        return all(ex.is_grey for ex in self.sets)

    @property
    def all_images(self) -> list[torch.Tensor]:
        return [im for ex in self.sets for im in ex.images]

    def downscale(self, factor: int) -> None:
        for ex in self.sets:
            ex.downscale(factor)


def load_class_exemplars(path: str | Path) -> ClassExemplars:
    """DATA/<class>/... : every sub-folder that holds images is one class (what load_exemplars
    accepts: images or material maps); classes are sorted by folder name and must share maps."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError(f"--conditional needs a folder of class sub-folders, got {p}")
    subs = sorted(d for d in p.iterdir() if d.is_dir()
                  and any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir()))
    if len(subs) < 2:
        raise DataError(f"--conditional: {p} has {len(subs)} sub-folder(s) with images; "
                        "a conditional run needs at least 2 classes, one sub-folder each")
    sets = [load_exemplars(d) for d in subs]
    channel_sets = {tuple(ex.channels) for ex in sets}
    if len(channel_sets) > 1:
        raise DataError(f"{p}: classes have different map sets {sorted(channel_sets)}; give every class the same maps")
    notices = [f"{d.name}: {n}" for d, ex in zip(subs, sets) for n in ex.notices]
    return ClassExemplars([d.name for d in subs], sets, list(sets[0].channels), notices)


class ClassCropSampler:
    """Crops with class ids: each sample's class is drawn uniformly, then a crop of that class."""

    def __init__(self, data: ClassExemplars, size: int, device: torch.device, wrap: bool = True,
                 flip_rot: bool = False, generator: torch.Generator | None = None):
        self.generator = generator or torch.Generator()
        self.samplers = [CropSampler(ex, size, device, wrap, flip_rot, self.generator) for ex in data.sets]
        self.device = device

    def batch(self, n: int, classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if classes is None:
            classes = torch.randint(len(self.samplers), (n,), generator=self.generator)
        x = torch.stack([self.samplers[int(c)].crop() for c in classes])
        return x, classes.to(self.device)


def augment(x: torch.Tensor, translate: bool, jitter: float, color_channels: int,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Differentiable augmentation applied alike to real and fake (DiffAugment-style),
    so D sees more variety while G is not taught the augmentation.

    translate: a random wrap-around roll per sample, so the generator's own wrap seam
    lands inside the discriminator's view. jitter: mild brightness/contrast/saturation
    on the base-colour channels only (height and roughness are data, not colour).
    """
    b = x.shape[0]
    if translate:
        h, w = x.shape[2:]
        shifts = torch.randint(0, h * w, (b,), generator=generator).tolist()
        x = torch.stack([torch.roll(x[i], (s // w, s % w), dims=(1, 2)) for i, s in enumerate(shifts)])
    if jitter > 0 and color_channels:
        def r(*shape):
            return (torch.rand(*shape, generator=generator) * 2 - 1).to(x) * jitter
        rgb, rest = x[:, :color_channels], x[:, color_channels:]
        rgb = rgb + r(b, 1, 1, 1)                                      # brightness
        mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
        rgb = (rgb - mean) * (1 + 2 * r(b, 1, 1, 1)) + mean            # contrast
        grey = rgb.mean(dim=1, keepdim=True)
        rgb = (rgb - grey) * (1 + 2 * r(b, 1, 1, 1)) + grey            # saturation
        x = torch.cat([rgb, rest], dim=1)
    return x


def emphasise_detail(x: torch.Tensor, alpha: float, circular: bool) -> torch.Tensor:
    """x + alpha * (x - blur(x)): the finest octave amplified 1 + alpha times, for the critic's eyes.

    A Lipschitz critic measures distance in pixels, where grain and crisp edges are small next to
    colour and shape; in this space they count 1 + alpha times as much (the ground metric of a
    Banach WGAN, Adler & Lunz 2018). Linear, so a penalty on interpolates in this space is the
    usual one. The blur is the 3x3 binomial; it wraps where the critic does.
    """
    if alpha == 0:
        return x
    p = torch.nn.functional.pad(x, (1, 1, 1, 1), "circular" if circular else "replicate")
    rows = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]   # separable [1, 2, 1] by slices: ~7x a depthwise conv on the CPU
    blurred = (rows[..., :-2, :] + 2 * rows[..., 1:-1, :] + rows[..., 2:, :]) / 16
    return x + alpha * (x - blurred)


def color_channel_count(channels: list[str]) -> int:
    return sum(1 for c in channels if c.startswith("base_color."))


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 [H, W, 3] for previews (first three channels or grey)."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    if x.shape[0] >= 3:
        x = x[:3]
    else:
        x = x[:1].expand(3, -1, -1)
    return x.permute(1, 2, 0).numpy()


def warn(msg: str) -> None:
    print(f"texgan: note: {msg}", file=sys.stderr)
