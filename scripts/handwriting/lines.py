"""Synthetic lines of writing to train the handwriting recogniser on.

Each line is text drawn from the project's own tables (given names and
patronymics of the matching work, GeoNames places, the console's words),
dates, phone numbers, school numbers and random characters, drawn letter
by letter in one of twelve handwriting typefaces (four in five lines) or
four printed ones, with jitter, slant, stroke weight, resolution, blur,
contrast and noise drawn per line. SteveHand, the hand of the generated
forms the recogniser is measured on, is never used.
"""
from __future__ import annotations

import csv
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from extractors.handwriting import CHARSET, HEIGHT  # noqa: E402

FONTS = Path(os.environ.get("DXG_HAND_FONTS", Path(__file__).with_name(".fonts")))
WIDTH = 768  # training lines are at most this wide at HEIGHT
UK = CHARSET[:66]
RU = CHARSET[66:74]
LAT = CHARSET[74:126]
INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}  # 0 is the CTC blank

HAND = ["amatic-sc", "bad-script", "caveat", "comforter", "lobster", "marck-script", "marmelad",
        "neucha", "pacifico", "pangolin", "playpen-sans", "shantell-sans"]
PRINT = ["arimo", "tinos", "cousine", "philosopher"]


class Face:
    """One family's subsets, each char drawn from the first subset that has it."""

    def __init__(self, name: str, size: int) -> None:
        base = next(FONTS.glob(f"fontsource-{name}-*/package/files"))
        self.fonts = []
        for sub in ("cyrillic", "latin", "cyrillic-ext", "latin-ext"):
            p = base / f"{name}-{sub}-400-normal.woff"
            if p.exists():
                f = ImageFont.truetype(str(p), size)
                cmap = TTFont(str(p)).getBestCmap()
                self.fonts.append((f, set(cmap)))

    def font(self, ch: str):
        for f, cmap in self.fonts:
            if ord(ch) in cmap:
                return f
        return None


_FACES: dict[tuple[str, int], Face] = {}


def face(name: str, size: int) -> Face:
    key = (name, size)
    if key not in _FACES:
        _FACES[key] = Face(name, size)
    return _FACES[key]


def _tables():
    names = REPO / "gateway/protocol/names/data"
    given = []
    with open(names / "given_names.csv") as fh:
        for row in csv.DictReader(fh):
            given += [(row["sex"], n, lang) for lang in ("uk", "ru") for n in row[lang].split("|")]
    en = []
    with open(REPO / "extractors/data/english_given_names.csv") as fh:
        en = [r["name"] for r in csv.DictReader(fh)]
    places = []
    with open(REPO / "extractors/data/places.csv") as fh:
        for r in csv.DictReader(fh):
            if all(c in INDEX for c in r["name"]) and len(r["name"]) < 28:
                places.append(r["name"])
    words = []
    for lang in ("uk", "ru", "en"):
        with open(REPO / f"gateway/party/console/messages/{lang}.json") as fh:
            messages = json.load(fh)
        for v in messages.values():
            for raw in v.replace("{", " ").replace("}", " ").split():
                w = raw.strip(".,:;!?()«»\"")
                if w and all(c in INDEX for c in w):
                    words.append(w)
    return given, en, places, words


GIVEN, EN, PLACES, WORDS = _tables()
UK_STEMS = ["Бондар", "Коваль", "Шевч", "Ткач", "Кравч", "Мельн", "Олійн", "Лис", "Бойк", "Савч",
            "Руд", "Мороз", "Павл", "Гриц", "Тарас", "Куз", "Марч", "Клим", "Гонч", "Петр"]
