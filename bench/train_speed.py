"""Training throughput: `texgan train --arch dcgan` vs a plain reference DCGAN loop, side by side,
plus steps/s of the default tileable config and the effect of bf16, channels-last and fused Adam.

    python bench/train_speed.py [--quick] [--out results.json]

texgan side: gan_core.train.train(TrainConfig(arch="dcgan", loss="nonsat", batch=64, size=64)) on the
embedded RGB exemplar, its own wall clock read from log.csv between two logged steps (so model
building, the first warm-up steps and the final checkpoint are not counted). Everything a step
does is timed: crops from the in-memory exemplar, augmentation of real and fake, D on both, lazy
R1 every 16th step, the G step on the D step's fake, EMA, logging; with its default `amp` (bf16
autocast where the CPU computes bf16 natively) and with `amp=False` (`--no-amp`, float32). The
same-work variants turn R1 and augmentation off (`--r1-gamma 0 --no-translate --color-jitter 0`), so
they do the reference's work: their ratio to the reference at the same precision is the loop's overhead.

Reference: written the way pytorch/examples dcgan/main.py is (nn.BCELoss on a sigmoid output,
optimizerD/optimizerG Adam(2e-4, betas=(0.5, 0.999)), D on real then on fake.detach(), then the G
step on the same fake), with the very same G and D modules (gan_core.dcgan), batch 64, 64 px, the
data a tensor of crops in memory, float32; variants with fused Adam, channels-last and bf16
autocast show what each change is worth on its own. Variants are interleaved round by round;
medians are compared.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MATERIAL_EXEMPLAR, RGB_EXEMPLAR, WORK, load_avg, median, now, save_json  # noqa: E402

BATCH = int(os.environ.get("TEXGAN_BENCH_BATCH", "64"))   # the example's batch; smaller only for smoke tests
SIZE = 64


# ------------------------------------------------------------------------------------------ variants

def variant_builders(fused: bool = False, channels_last: bool = False, plain_upsampling: bool = False):
    """What the lead could change in gan_core, passed to the trainer as its Builders option:
    fused Adam (torch.optim.Adam(fused=True)), channels-last G/D (module memory format), and
    G's upsampling levels as nearest upsampling + conv in training too (what export runs)."""
    import torch
    from gan_core.train import Builders, build_models, make_optimizer

    def models(*a, **k):
        G, D = build_models(*a, **k)
        if channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        if plain_upsampling:
            G.transposed_upsampling = False
        return G, D

    def optimizer(cfg, params, which):
        opt = make_optimizer(cfg, params, which)
        if fused and type(opt) is torch.optim.Adam:  # the same groups and settings, fused kernel
            opt = torch.optim.Adam([{k: v for k, v in g.items() if k != "fused"} for g in opt.param_groups],
                                   fused=True)
        return opt

    return Builders(models=models, optimizer=optimizer)


# ------------------------------------------------------------------------------------------ texgan side

