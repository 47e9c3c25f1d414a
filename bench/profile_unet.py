#!/usr/bin/env python3
"""What dominates a training step of bench_unet's U-Net (bench/unet_reference.py, the same layers
as medsynth's) at SIZE x SIZE: torch's autograd profiler, self CPU time by operator, for fp32,
bfloat16 autocast and channels-last memory format. Prints a table per variant and, per variant,
the step time and the share of convolutions (forward and backward), GroupNorm, elementwise
work and the optimiser.

usage: /usr/bin/python3 profile_unet.py [SIZE] [BATCH] [STEPS] [THREADS]   (defaults 128 8 3 2)
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_reference import UNet  # noqa: E402

GROUPS = {
    "convolution": ("conv", "mkldnn_convolution", "convolution_backward"),
    "group norm": ("group_norm", "native_group_norm"),
    "matmul/linear": ("mm", "addmm", "bmm", "linear"),
    "optimiser": ("_foreach", "addcdiv", "addcmul", "lerp", "sqrt", "norm", "clamp"),
}


def group_of(name):
    n = name.replace("aten::", "")
    for g, keys in GROUPS.items():
        if any(n.startswith(k) for k in keys):
            return g
    return "other (elementwise, copies, cat, upsample)"


def run(size, batch, steps, threads, variant):
    torch.manual_seed(0)
    net = UNet([32, 64, 128], 2, 1, 8, 6, 1)
    fmt = torch.channels_last if variant == "channels-last" else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=0.0)
    x0 = (torch.rand(batch, 1, size, size) * 2 - 1)
    cond = torch.zeros(batch, 5, size, size)
    ab = torch.linspace(0.999, 0.01, 1000)
    bf16 = variant == "bf16"

    def step():
        t = torch.randint(0, 1000, (batch,))
        noise = torch.randn_like(x0)
        a = ab[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(torch.cat([xt, cond], 1).contiguous(memory_format=fmt), t)
        loss = F.mse_loss(out.float(), a.sqrt() * noise - (1 - a).sqrt() * x0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    ev = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ev)
    shares = {}
    for e in ev:
        shares[group_of(e.key)] = shares.get(group_of(e.key), 0) + e.self_cpu_time_total
    print(f"\n== {variant}: {size}x{size} batch {batch}, {threads} threads: {seconds:.3f} s/step "
          f"(profiled step {total / 1e6:.3f} s self CPU)")
    for g, v in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {g:45s} {100 * v / total:5.1f}%")
    print(ev.table(sort_by="self_cpu_time_total", row_limit=12))
    return seconds


def main():
    size, batch, steps, threads = (int(a) for a in (sys.argv[1:5] + ["128", "8", "3", "2"][len(sys.argv[1:5]):]))
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"oneDNN {torch.backends.mkldnn.is_available()}")
    s = {v: run(size, batch, steps, threads, v) for v in ("fp32", "channels-last", "bf16")}
    print(f"\nchannels-last / fp32: {s['channels-last'] / s['fp32']:.2f}; bf16 / fp32: {s['bf16'] / s['fp32']:.2f}")


if __name__ == "__main__":
    main()
