"""Reference MR signals by simulating the pulse events until steady state (numpy).

Independent of medsynth's closed forms: no formula is shared, only the sequence definitions of
docs/physics.md (which pulse happens when). Reads one case per line from stdin:
  type tr te ti flip etl esp pd t1 t2 t2star
(type: se, gre, ir, flair, mprage; times in ms, flip in degrees) and prints one signal per line.
"""
import sys

import numpy as np


def relax(mz, t, t1):
    """Longitudinal recovery towards 1 over t ms."""
    return 1.0 - (1.0 - mz) * np.exp(-t / t1)


def steady(step, mz=1.0, tol=1e-14, max_cycles=1_000_000):
    """Runs step(mz) -> (mz, signal) until mz repeats; returns the last signal."""
    sig = 0.0
    for _ in range(max_cycles):
        new, sig = step(mz)
        if abs(new - mz) < tol:
            return sig
        mz = new
    raise RuntimeError("no steady state")


def spin_echo(tr, te, t1, t2):
    def cycle(mz):
        sig = abs(mz)          # 90: all of Mz tipped into the transverse plane
        mz = relax(0.0, te / 2, t1)
        mz = -mz               # 180 at TE/2
        mz = relax(mz, tr - te / 2, t1)
        return mz, sig * np.exp(-te / t2)
    return steady(cycle)


def gradient_echo(tr, te, flip, t1, t2s):
    a = np.deg2rad(flip)

    def cycle(mz):
        sig = abs(mz) * np.sin(a)
        mz = relax(mz * np.cos(a), tr, t1)  # transverse part spoiled
        return mz, sig * np.exp(-te / t2s)
    return steady(cycle)


def inversion_recovery(tr, te, ti, t1, t2):
    def cycle(mz):
        mz = relax(-mz, ti, t1)  # 180 at 0
        sig = abs(mz)            # 90 at TI
        mz = relax(0.0, te / 2, t1)
        mz = relax(-mz, tr - ti - te / 2, t1)  # 180 at TI + TE/2
        return mz, sig * np.exp(-te / t2)
    return steady(cycle)


def mprage(tr, te, ti, flip, etl, esp, t1, t2s):
    a = np.deg2rad(flip)
    centre = etl // 2
    ta = ti - centre * esp
    td = tr - ta - etl * esp

    def cycle(mz):
        mz = relax(-mz, ta, t1)
        sig = 0.0
        for n in range(etl):
            if n == centre:
                sig = abs(mz) * np.sin(a)
            mz = relax(mz * np.cos(a), esp, t1)
        mz = relax(mz, td, t1)
        return mz, sig * np.exp(-te / t2s)
    return steady(cycle)


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        f = line.split()
        kind = f[0]
        tr, te, ti, flip = (float(x) for x in f[1:5])
        etl, esp = int(f[5]), float(f[6])
        pd, t1, t2, t2s = (float(x) for x in f[7:11])
        if kind == "se":
            s = spin_echo(tr, te, t1, t2)
        elif kind == "gre":
            s = gradient_echo(tr, te, flip, t1, t2s)
        elif kind in ("ir", "flair"):
            s = inversion_recovery(tr, te, ti, t1, t2)
        elif kind == "mprage":
            s = mprage(tr, te, ti, flip, etl, esp, t1, t2s)
        else:
            raise SystemExit("unknown sequence " + kind)
        print(repr(float(pd * s)))


if __name__ == "__main__":
    main()