UK_SUF = ["енко", "ук", "юк", "ик", "ич", "ак", "ський", "ська", "ов", "ова", "ин", "іна", "ець"]
MONTHS = {
    "uk": ["січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня",
           "вересня", "жовтня", "листопада", "грудня"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}


def _surname(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return rng.choice(UK_STEMS) + rng.choice(UK_SUF)
    if r < 0.7:
        return rng.choice(EN)
    n = rng.randint(4, 10)
    letters = UK + RU if rng.random() < 0.6 else LAT
    s = "".join(rng.choice(letters[len(letters) // 2:]) for _ in range(n))
    return s[0].upper() + s[1:]


def _given(rng: random.Random) -> str:
    return rng.choice(EN) if rng.random() < 0.3 else rng.choice(GIVEN)[1]


def _patronymic(rng: random.Random) -> str:
    g = [x for x in GIVEN if x[0] == "male"]
    _, name, lang = rng.choice(g)
    stem = name[:-1] if name[-1] in "йь" else name
    if lang == "uk":
        return stem + rng.choice(["ович", "івна", "овна", "ївна", "евич"])
    return stem + rng.choice(["ович", "овна", "евич", "евна"])


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1990, 2026), rng.randint(1, 12), rng.randint(1, 28)
    k = rng.randrange(5)
    if k == 0:
        return f"{d:02d}.{m:02d}.{y}"
    if k == 1:
        return f"{y}-{m:02d}-{d:02d}"
    if k == 2:
        return f"{d} {MONTHS[rng.choice(['uk', 'ru', 'en'])][m - 1]} {y}"
    if k == 3:
        return f"{d:02d}/{m:02d}/{y}"
    return f"{d}.{m}.{y}"


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"+380 {rng.randint(50, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    return (f"+7 {rng.randint(900, 999)} {rng.randint(100, 999)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}")


def text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.2:
        parts = [_surname(rng), _given(rng)]
        if rng.random() < 0.4:
            parts.append(_patronymic(rng))
        return " ".join(parts)
    if r < 0.3:
        return rng.choice([_surname(rng), _given(rng), _patronymic(rng)])
    if r < 0.45:
        return rng.choice(PLACES)
    if r < 0.57:
        return _date(rng)
    if r < 0.63:
        return _phone(rng)
    if r < 0.71:
        return f"{_surname(rng)} {_given(rng)}, {rng.choice(PLACES)}, {_phone(rng)}"
    if r < 0.83:
        n = rng.randint(1, 4)
        s = " ".join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.3:
            s += rng.choice([f" № {rng.randint(1, 150)}", f", {rng.randint(1, 11)} клас",
                             f" {rng.randint(1, 11)}", f", grade {rng.randint(1, 11)}"])
        return s
    if r < 0.93:
        n = rng.randint(1, 14)
        return "".join(rng.choice(CHARSET) for _ in range(n)).strip() or "А"
    return rng.choice(["ж", "ч", "м", "Ж", "Ч", "М", "F", "M", "жін.", "чол.", "жен.", "муж.",
                       "Female", "Male", "жіноча", "чоловіча", "женский", "мужской"])


def render(rng: random.Random, s: str, fontname: str | None = None) -> np.ndarray | None:
    """``s`` drawn in a random face with jitter, as a HEIGHT-high float32 array (ink=1)."""
    if fontname is None:
        fontname = rng.choice(HAND) if rng.random() < 0.8 else rng.choice(PRINT)
    size = rng.randint(40, 56)
    fc = face(fontname, size)
    slant = rng.uniform(-0.25, 0.25)
    jitter = rng.uniform(0, 0.06) * size
    rot = rng.uniform(0, 4)
    spacing = rng.uniform(-0.06, 0.12) * size
    canvas = Image.new("L", (int(size * (len(s) + 4) * 1.1) + 40, size * 3), 0)
    x = 20.0
    base = size * 1.4
    for ch in s:
        if ch == " ":
            x += size * rng.uniform(0.25, 0.45)
            continue
        f = fc.font(ch)
        if f is None:
            return None
        left, t, r, b = f.getbbox(ch)
        w, h = r - left + 8, b - t + 8
        glyph = Image.new("L", (max(w, 1), max(h, 1)), 0)
        ImageDraw.Draw(glyph).text((4 - left, 4 - t), ch, font=f, fill=255)
        if rot:
            glyph = glyph.rotate(rng.uniform(-rot, rot), resample=Image.BILINEAR, expand=True)
        sc = rng.uniform(0.92, 1.08)
        glyph = glyph.resize((max(1, int(glyph.width * sc)), max(1, int(glyph.height * sc))))
        asc = f.getmetrics()[0]
        y = base - asc + t * sc - 4 + rng.gauss(0, jitter)
        canvas.paste(255, (int(x), int(y)), glyph)
        x += f.getlength(ch) * sc + spacing + rng.gauss(0, 0.02 * size)
    if slant:
        canvas = canvas.transform(canvas.size, Image.AFFINE, (1, slant, -slant * base, 0, 1, 0),
                                  resample=Image.BILINEAR)
    k = rng.random()
    if k < 0.2:
        canvas = canvas.filter(ImageFilter.MaxFilter(3))
    elif k < 0.3:
        canvas = canvas.filter(ImageFilter.MinFilter(3))
    bbox = canvas.getbbox()
    if bbox is None:
        return None
    pad_x, pad_y = rng.randint(2, 14), rng.randint(1, 10)
    left, t, r, b = bbox
    canvas = canvas.crop((max(0, left - pad_x), max(0, t - pad_y), r + pad_x, b + pad_y))
    # Scanned at a lower resolution now and then, then blurred.
    if rng.random() < 0.5:
        f = rng.uniform(0.35, 0.7)
        small = canvas.resize((max(1, int(canvas.width * f)), max(1, int(canvas.height * f))),
                              Image.BILINEAR)
        canvas = small
    if rng.random() < 0.4:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return normalise(np.asarray(canvas, dtype=np.float32) / 255.0, rng)


def normalise(ink: np.ndarray, rng: random.Random | None = None) -> np.ndarray | None:
    """Ink image (1 = ink) scaled to HEIGHT, returned as float32 (H, w)."""
    h, w = ink.shape
    nw = max(4, round(w * HEIGHT / h))
    if nw > WIDTH:
        return None
    img = Image.fromarray((ink * 255).astype(np.uint8)).resize((nw, HEIGHT), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if rng is not None:
        contrast = rng.uniform(0.5, 1.0)
        arr = arr * contrast + rng.uniform(0, 0.15) * (1 - arr) * rng.random()
        arr = arr + np.random.default_rng(rng.randrange(1 << 30)).normal(
            0, rng.uniform(0, 0.08), arr.shape).astype(np.float32)
        arr = np.clip(arr, 0, 1)
    return arr


def sample(rng: random.Random) -> tuple[np.ndarray, str]:
    while True:
        s = text(rng)
        s = " ".join(s.split())
        if not s or len(s) > 60:
            continue
        img = render(rng, s)
        if img is not None:
            return img, s


def labels(s: str) -> list[int]:
    return [INDEX[c] for c in s if c in INDEX]


if __name__ == "__main__":
    import sys
    rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    for i in range(8):
        img, s = sample(rng)
        Image.fromarray(((1 - img) * 255).astype(np.uint8)).save(f"/tmp/s10/sample{i}.png")
        print(i, img.shape, s)
