#!/usr/bin/env python3
"""The U-Net of medsynth's modules/nn (same layers and sizes) in Python PyTorch, trained the same
way (v-prediction MSE, AdamW), for bench_unet's speed ratio. Prints one JSON line.

usage: /usr/bin/python3 unet_reference.py SIZE BATCH STEPS THREADS [CHANNELS]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.embed = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(F.silu(e))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class Attention(nn.Module):
    def __init__(self, ch, groups, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        self.heads = heads

    def forward(self, x):
        B, C, H, W = x.shape
        d = C // self.heads
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, d, H * W).unbind(1)
        attn = torch.softmax(q.transpose(-1, -2) @ k / math.sqrt(d), -1)
        h = (attn @ v.transpose(-1, -2)).transpose(-1, -2).reshape(B, C, H, W)
        return x + self.out(h)


class UNet(nn.Module):
    def __init__(self, channels, res_blocks, attention_levels, groups, cin, cout):
        super().__init__()
        base = channels[0]
        E = 4 * base
        self.base = base
        self.time1, self.time2 = nn.Linear(base, E), nn.Linear(E, E)
        self.in_conv = nn.Conv2d(cin, base, 3, padding=1)
        L = len(channels)
        self.down, self.down_attn, self.downs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        skips, ch = [base], base
        for l in range(L):
            attn = l >= L - attention_levels
            for _ in range(res_blocks):
                self.down.append(ResBlock(ch, channels[l], E, groups))
                ch = channels[l]
                self.down_attn.append(Attention(ch, groups) if attn else nn.Identity())
                skips.append(ch)
            if l + 1 < L:
                self.downs.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid1, self.mid_attn, self.mid2 = ResBlock(ch, ch, E, groups), Attention(ch, groups), ResBlock(ch, ch, E, groups)
        self.up, self.up_attn, self.ups = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for l in reversed(range(L)):
            attn = l >= L - attention_levels
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), channels[l], E, groups))
                ch = channels[l]
                self.up_attn.append(Attention(ch, groups) if attn else nn.Identity())
            if l > 0:
                self.ups.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.out_norm = nn.GroupNorm(groups, ch)
        self.out_conv = nn.Conv2d(ch, cout, 3, padding=1)
        self.L, self.rb = L, res_blocks

    def forward(self, x, t):
        e = self.time2(F.silu(self.time1(sinusoidal(t, self.base))))
        h = self.in_conv(x)
        skips = [h]
        b = 0
        for l in range(self.L):
            for _ in range(self.rb):
                h = self.down_attn[b](self.down[b](h, e))
                skips.append(h)
                b += 1
            if l + 1 < self.L:
                h = self.downs[l](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
        b, u = 0, 0
        for l in reversed(range(self.L)):
            for _ in range(self.rb + 1):
                h = self.up_attn[b](self.up[b](torch.cat([h, skips.pop()], 1), e))
                b += 1
            if l > 0:
                h = self.ups[u](F.interpolate(h, scale_factor=2.0, mode="nearest"))
                u += 1
        return self.out_conv(F.silu(self.out_norm(h)))


def main():
    size, batch, steps, threads = (int(a) for a in sys.argv[1:5])
    channels = [int(c) for c in (sys.argv[5] if len(sys.argv) > 5 else "32,64,128").split(",")]
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    label_classes = 4
    cin = 1 + label_classes + 1  # image + one-hot label map + presence flag, as medsynth's concat
    net = UNet(channels, 2, 1, 8, cin, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=0.0)
    x0 = torch.rand(batch, 1, size, size) * 2 - 1
    cond = torch.zeros(batch, label_classes + 1, size, size)
    ab = torch.linspace(0.999, 0.01, 1000)

    def step():
        t = torch.randint(0, 1000, (batch,))
        noise = torch.randn_like(x0)
        a = ab[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        out = net(torch.cat([xt, cond], 1), t)
        loss = F.mse_loss(out, a.sqrt() * noise - (1 - a).sqrt() * x0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    # FLOPs of one forward pass, counted by the profiler (convolutions and matrix products).
    with torch.profiler.profile(with_flops=True) as prof:
        with torch.no_grad():
            net(torch.cat([x0, cond], 1), torch.zeros(batch, dtype=torch.long))
    fwd_flops = sum(e.flops for e in prof.key_averages() if e.flops)
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"seconds_per_step": seconds, "images_per_second": batch / seconds,
                      "forward_flops": fwd_flops, "parameters": params}))


if __name__ == "__main__":
    main()
