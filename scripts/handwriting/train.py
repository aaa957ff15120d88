"""Train the handwriting recogniser (extractors/handwriting.py) with JAX.

    cd scripts/handwriting
    bash fonts.sh                                  # the typefaces (npm), into .fonts
    pip install jax optax fonttools                # training only
    python train.py lines 100000 /tmp/hand         # ~7 min on 2 cores
    python train.py fit /tmp/hand 7000 ../../extractors/data/handwriting.npz
    python train.py check ../../extractors/data/handwriting.npz \
        ../../tests/data/handwriting_forward.npz
    cd ../.. && python -m bench.handwriting_lines --split both

``lines`` draws the training lines (``lines.py``); ``fit`` trains the
network (the shape ``extractors/handwriting.py`` reads, mirrored here in
JAX; 7000 steps took 58 min on 2 cores) and writes the weights; ``check``
stores one drawn line and its logits from this JAX network, which
``tests/test_handwriting.py`` compares with the NumPy forward pass.
"""

from __future__ import annotations

import pickle
import random
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lines

CONV = ((1, 16), (16, 32), (32, 64), (64, 64))
POOL = ((2, 2), (2, 2), (2, 1), (2, 1))
HID = 96
NCLASS = len(lines.CHARSET) + 1


def init(seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    p: dict[str, np.ndarray] = {}
    for i, (ci, co) in enumerate(CONV):
        p[f"conv{i}.w"] = (r.normal(0, np.sqrt(2 / (9 * ci)), (3, 3, ci, co))).astype(np.float32)
        p[f"conv{i}.b"] = np.zeros(co, np.float32)
    feat = CONV[-1][1] * (lines.HEIGHT // 16)
    for layer, nin in ((0, feat), (1, 2 * HID)):
        for d in ("f", "b"):
            k = 1 / np.sqrt(HID)
            p[f"lstm{layer}{d}.wx"] = r.uniform(-k, k, (nin, 4 * HID)).astype(np.float32)
            p[f"lstm{layer}{d}.wh"] = r.uniform(-k, k, (HID, 4 * HID)).astype(np.float32)
            b = np.zeros(4 * HID, np.float32)
            b[HID:2 * HID] = 1.0  # forget gate
            p[f"lstm{layer}{d}.b"] = b
    p["out.w"] = r.normal(0, np.sqrt(1 / (2 * HID)), (2 * HID, NCLASS)).astype(np.float32)
    p["out.b"] = np.zeros(NCLASS, np.float32)
    return p


def _lstm(p, prefix, x, reverse):
    # x: (B, T, N)
    xs = x @ p[prefix + ".wx"] + p[prefix + ".b"]
    xs = jnp.swapaxes(xs, 0, 1)  # T, B, 4H
    if reverse:
        xs = xs[::-1]
    batch = x.shape[0]

    def step(carry, g):
        h, c = carry
        g = g + h @ p[prefix + ".wh"]
        i, f, gg, o = jnp.split(g, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    z = jnp.zeros((batch, HID), x.dtype)
    _, hs = jax.lax.scan(step, (z, z), xs)
    if reverse:
        hs = hs[::-1]
    return jnp.swapaxes(hs, 0, 1)


def forward(p, x):
    """x: (B, H, W) ink in [0, 1] -> logits (B, W/4, NCLASS)."""
    h = x[..., None]
    for i, (ph, pw) in enumerate(POOL):
        h = jax.lax.conv_general_dilated(h, p[f"conv{i}.w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h + p[f"conv{i}.b"])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, ph, pw, 1), (1, ph, pw, 1),
                                  "VALID")
    batch, rows, frames, channels = h.shape
    seq = jnp.transpose(h, (0, 2, 1, 3)).reshape(batch, frames, rows * channels)
    for layer in (0, 1):
        seq = jnp.concatenate([_lstm(p, f"lstm{layer}f", seq, False),
                               _lstm(p, f"lstm{layer}b", seq, True)], axis=-1)
    return seq @ p["out.w"] + p["out.b"]


def loss_fn(p, x, logit_pad, lab, lab_pad):
    logits = forward(p, x)
    return jnp.mean(optax.ctc_loss(logits, logit_pad, lab, lab_pad))


@jax.jit
def train_step(p, opt_state, x, logit_pad, lab, lab_pad):
    loss, g = jax.value_and_grad(loss_fn)(p, x, logit_pad, lab, lab_pad)
    updates, opt_state = OPT.update(g, opt_state, p)
    p = optax.apply_updates(p, updates)
    return p, opt_state, loss


BUCKETS = (192, 384, 576, 768)
MAXLAB = 64
SCHED = optax.warmup_cosine_decay_schedule(1e-4, 2e-3, 300, 7000, 5e-5)
OPT = optax.chain(optax.clip_by_global_norm(5.0), optax.adam(SCHED))


def batches(imgs, widths, texts, bs, rng):
    order = rng.permutation(len(texts))
    by = {b: [] for b in BUCKETS}
    for i in order:
        b = next(b for b in BUCKETS if widths[i] + 8 <= b or b == BUCKETS[-1])
        by[b].append(i)
        if len(by[b]) == bs:
            idx = by[b]
            by[b] = []
            x = imgs[idx, :, :b].astype(np.float32) / 255.0
            lp = np.zeros((bs, b // 4), np.float32)  # no frame is padding: paper reads blank
            lab = np.zeros((bs, MAXLAB), np.int32)
            lpad = np.ones((bs, MAXLAB), np.float32)
            for k, j in enumerate(idx):
                ls = lines.labels(texts[j])[:MAXLAB]
                lab[k, :len(ls)] = ls
                lpad[k, :len(ls)] = 0
            yield x, lp, lab, lpad




def _draw(args: tuple[int, int]) -> tuple[np.ndarray, list[int], list[str]]:
    seed, n = args
    rng = random.Random(seed)
    imgs = np.zeros((n, lines.HEIGHT, lines.WIDTH), np.uint8)
    widths, texts = [], []
    for i in range(n):
        img, s = lines.sample(rng)
        imgs[i, :, :img.shape[1]] = (img * 255).astype(np.uint8)
        widths.append(img.shape[1])
        texts.append(s)
    return imgs, widths, texts


def draw_lines(total: int, out: str, *, first_seed: int = 1000, chunk: int = 2000) -> None:
    """``total`` training lines into ``out``.npy (pixels) and ``out``.pkl (widths, texts)."""
    with Pool(2) as pool:
        parts = pool.map(_draw, [(first_seed + k, chunk) for k in range(total // chunk)])
    np.save(out + ".npy", np.concatenate([a for a, _, _ in parts]))
    widths = [w for _, ws, _ in parts for w in ws]
    texts = [t for _, _, ts in parts for t in ts]
    with open(out + ".pkl", "wb") as fh:
        pickle.dump((widths, texts), fh)


def check(model: str, out: str) -> None:
    """One drawn line's logits from the JAX network, for the NumPy forward pass's test."""
    params = {k: jnp.asarray(v) for k, v in np.load(model).items()}
    img, _ = lines.sample(random.Random(7))
    logits = np.asarray(forward(params, img[None]))[0]
    np.savez_compressed(out, x=img.astype(np.float32), logits=logits.astype(np.float32))


def fit(data: str, steps: int, out: str) -> None:
    """Train for ``steps`` batches on the lines drawn into ``data``; weights to ``out``."""
    imgs = np.load(data + ".npy", mmap_mode="r")
    with open(data + ".pkl", "rb") as fh:
        widths, texts = pickle.load(fh)  # our own file, just written
    imgs = np.asarray(imgs)
    p = {k: jnp.asarray(v) for k, v in init().items()}
    opt_state = OPT.init(p)
    rng = np.random.default_rng(0)
    t0 = time.time()
    step = 0
    losses = []
    while step < steps:
        for x, lp, lab, lpad in batches(imgs, widths, texts, 32, rng):
            p, opt_state, loss = train_step(p, opt_state, x, lp, lab, lpad)
            losses.append(float(loss))
            step += 1
            if step % 100 == 0:
                print(f"step {step} loss {np.mean(losses[-100:]):.3f} "
                      f"{time.time() - t0:.0f}s", flush=True)
            if step % 1000 == 0 or step == steps:
                np.savez(out, **{k: np.asarray(v) for k, v in p.items()})
            if step >= steps:
                break
    np.savez(out, **{k: np.asarray(v) for k, v in p.items()})


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "lines":
        draw_lines(int(rest[0]), rest[1])
    elif command == "fit":
        fit(rest[0], int(rest[1]), rest[2])
    elif command == "check":
        check(rest[0], rest[1])
    else:
        sys.exit(__doc__)