def texgan_rate(cfg_kw: dict, warm_steps: int, timed_steps: int, fused=False, channels_last=False,
                plain_upsampling=False) -> dict:
    """Run gan_core.train.train for warm_steps + timed_steps; images/s and steps/s of the timed
    steps, from the run's own log (log_every divides both)."""
    from gan_core.config import TrainConfig
    from gan_core.train import train
    tmp = Path(tempfile.mkdtemp(prefix="texgan-bench-", dir=WORK))
    try:
        steps = warm_steps + timed_steps
        cfg = TrainConfig(out=str(tmp / "run"), steps=steps, log_every=warm_steps, sample_every=10 ** 9,
                          checkpoint_every=10 ** 9, device="cpu", seed=0, **cfg_kw)
        assert timed_steps % warm_steps == 0
        train(cfg, show_progress=False, builders=variant_builders(fused, channels_last, plain_upsampling))
        with (tmp / "run" / "log.csv").open() as f:
            rows = {int(r["step"]): float(r["seconds"]) for r in csv.DictReader(f)}
        secs = rows[steps] - rows[warm_steps]
        return {"seconds": secs, "steps": timed_steps, "images_per_s": cfg.batch * timed_steps / secs,
                "steps_per_s": timed_steps / secs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------ reference loop

def crop_bank(n: int, generator) -> "torch.Tensor":
    """n random wrap-around 64x64 crops of the RGB exemplar in [-1, 1], one tensor in memory."""
    import torch
    from gan_core.data import load_exemplars
    im = load_exemplars(RGB_EXEMPLAR).images[0]
    _, h, w = im.shape
    ys = torch.randint(h, (n,), generator=generator)
    xs = torch.randint(w, (n,), generator=generator)
    ar = torch.arange(SIZE)
    rows = (ys[:, None] + ar) % h            # [n, S]
    cols = (xs[:, None] + ar) % w
    return im[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3).contiguous()  # [n, 3, S, S]


class ReferenceDCGAN:
    """pytorch/examples dcgan/main.py's training iteration, same G and D as gan_core.dcgan."""

    def __init__(self, data, fused=False, channels_last=False, bf16=False, seed=0):
        import torch
        from torch import nn
        from gan_core.dcgan import DCGANDiscriminator, DCGANDiscriminatorSpec, DCGANGenerator, DCGANSpec
        torch.manual_seed(seed)
        self.nz = 100
        self.netG = DCGANGenerator(DCGANSpec(self.nz, 3, 64))
        d = DCGANDiscriminator(DCGANDiscriminatorSpec(3, 64, False))
        self.netD = nn.Sequential(d.features, d.head, nn.Sigmoid())   # the example's D ends in Sigmoid
        self.channels_last = channels_last
        self.bf16 = bf16   # torch.autocast("cpu", bfloat16) around the forward passes; losses in float32
        if channels_last:
            self.netG = self.netG.to(memory_format=torch.channels_last)
            self.netD = self.netD.to(memory_format=torch.channels_last)
        self.criterion = nn.BCELoss()
        kw = {"fused": True} if fused else {}
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999), **kw)
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999), **kw)
        self.data = data
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.i = 0

    def batches(self):
        import torch
        n = self.data.shape[0]
        while True:
            perm = torch.randperm(n, generator=self.gen)
            for k in range(0, n - BATCH + 1, BATCH):
                yield self.data[perm[k:k + BATCH]]

    def steps(self, k: int) -> float:
        import torch
        if not hasattr(self, "_it"):
            self._it = self.batches()
        real_label, fake_label = 1.0, 0.0

        def fwd(net, x):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                return net(x).float()

        t0 = now()
        for _ in range(k):
            real_cpu = next(self._it)
            if self.channels_last:
                real_cpu = real_cpu.contiguous(memory_format=torch.channels_last)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            self.netD.zero_grad()
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
            output = fwd(self.netD, real_cpu).view(-1)
            errD_real = self.criterion(output, label)
            errD_real.backward()
            noise = torch.randn(batch_size, self.nz, 1, 1)
            fake = fwd(self.netG, noise)
            label.fill_(fake_label)
            output = fwd(self.netD, fake.detach()).view(-1)
            errD_fake = self.criterion(output, label)
            errD_fake.backward()
            self.optimizerD.step()
            # (2) Update G network: maximize log(D(G(z)))
            self.netG.zero_grad()
            label.fill_(real_label)
            output = fwd(self.netD, fake).view(-1)
            errG = self.criterion(output, label)
            errG.backward()
            self.optimizerG.step()
            errD_real.item(), errG.item()   # the example prints the losses every iteration
        return now() - t0


def dcgan_macs() -> dict:
    """Forward MACs per image of the DCGAN G and D (base 64), from the module shapes."""
    import torch
    from torch import nn
    from gan_core.dcgan import DCGANDiscriminator, DCGANDiscriminatorSpec, DCGANGenerator, DCGANSpec
    G, D = DCGANGenerator(DCGANSpec(100, 3, 64)), DCGANDiscriminator(DCGANDiscriminatorSpec(3, 64, False))
    total = {"n": 0}

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, nn.ConvTranspose2d):   # every input element scatters into cout*k*k outputs
            total["n"] += inp[0][0].numel() * mod.out_channels * k // mod.groups
        else:
            total["n"] += out[0].numel() * mod.in_channels * k // mod.groups

    out = {}
    for name, net, x in (("G", G, torch.zeros(1, 100, 1, 1)), ("D", D, torch.zeros(1, 3, 64, 64))):
        total["n"] = 0
        hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        with torch.no_grad():
            net.eval()(x)
        for h in hs:
            h.remove()
        out[name] = total["n"]
    g, d = out["G"], out["D"]
    # backward ~ 2x forward. Reference per image: G fwd+bwd (3G), D fwd x3 + bwd x3 (9D).
    # texgan reuses the D step's fake for G (as the reference does) and adds, every r1_every-th step,
    # R1: D fwd + double backward (~5D) on a separate real batch.
    from gan_core.config import TrainConfig
    ref = 3 * g + 9 * d
    extra = 5 * d / TrainConfig().r1_every
    return {"G_macs": g, "D_macs": d, "ref_macs_per_image": ref, "texgan_extra_macs_per_image": extra,
            "predicted_ratio": ref / (ref + extra)}


