#!/usr/bin/env python3
"""How cost grows: training images/s, sampling seconds per slice and peak memory of the demo's
network (bench/bench_growth.cpp, one process per point) across grids (64, 128, 181x217 native,
256), batch sizes, and 1 process x 2 threads against 2 processes x 1 thread each on the same
cores. Writes a CSV and an SVG plot, and prints the fitted growth (log-log least squares: seconds
~ pixels^a at a fixed batch, seconds ~ batch^b at a fixed grid).

usage: bench_growth.py [--bench build/bench/bench_growth] [--out docs/images/cost-growth] [--steps N]
Not part of CI: a few minutes on 2 idle cores.
"""
import argparse
import csv
import math
import os
import subprocess
import sys
import time

GRIDS = [(64, 64), (128, 128), (181, 217), (256, 256)]
BATCHES = [2, 4, 8, 16]
FIELDS = ["mode", "width", "height", "batch", "threads", "seconds", "images_per_second", "peak_rss_mib",
          "gflop_per_image", "processes"]


def point(bench, mode, w, h, batch, steps, threads, processes=1):
    """Runs `processes` copies at once (threads each); returns the row with the summed throughput."""
    cmd = [bench, "--mode", mode, "--width", str(w), "--height", str(h), "--batch", str(batch),
           "--steps", str(steps), "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(processes)]
    rows = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"bench_growth.py: {' '.join(cmd)} failed: {err.strip()}")
        rows.append(dict(zip(FIELDS, out.strip().split(","))))
    r = dict(rows[0])
    r["seconds"] = max(float(x["seconds"]) for x in rows)           # the slower process's step
    r["images_per_second"] = sum(float(x["images_per_second"]) for x in rows)
    r["peak_rss_mib"] = sum(float(x["peak_rss_mib"]) for x in rows)  # both processes' memory
    r["processes"] = processes
    print(",".join(str(r[f]) for f in FIELDS), flush=True)
    return r


def fit(xs, ys):
    """Slope and intercept of log y = a log x + c (least squares)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    n = len(lx)
    mx, my = sum(lx) / n, sum(ly) / n
    a = sum((u - mx) * (v - my) for u, v in zip(lx, ly)) / sum((u - mx) ** 2 for u in lx)
    return a, my - a * mx


def svg(rows, path, fits):
    """Three small log-log panels: training images/s and sampling s/slice against pixels (batch 8),
    peak memory against pixels; markers for 1 and 2 processes at 128x128."""
    W, H, P = 300, 220, 46
    panels = [("training images/s", "train", "images_per_second"),
              ("sampling s/slice", "sample", "per_slice"),
              ("peak memory (MiB), training", "train", "peak_rss_mib")]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * 3}" height="{H + 30}" font-family="sans-serif" font-size="11">']
    colours = {2: "#1f77b4", 4: "#2ca02c", 8: "#d62728", 16: "#9467bd"}
    for i, (title, mode, key) in enumerate(panels):
        x0 = i * W
        pts = [r for r in rows if r["mode"] == mode and r["processes"] == 1]
        val = lambda r: float(r["seconds"]) / int(r["batch"]) if key == "per_slice" else float(r[key])
        px = lambda r: int(r["width"]) * int(r["height"])
        xs = [px(r) for r in pts]
        ys = [val(r) for r in pts]
        lxmin, lxmax = math.log(min(xs)) - 0.2, math.log(max(xs)) + 0.2
        lymin, lymax = math.log(min(ys)) - 0.2, math.log(max(ys)) + 0.2
        sx = lambda v: x0 + P + (math.log(v) - lxmin) / (lxmax - lxmin) * (W - P - 10)
        sy = lambda v: H - P + 20 - (math.log(v) - lymin) / (lymax - lymin) * (H - P - 10)
        out.append(f'<rect x="{x0 + P}" y="10" width="{W - P - 10}" height="{H - P - 10}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{x0 + P}" y="{H + 12}">{title} vs pixels (log-log)</text>')
        for g in sorted({px(r) for r in pts}):
            out.append(f'<text x="{sx(g) - 12:.1f}" y="{H - P + 34}">{int(round(math.sqrt(g)))}²</text>')
        for v in (min(ys), max(ys)):
            out.append(f'<text x="{x0 + 2}" y="{sy(v) + 4:.1f}">{v:.3g}</text>')
        for b, c in colours.items():
            line = sorted((px(r), val(r)) for r in pts if int(r["batch"]) == b)
            if len(line) > 1:
                d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
                out.append(f'<polyline points="{d}" fill="none" stroke="{c}"/>')
            for x, y in line:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{c}"/>')
        two = [r for r in rows if r["mode"] == mode and r["processes"] == 2]
        for r in two:
            out.append(f'<rect x="{sx(px(r)) - 3:.1f}" y="{sy(val(r)) - 3:.1f}" width="6" height="6" fill="none" stroke="#000"/>')
        if i == 0:
            for j, (b, c) in enumerate(colours.items()):
                out.append(f'<text x="{x0 + P + 8}" y="{26 + 12 * j}" fill="{c}">batch {b}</text>')
            out.append(f'<text x="{x0 + P + 8}" y="{26 + 12 * 4}">□ 2 processes x 1 thread</text>')
        out.append(f'<text x="{x0 + W - 150}" y="24">{fits[i]}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "bench_growth"))
    ap.add_argument("--out", default=os.path.join(here, "..", "docs", "images", "cost-growth"))
    ap.add_argument("--steps", type=int, default=2)
    a = ap.parse_args()
    t0 = time.time()
    cores = os.cpu_count() or 2
    rows = []
    print(",".join(FIELDS))
    for mode in ("train", "sample"):
        for w, h in GRIDS:
            for b in (4, 8) if (w, h) != (128, 128) else BATCHES:
                rows.append(point(a.bench, mode, w, h, b, a.steps, cores))
        rows.append(point(a.bench, mode, 128, 128, 8, a.steps, max(1, cores // 2), processes=2))
    with open(a.out + ".csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=FIELDS)
        wr.writeheader()
        wr.writerows(rows)
    one = [r for r in rows if r["processes"] == 1]
    px = lambda r: int(r["width"]) * int(r["height"])
    texts = []
    for mode, key in (("train", "seconds"), ("sample", "seconds"), ("train", "peak_rss_mib")):
        pts = [r for r in one if r["mode"] == mode and int(r["batch"]) == 8]
        s, _ = fit([px(r) for r in pts], [float(r[key]) for r in pts])
        print(f"{mode} {key} ~ pixels^{s:.2f} (batch 8)")
        texts.append(f"~ pixels^{(-s if key == 'seconds' and mode == 'train' else s):.2f}")
    for mode in ("train", "sample"):
        pts = [r for r in one if r["mode"] == mode and (r["width"], r["height"]) == ("128", "128")]
        s, _ = fit([int(r["batch"]) for r in pts], [float(r["seconds"]) for r in pts])
        print(f"{mode} seconds ~ batch^{s:.2f} (128x128)")
    for mode in ("train", "sample"):
        one_p = next(r for r in one if r["mode"] == mode and (r["width"], r["height"], r["batch"]) == ("128", "128", "8"))
        two_p = next(r for r in rows if r["mode"] == mode and r["processes"] == 2)
        print(f"{mode} 128x128 batch 8: 2 processes x 1 thread / 1 process x {cores} threads, images/s: "
              f"{float(two_p['images_per_second']) / float(one_p['images_per_second']):.2f}")
    svg(rows, a.out + ".svg", texts)
    print(f"wrote {a.out}.csv and {a.out}.svg in {time.time() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