# ------------------------------------------------------------------------------------------ data path micro-bench

def data_path(reps: int) -> dict:
    """Per-step data cost in texgan: CropSampler.batch (one crop at a time) and augment (per-sample
    roll) vs. vectorised equivalents (one gather for the batch), at batch 64 and batch 8."""
    import torch
    from gan_core.data import CropSampler, augment, load_exemplars
    ex = load_exemplars(MATERIAL_EXEMPLAR)
    out = {}
    for b in (8, 64):
        g = torch.Generator().manual_seed(0)
        sampler = CropSampler(ex, SIZE, torch.device("cpu"), True, False, g)
        im = sampler.images[0]
        _, h, w = im.shape
        ar = torch.arange(SIZE)

        def vec_batch():
            ys = torch.randint(h, (b,), generator=g)
            xs = torch.randint(w, (b,), generator=g)
            rows = (ys[:, None] + ar) % h
            cols = (xs[:, None] + ar) % w
            return im[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)

        x = sampler.batch(b)

        def vec_roll():
            s = torch.randint(0, SIZE * SIZE, (b,), generator=g)
            dy, dx = (s // SIZE)[:, None], (s % SIZE)[:, None]
            rows = (ar[None] - dy) % SIZE
            cols = (ar[None] - dx) % SIZE
            return x[torch.arange(b)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
                     rows[:, None, :, None], cols[:, None, None, :]]

        def timeit(fn):
            fn()
            ts = []
            for _ in range(reps):
                t0 = now()
                fn()
                ts.append(now() - t0)
            return median(ts) * 1e3

        out[str(b)] = {"crop_loop_ms": timeit(lambda: sampler.batch(b)), "crop_vectorised_ms": timeit(vec_batch),
                  "augment_ms": timeit(lambda: augment(x, True, 0.05, 3, g)),
                  "roll_loop_ms": timeit(lambda: augment(x, True, 0.0, 3, g)), "roll_vectorised_ms": timeit(vec_roll)}
    return out


# ------------------------------------------------------------------------------------------ main

def run(quick: bool = False, log=print) -> dict:
    import torch
    WORK.mkdir(parents=True, exist_ok=True)
    res: dict = {"quick": quick, "batch": BATCH, "size": SIZE, "torch_threads": torch.get_num_threads(),
                 "load_avg_start": load_avg()}
    data = crop_bank(1024, torch.Generator().manual_seed(0))
    dc_kw = dict(data=str(RGB_EXEMPLAR), arch="dcgan", loss="nonsat", batch=BATCH, size=SIZE)
    # The timed window must hold whole R1 periods (one R1 every r1_every steps) or it leaves R1's cost out.
    warm, timed = (2, 2) if quick else (4, 16)
    reps = 1 if quick else 3
    ref_steps = 2 if quick else 8

    refs = {"ref": ReferenceDCGAN(data), "ref_fused": ReferenceDCGAN(data, fused=True),
            "ref_cl": ReferenceDCGAN(data, channels_last=True), "ref_bf16": ReferenceDCGAN(data, bf16=True)}
    variants = {
        "texgan": lambda: texgan_rate(dc_kw, warm, timed),                        # amp on: bf16 where native
        "ref": lambda: refs["ref"].steps(ref_steps),
        "texgan_fp32": lambda: texgan_rate(dict(dc_kw, amp=False), warm, timed),  # texgan train --no-amp
        # The reference's work only (no R1, no augmentation), at each precision: what the loop itself costs.
        "texgan_same_work": lambda: texgan_rate(dict(dc_kw, r1_gamma=0, translate=False, color_jitter=0), warm, timed),
        "texgan_same_work_fp32": lambda: texgan_rate(dict(dc_kw, r1_gamma=0, translate=False, color_jitter=0, amp=False),
                                                     warm, timed),
        "ref_fused": lambda: refs["ref_fused"].steps(ref_steps),
        "ref_cl": lambda: refs["ref_cl"].steps(ref_steps),
        "ref_bf16": lambda: refs["ref_bf16"].steps(ref_steps),
    }
    for r in refs.values():   # warm-up: first iterations pay oneDNN kernel creation
        r.steps(1)
    raw = {k: [] for k in variants}
    for rnd in range(reps):
        names = list(variants)
        names = names[rnd % len(names):] + names[:rnd % len(names)]
        for n in names:
            v = variants[n]()
            raw[n].append(BATCH * ref_steps / v if n.startswith("ref") else v["images_per_s"])
        log(f"train: round {rnd + 1}/{reps}: " + ", ".join(f"{k} {raw[k][-1]:.1f} img/s" for k in raw))
    ips = {k: median(v) for k, v in raw.items()}
    from gan_core.train import autocast_dtype
    amp = autocast_dtype(torch.device("cpu"))
    res["amp_dtype_cpu"] = str(amp).replace("torch.", "") if amp else "none (float32)"
    res["dcgan"] = {"images_per_s": ips, "all": raw, "timed_steps_texgan": timed, "timed_steps_ref": ref_steps,
                    "reps": reps, "ratio_texgan_over_ref": ips["texgan"] / ips["ref"],
                    "ratio_texgan_fp32_over_ref": ips["texgan_fp32"] / ips["ref"],
                    # Loop overhead at the same precision: bf16 against the bf16 reference, float32 against float32.
                    "loop_ratio_bf16": ips["texgan_same_work"] / ips["ref_bf16"],
                    "loop_ratio_fp32": ips["texgan_same_work_fp32"] / ips["ref"],
                    "full_ratio_bf16": ips["texgan"] / ips["ref_bf16"],
                    "fused_gain_ref": ips["ref_fused"] / ips["ref"], "channels_last_gain_ref": ips["ref_cl"] / ips["ref"],
                    "bf16_gain_ref": ips["ref_bf16"] / ips["ref"], "amp_gain_texgan": ips["texgan"] / ips["texgan_fp32"]}
    log(f"train: dcgan texgan/ref = {res['dcgan']['ratio_texgan_over_ref']:.2f}")

    # default tileable config (TrainConfig() defaults: WGAN-GP, 5 critic steps, batch 8) on bricks
    from gan_core.config import TrainConfig
    d = TrainConfig()
    tex_kw = dict(data=str(MATERIAL_EXEMPLAR))
    warm_t, timed_t = (2, 2) if quick else (10, 40)
    tv = {"default": lambda: texgan_rate(tex_kw, warm_t, timed_t),
          "fp32": lambda: texgan_rate(dict(tex_kw, amp=False), warm_t, timed_t),
          "fused": lambda: texgan_rate(tex_kw, warm_t, timed_t, fused=True),
          "channels_last": lambda: texgan_rate(tex_kw, warm_t, timed_t, channels_last=True),
          "plain_upsampling": lambda: texgan_rate(tex_kw, warm_t, timed_t, plain_upsampling=True)}
    if quick:
        tv = {"default": tv["default"]}
    traw = {k: [] for k in tv}
    for rnd in range(1 if quick else 2):
        names = list(tv)
        names = names[rnd % len(names):] + names[:rnd % len(names)]
        for n in names:
            traw[n].append(tv[n]()["steps_per_s"])
    sps = {k: median(v) for k, v in traw.items()}
    res["tileable"] = {"steps_per_s": sps, "all": traw, "timed_steps": timed_t, "batch": d.batch, "loss": d.validate().loss,
                       "d_padding": d.d_padding,   # resolved by validate(): auto -> valid at 64 px
                       "n_critic": d.resolved_n_critic(), "g_widths": list(d.g_widths), "d_widths": list(d.d_widths),
                       "images_per_s": {k: v * d.batch for k, v in sps.items()}}
    log("train: tileable default " + ", ".join(f"{k} {v:.2f} steps/s" for k, v in sps.items()))

    res["data_path"] = data_path(5 if quick else 20)
    res["dcgan_macs"] = dcgan_macs()
    res["load_avg_end"] = load_avg()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(WORK / "train_speed.json"))
    a = ap.parse_args(argv)
    save_json(Path(a.out), run(a.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
