
"""Synthetic dossiers with ground truth, and hostile inputs, for tests and benchmarks.

Every child here is fictitious: names are drawn at random from short lists of
common names and combined, dates and places are random, phone numbers use
reserved-looking ranges, and the photo is a drawn cartoon face. Everything is
deterministic from a seed, so a failing test reproduces.

A dossier is a label–value form in Ukrainian, Russian or English (SPEC §4.1
labels), one child per page, with a photo per child; the label sits left of
its value, above it, or in a table cell, and may be bilingual
(``Прізвище / Surname``). It comes born digital (a PDF with a text layer set
in DejaVu Sans) or scanned (rendered at 300 or 200 dpi, skewed up to 3°,
blurred, noised, JPEG-compressed, maybe turned 90° or 180°), wrapped as an
image-only PDF, PNG, JPEG or multi-page TIFF.

Ground truth per child is the SPEC §4.1 member values a parser should find
(:meth:`Child.truth`); per page, the text lines the generator drew
(:attr:`Dossier.page_lines`), which is what a page reader should read.
"""

from __future__ import annotations

import io
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pymupdf as _pymupdf
from PIL import Image, ImageDraw, ImageFilter

pymupdf: Any = _pymupdf  # partially annotated; Any at this boundary
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# Typefaces of the wider forms: fonts-dejavu-core (installed with Tesseract's
# dependencies) and, for forms filled in by hand, Steve Jordi's SteveHand from
# fonts-sjfonts (GPL with a font-embedding exception), the one Debian
# handwriting font with Ukrainian and Russian coverage. It has no "№": a hand
# form draws that sign, and any other glyph it lacks, in DejaVu Sans.
HAND_FONT = "/usr/share/fonts/truetype/sjfonts/SteveHand.ttf"
FONTS: dict[str, str] = {
    "sans": FONT,
    "serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "oblique": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf",
    "bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "hand": HAND_FONT,  # printed labels, values written in by hand
}
# One form in six is filled in by hand, as each face takes a sixth. The draw has
# its own generator so that every other form stays exactly as it was drawn before
# the hand was added, and figures before and after compare on them.
HAND_SHARE = 1 / 6
Language = Literal["uk", "ru", "en"]
Layout = Literal["left", "above", "table", "underline", "boxed"]

LABELS: dict[str, dict[Language, str]] = {
    "family_name": {"uk": "Прізвище", "ru": "Фамилия", "en": "Surname"},
    "given_name": {"uk": "Ім'я", "ru": "Имя", "en": "Given name"},
    "patronymic": {"uk": "По батькові", "ru": "Отчество", "en": "Patronymic"},
    "sex": {"uk": "Стать", "ru": "Пол", "en": "Sex"},
    "birth_date": {"uk": "Дата народження", "ru": "Дата рождения", "en": "Date of birth"},
    "birth_place": {"uk": "Місце народження", "ru": "Место рождения", "en": "Place of birth"},
    "displacement_date": {
        "uk": "Дата переміщення", "ru": "Дата перемещения", "en": "Date of displacement"},
    "displacement_place": {
        "uk": "Місце переміщення", "ru": "Место перемещения", "en": "Place of displacement"},
    "current_location": {
        "uk": "Теперішнє місцеперебування", "ru": "Текущее местонахождение",
        "en": "Current location"},
    "guardian": {"uk": "Опікун", "ru": "Опекун", "en": "Guardian"},
    "services.medical": {
        "uk": "Медичні послуги", "ru": "Медицинские услуги", "en": "Medical services"},
    "services.psychological": {
        "uk": "Психологічні послуги", "ru": "Психологические услуги",
        "en": "Psychological services"},
    "services.social": {
        "uk": "Соціальні послуги", "ru": "Социальные услуги", "en": "Social services"},
    "services.education": {"uk": "Освіта", "ru": "Образование", "en": "Education"},
}
# Other wordings partner forms use for the same member (SPEC §4.1 lists more
# than one for some); a wide form picks one of these or the plain label.
ALT_LABELS: dict[str, dict[Language, tuple[str, ...]]] = {
    "family_name": {"en": ("Family name", "Last name")},
    "given_name": {"en": ("First name", "Forename")},
    "sex": {"en": ("Gender",)},
    "birth_date": {"en": ("Birth date",)},
    "birth_place": {"en": ("Birthplace",)},
    "displacement_date": {"en": ("Displacement date",)},
    "current_location": {"uk": ("Поточне місцеперебування",)},
}
RELATION_LABELS: dict[str, dict[Language, str]] = {
    "mother": {"uk": "Мати", "ru": "Мать", "en": "Mother"},
    "father": {"uk": "Батько", "ru": "Отец", "en": "Father"},
    "sibling": {"uk": "Сестра", "ru": "Сестра", "en": "Sister"},
    "grandparent": {"uk": "Бабуся", "ru": "Бабушка", "en": "Grandmother"},
}
SEX_WORDS: dict[Language, dict[str, tuple[str, ...]]] = {
    "uk": {"female": ("жіноча", "ж"), "male": ("чоловіча", "ч")},
    "ru": {"female": ("женский", "ж"), "male": ("мужской", "м")},
    "en": {"female": ("female", "F"), "male": ("male", "M")},
}
MONTHS: dict[Language, tuple[str, ...]] = {
    "uk": ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня",
           "вересня", "жовтня", "листопада", "грудня"),
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
# (family male, family female, given male, given female, patronymic male, female)
NAMES: dict[Language, dict[str, tuple[str, ...]]] = {
    "uk": {
        "family_m": ("Коваленко", "Бондаренко", "Ткаченко", "Кравчук", "Мельник", "Шевчук"),
        "family_f": ("Коваленко", "Бондаренко", "Ткаченко", "Кравчук", "Мельник", "Шевчук"),
        "given_m": ("Олексій", "Андрій", "Богдан", "Тарас", "Юрій", "Дмитро"),
        "given_f": ("Олена", "Марія", "Софія", "Ганна", "Ірина", "Дарина"),
        "patr_m": ("Іванович", "Петрович", "Миколайович", "Олегович"),
        "patr_f": ("Іванівна", "Петрівна", "Миколаївна", "Олегівна"),
        "places": ("Харків", "Маріуполь", "Херсон", "Запоріжжя", "Суми", "Чернігів"),
        "now": ("Львів", "Київ", "Ужгород", "Вінниця"),
    },
    "ru": {
        "family_m": ("Смирнов", "Кузнецов", "Попов", "Соколов", "Морозов", "Волков"),
        "family_f": ("Смирнова", "Кузнецова", "Попова", "Соколова", "Морозова", "Волкова"),
        "given_m": ("Алексей", "Дмитрий", "Иван", "Михаил", "Никита", "Сергей"),
        "given_f": ("Анна", "Мария", "Ольга", "Екатерина", "Татьяна", "Полина"),
        "patr_m": ("Иванович", "Петрович", "Сергеевич", "Андреевич"),
        "patr_f": ("Ивановна", "Петровна", "Сергеевна", "Андреевна"),
        "places": ("Донецк", "Луганск", "Мелитополь", "Бердянск", "Северодонецк"),
        "now": ("Ростов-на-Дону", "Таганрог", "Краснодар", "Воронеж"),
    },
    "en": {
        "family_m": ("Miller", "Walker", "Turner", "Parker", "Harris", "Cooper"),
        "family_f": ("Miller", "Walker", "Turner", "Parker", "Harris", "Cooper"),
        "given_m": ("Thomas", "Daniel", "Oliver", "Samuel", "Lucas", "Henry"),
        "given_f": ("Emily", "Grace", "Chloe", "Lucy", "Hannah", "Alice"),
        "patr_m": ("",),
        "patr_f": ("",),
        "places": ("Kharkiv", "Mariupol", "Kherson", "Zaporizhzhia", "Sumy"),
        "now": ("Warsaw", "Krakow", "Berlin", "Prague"),
    },
}
# More names for the wide forms, some no name table knows.
EXTRA_GIVEN: dict[Language, dict[str, tuple[str, ...]]] = {
    "uk": {"given_f": ("Зоряна", "Юлія", "Ярина"), "given_m": ("Іван", "Левко", "Назар")},
    "ru": {"given_f": ("Юлия", "София", "Василиса"), "given_m": ("Евгений", "Всеволод", "Илья")},
    "en": {"given_f": ("Isla", "Ivy"), "given_m": ("Isaac", "Leo")},
}
# Ukrainian children on English forms: names as KMU 2010 spells them, with
# the patronymic the partner prints.
LATIN_UK: dict[str, tuple[str, ...]] = {
    "family_m": ("Kovalenko", "Bondarenko", "Tkachenko", "Kravchuk", "Melnyk", "Shevchuk"),
    "family_f": ("Kovalenko", "Bondarenko", "Tkachenko", "Kravchuk", "Melnyk", "Shevchuk"),
    "given_m": ("Oleksii", "Andrii", "Bohdan", "Taras", "Yurii", "Dmytro", "Ivan"),
    "given_f": ("Olena", "Mariia", "Sofiia", "Hanna", "Iryna", "Daryna", "Zoriana"),
    "patr_m": ("Ivanovych", "Petrovych", "Mykolaiovych", "Olehovych"),
    "patr_f": ("Ivanivna", "Petrivna", "Mykolaivna", "Olehivna"),
}
# Education written as schools do, with a number sign and a school year.
EDUCATION: dict[Language, tuple[str, ...]] = {
    "uk": ("школа № {n}, {g} клас", "ліцей № {n}"),
    "ru": ("школа № {n}, {g} класс", "гимназия № {n}"),
    "en": ("school No. {n}, grade {g}", "primary school"),
}
SERVICES: dict[Language, tuple[str, str, str, str]] = {
    "uk": ("вакцинація", "консультації", "соціальний супровід", "школа"),
    "ru": ("вакцинация", "консультации", "социальное сопровождение", "школа"),
    "en": ("vaccination", "counselling", "case management", "primary school"),
}


@dataclass(frozen=True, slots=True)
class Contact:
    relation: str
    name: str
    place: str
    phone: str


@dataclass(frozen=True, slots=True)
class Child:
    """One fictitious child and how the form writes each value."""

    family_name: str
    given_name: str
    patronymic: str | None
    sex: Literal["female", "male"]
    sex_text: str
    birth_date: date
    birth_date_text: str
    birth_place: str
    displacement_date: date
    displacement_date_text: str
    displacement_place: str
    current_location: str
    guardian: str
    contacts: tuple[Contact, ...]
    services: tuple[str, str, str, str]  # medical, psychological, social, education
    photo: bytes = field(repr=False)  # JPEG, as embedded in born-digital forms

    def fields(self) -> list[tuple[str, str]]:
        """(member, text as written) in form order; contacts as ``contact.<relation>``."""
        out: list[tuple[str, str]] = [("family_name", self.family_name),
                                      ("given_name", self.given_name)]
        if self.patronymic:
            out.append(("patronymic", self.patronymic))
        out += [
            ("sex", self.sex_text),
            ("birth_date", self.birth_date_text),
            ("birth_place", self.birth_place),
            ("displacement_date", self.displacement_date_text),
            ("displacement_place", self.displacement_place),
            ("current_location", self.current_location),
            ("guardian", self.guardian),
        ]
        out += [(f"contact.{c.relation}", f"{c.name}, {c.place}, {c.phone}")
                for c in self.contacts]
        out += [(f"services.{k}", v) for k, v in zip(
            ("medical", "psychological", "social", "education"), self.services, strict=True)]
        return out

    def truth(self) -> dict[str, Any]:
        """The SPEC §4.1 member values a parser should extract for this child."""
        return {
            "family_name": self.family_name,
            "given_name": self.given_name,
            "patronymic": self.patronymic,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "birth_place": self.birth_place,
            "displacement_date": self.displacement_date.isoformat(),
            "displacement_place": self.displacement_place,
            "current_location": self.current_location,
            "guardian": self.guardian,
            "family_contacts": [
                {"relation": c.relation, "name": c.name, "place": c.place, "phone": c.phone}
                for c in self.contacts
            ],
            "services": dict(zip(("medical", "psychological", "social", "education"),
                                 self.services, strict=True)),
        }


@dataclass(frozen=True, slots=True)
class Dossier:
    """A generated document and what it holds."""

    filename: str
    media_type: str
    data: bytes = field(repr=False)
    language: Language
    layout: Layout
    children: tuple[Child, ...]
    page_lines: tuple[tuple[str, ...], ...]  # per page, the text lines drawn, top to bottom
    scanned: bool
    turned: tuple[int, ...] = ()  # per page, degrees the scan was turned (0/90/180/270)

    def write(self, directory: Path) -> Path:
        path = directory / self.filename
        path.write_bytes(self.data)
        return path


# -- children -----------------------------------------------------------------

def face_photo(rng: random.Random, *, width: int = 300, height: int = 400) -> Image.Image:
    """A simple drawn face on a coloured background: a photo that is no one."""
    bg = (rng.randint(60, 140), rng.randint(90, 170), rng.randint(140, 220))
    img = Image.new("RGB", (width, height), bg)
    d = ImageDraw.Draw(img)
    skin = (rng.randint(200, 240), rng.randint(160, 200), rng.randint(130, 170))
    hair = (rng.randint(20, 90), rng.randint(10, 60), rng.randint(0, 40))
    cx, cy = width // 2, int(height * 0.42)
    d.ellipse((cx - 150, int(height * 0.78), cx + 150, height + 150), fill=(40, 60, 110))
    d.rectangle((cx - 30, cy + 80, cx + 30, int(height * 0.82)), fill=skin)
    d.ellipse((cx - 95, cy - 125, cx + 95, cy - 10), fill=hair)
    d.ellipse((cx - 85, cy - 100, cx + 85, cy + 110), fill=skin)
    for ex in (cx - 35, cx + 35):
        d.ellipse((ex - 14, cy - 18, ex + 14, cy + 2), fill=(250, 250, 250))
        d.ellipse((ex - 6, cy - 14, ex + 6, cy - 2), fill=(50, 40, 30))
    d.line((cx, cy, cx - 8, cy + 35, cx + 4, cy + 38), fill=(150, 100, 80), width=3)
    d.arc((cx - 35, cy + 35, cx + 35, cy + 75), 20, 160, fill=(170, 60, 60), width=4)
    return img.filter(ImageFilter.GaussianBlur(1.2))


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def format_date(d: date, lang: Language, style: int) -> str:
    if style == 0:
        return d.strftime("%d.%m.%Y")
    if style == 1:
        return d.isoformat()
    month = MONTHS[lang][d.month - 1]
    if lang == "ru":
        return f"{d.day} {month} {d.year} г."
    return f"{d.day} {month} {d.year}"


def make_child(rng: random.Random, lang: Language) -> Child:
    names = NAMES[lang]
    sex: Literal["female", "male"] = rng.choice(("female", "male"))
    s = "f" if sex == "female" else "m"
    family = rng.choice(names[f"family_{s}"])
    given = rng.choice(names[f"given_{s}"])
    patronymic = rng.choice(names[f"patr_{s}"]) or None
    birth = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 365 * 12))
    moved = date(2022, 2, 24) + timedelta(days=rng.randrange(0, 900))
    contacts = []
    for relation in rng.sample(sorted(RELATION_LABELS), k=rng.randint(1, 2)):
        female = relation in ("mother", "sibling", "grandparent")
        k = "f" if female else "m"
        contacts.append(Contact(
            relation,
            f"{family if lang != 'ru' else rng.choice(names[f'family_{k}'])} "
            f"{rng.choice(names[f'given_{k}'])}",
            rng.choice(names["places"]),
            f"+380 {rng.randint(50, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        ))
    return Child(
        family_name=family,
        given_name=given,
        patronymic=patronymic,
        sex=sex,
        sex_text=SEX_WORDS[lang][sex][rng.randrange(2)],
        birth_date=birth,
        birth_date_text=format_date(birth, lang, rng.randrange(3)),
        birth_place=rng.choice(names["places"]),
        displacement_date=moved,
        displacement_date_text=format_date(moved, lang, rng.randrange(3)),
        displacement_place=rng.choice(names["places"]),
        current_location=rng.choice(names["now"]),
        guardian=f"{rng.choice(names['family_f'])} {rng.choice(names['given_f'])}",
        contacts=tuple(contacts),
        services=SERVICES[lang],
        photo=_jpeg(face_photo(rng)),
    )


# -- born-digital forms ----------------------------------------------------------

PAGE_W, PAGE_H = 595.0, 842.0  # A4 in points
PHOTO_RECT = (440, 60, 540, 193)  # 35 x 47 mm, top right


def _label(member: str, lang: Language, bilingual: bool) -> str:
    if member.startswith("contact."):
        labels = RELATION_LABELS[member.split(".", 1)[1]]
    else:
        labels = LABELS[member]
    text = labels[lang]
    if bilingual and lang != "en":
        text = f"{text} / {labels['en']}"
    return text + ":"


def _draw_child(page: Any, child: Child, lang: Language, layout: Layout,
                bilingual: bool, size: float) -> list[str]:
    """Draw one child's form; return the text lines drawn, top to bottom."""
    title = {"uk": "Картка дитини", "ru": "Карточка ребенка", "en": "Child record"}[lang]
    page.insert_text((56, 80), title, fontsize=size + 4, fontname="dv", fontfile=FONT)
    lines = [title]
    page.insert_image(PHOTO_RECT, stream=child.photo)
    y = 230.0
    font = pymupdf.Font(fontfile=FONT)
    while True:  # shrink the type until the longest label and value fit the page
        widest = max(font.text_length(_label(m, lang, bilingual), fontsize=size)
                     for m, _ in child.fields())
        value_x = 56 + widest + 18.0
        longest = max(font.text_length(v, fontsize=size) for _, v in child.fields())
        if layout == "above" or value_x + longest <= 540 or size <= 7:
            break
        size -= 0.5
    for member, value in child.fields():
        label = _label(member, lang, bilingual)
        if layout == "above":
            page.insert_text((56, y), label, fontsize=size - 2, fontname="dv", fontfile=FONT)
            page.insert_text((56, y + size + 3), value, fontsize=size, fontname="dv",
                             fontfile=FONT)
            lines += [label, value]
            y += 2 * size + 14
        else:
            if layout == "table":
                cell = pymupdf.Rect(50, y - size - 5, value_x - 6, y + 7)
                page.draw_rect(cell, color=(0, 0, 0), width=0.6)
                page.draw_rect(pymupdf.Rect(value_x - 6, cell.y0, 545, cell.y1),
                               color=(0, 0, 0), width=0.6)
            page.insert_text((56, y), label, fontsize=size, fontname="dv", fontfile=FONT)
            page.insert_text((value_x, y), value, fontsize=size, fontname="dv", fontfile=FONT)
            lines.append(f"{label} {value}")
            y += size + 13
    return lines


def born_digital(children: Sequence[Child], lang: Language, layout: Layout, *,
                 bilingual: bool = False, size: float = 11) -> tuple[bytes, list[list[str]]]:
    """A born-digital PDF, one child per page, and the lines drawn per page."""
    doc = pymupdf.open()
    per_page = []
    for child in children:
        page = doc.new_page(width=PAGE_W, height=PAGE_H)
        per_page.append(_draw_child(page, child, lang, layout, bilingual, size))
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data, per_page


# -- scans -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ScanStyle:
    dpi: int = 300
    skew: float = 0.0  # degrees, counter-clockwise
    turn: int = 0  # 0/90/180/270: the page lies turned by this much (clockwise)
    noise: float = 0.0  # std-dev of Gaussian noise, 0..255 scale
    blur: float = 0.0  # Gaussian blur radius in pixels
    jpeg_quality: int = 0  # 0: lossless


def scan_page(page: Any, style: ScanStyle, rng: random.Random) -> Image.Image:
    """Render one page as a scanner would have seen it."""
    pix = page.get_pixmap(dpi=style.dpi, colorspace=pymupdf.csRGB, alpha=False)
    img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    if style.skew:
        img = img.rotate(style.skew, resample=Image.Resampling.BILINEAR, expand=False,
                         fillcolor=(255, 255, 255))
    if style.blur:
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
    if style.noise:
        arr = np.asarray(img, dtype=np.float32)
        gen = np.random.default_rng(rng.randrange(2**32))
        arr += gen.standard_normal(arr.shape, dtype=np.float32) * np.float32(style.noise)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if style.jpeg_quality:
        img = Image.open(io.BytesIO(_jpeg(img, style.jpeg_quality))).convert("RGB")
    if style.turn:
        img = img.rotate(-style.turn, expand=True)  # PIL turns counter-clockwise
    img.info["dpi"] = (style.dpi, style.dpi)
    return img


def image_pdf(images: Sequence[Image.Image], dpi: int | Sequence[int], *,
              jpeg_quality: int = 80) -> bytes:
    """Wrap page images into an image-only PDF (no text layer), one page each."""
    doc = pymupdf.open()
    dpis = [dpi] * len(images) if isinstance(dpi, int) else list(dpi)
    for img, d in zip(images, dpis, strict=True):
        w, h = img.width * 72 / d, img.height * 72 / d
        page = doc.new_page(width=w, height=h)
        page.insert_image(page.rect, stream=_jpeg(img, jpeg_quality))
    data: bytes = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def encode_image(images: Sequence[Image.Image], fmt: Literal["PNG", "JPEG", "TIFF"], dpi: int,
                 *, exif_orientation: int = 0) -> bytes:
    """PNG/JPEG (first image) or multi-page TIFF; optionally with an EXIF orientation tag."""
    buf = io.BytesIO()
    first = images[0]
    if fmt == "TIFF":
        first.save(buf, format="TIFF", save_all=True, append_images=list(images[1:]),
                   compression="tiff_deflate", dpi=(dpi, dpi))
    elif fmt == "JPEG":
        exif = Image.Exif()
        if exif_orientation:
            exif[0x0112] = exif_orientation
        first.save(buf, format="JPEG", quality=88, dpi=(dpi, dpi), exif=exif.tobytes())
    else:
        first.save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


# -- whole dossiers -------------------------------------------------------------------

def make_dossier(
    seed: int,
    *,
    lang: Language = "uk",
    layout: Layout = "left",
    children: int = 1,
    bilingual: bool = False,
    scan: ScanStyle | None = None,
    turns: Sequence[int] | None = None,
    fmt: Literal["PDF", "PNG", "JPEG", "TIFF"] = "PDF",
    size: float = 11,
) -> Dossier:
    """One dossier, deterministic from ``seed``.

    ``scan=None`` gives a born-digital PDF. With a scan style, ``turns`` may
    give a turn per page (overriding ``scan.turn``).
    """
    rng = random.Random(seed)
    kids = tuple(make_child(rng, lang) for _ in range(children))
    pdf, lines = born_digital(kids, lang, layout, bilingual=bilingual, size=size)
    stem = f"dossier-{seed}-{lang}-{layout}"
    if scan is None:
        return Dossier(f"{stem}.pdf", "application/pdf", pdf, lang, layout, kids,
                       tuple(tuple(p) for p in lines), scanned=False)
    page_turns = list(turns) if turns is not None else [scan.turn] * len(kids)
    doc = pymupdf.open("pdf", pdf)
    images = []
    for page, turn in zip(doc, page_turns, strict=True):
        style = ScanStyle(scan.dpi, scan.skew, turn, scan.noise, scan.blur, scan.jpeg_quality)
        images.append(scan_page(page, style, rng))
    doc.close()
    if fmt == "PDF":
        data, media = image_pdf(images, scan.dpi), "application/pdf"
    else:
        data = encode_image(images, fmt, scan.dpi)
        media = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}[fmt]
    ext = fmt.lower().replace("jpeg", "jpg").replace("tiff", "tif")
    n = len(images) if fmt in ("PDF", "TIFF") else 1
    return Dossier(f"{stem}-scan.{ext}", media, data, lang, layout, kids[:n],
                   tuple(tuple(p) for p in lines[:n]), scanned=True,
                   turned=tuple(page_turns[:n]))


def mixed_pdf(seed: int, lang: Language = "uk") -> tuple[bytes, list[str]]:
    """Two children: page 1 born digital, page 2 scanned. Returns the PDF and page kinds."""
    text = make_dossier(seed, lang=lang, children=2)
    scanned = make_dossier(seed, lang=lang, children=2, scan=ScanStyle(dpi=300))
    out = pymupdf.open("pdf", text.data)
    src = pymupdf.open("pdf", scanned.data)
    out.delete_page(1)
    out.insert_pdf(src, from_page=1, to_page=1)
    data = out.tobytes(garbage=3, deflate=True)
    out.close()
    src.close()
    return data, ["text", "ocr"]


# -- hostile inputs ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hostile:
    """A hostile input and the words its clear error message must contain."""

    filename: str
    media_type: str
    data: bytes = field(repr=False)
    expect: str  # a lower-case fragment of the expected ExtractionFailed message
    warning: bool = False  # True: not an error, the part reads with a warning


def _page_tree_loop_pdf() -> bytes:
    """A PDF whose page tree points back at itself (Kids loop)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    return bytes(out)


def _huge_png(width: int, height: int) -> bytes:
    """A valid, tiny-on-disk white 1-bit PNG of ``width`` x ``height`` pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(
        b"IEND", b"")


def hostile_inputs(seed: int = 7) -> list[Hostile]:
    """Inputs that must each end as a clear error (or a warning) within the caps."""
    good = make_dossier(seed).data
    cases: list[Hostile] = []

    doc = pymupdf.open("pdf", good)
    enc = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret",
                      owner_pw="owner")
    doc.close()
    cases.append(Hostile("encrypted.pdf", "application/pdf", enc, "encrypted"))
    # Cut after the header: nothing to salvage. Cut after a third: MuPDF repairs
    # what is left, and the part reads with a warning that content may be missing.
    cases.append(Hostile("truncated-header.pdf", "application/pdf", good[:200],
                         "not a readable pdf"))
    cases.append(Hostile("truncated.pdf", "application/pdf", good[: len(good) // 3],
                         "damaged", warning=True))
    cases.append(Hostile("garbage.pdf", "application/pdf",
                         b"%PDF-1.7\n" + random.Random(seed).randbytes(4096), "not a readable pdf"))
    cases.append(Hostile("empty.pdf", "application/pdf", b"", "not a readable pdf"))
    cases.append(Hostile("loop.pdf", "application/pdf", _page_tree_loop_pdf(),
                         "not a readable pdf"))

    many = pymupdf.open()
    for _ in range(10_000):
        many.new_page(width=200, height=200)
    cases.append(Hostile("10000-pages.pdf", "application/pdf",
                         many.tobytes(garbage=1, deflate=True), "pages"))
    many.close()

    huge = pymupdf.open()
    huge.new_page(width=20_000 * 72 / 300, height=20_000 * 72 / 300)  # 20000 px at 300 dpi
    cases.append(Hostile("huge-page.pdf", "application/pdf", huge.tobytes(), "pixels"))
    huge.close()

    cases.append(Hostile("bomb.png", "image/png", _huge_png(20_000, 20_000), "pixels"))
    png = encode_image([face_photo(random.Random(seed))], "PNG", 300)
    cases.append(Hostile("truncated.png", "image/png", png[: len(png) // 2],
                         "not a readable image"))
    cases.append(Hostile("garbage.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + bytes(100),
                         "not a readable image"))

    js = pymupdf.open("pdf", good)
    xref = js.get_new_xref()
    js.update_object(xref, "<< /S /JavaScript /JS (app.alert\\('x'\\);) >>")
    js.xref_set_key(js.pdf_catalog(), "OpenAction", f"{xref} 0 R")
    cases.append(Hostile("javascript.pdf", "application/pdf", js.tobytes(), "javascript",
                         warning=True))
    js.close()
    return cases


# -- wider forms (issue 12) -----------------------------------------------------------------
#
# Forms in layouts, type and wording the parser was not written against, and
# the conditions partner documents arrive in. Every choice is drawn from the
# seed, so a development seed and a held-out test seed give different forms
# from the same families (see bench/extraction_accuracy.py).

Condition = Literal["born digital", "300 dpi", "degraded", "rotated", "phone photo"]
CONDITIONS: tuple[Condition, ...] = ("born digital", "300 dpi", "degraded", "rotated",
                                     "phone photo")
STAMP_BLUE = (0.15, 0.25, 0.7)


@dataclass(frozen=True, slots=True)
class FormStyle:
    """How one wide form is set: layout, type, wording, and what lies over it."""

    layout: Layout
    font: str  # a key of FONTS
    size: float
    bilingual: bool
    upper: bool  # labels in capitals
    colon: bool  # labels end in a colon
    wording: int  # 0: the plain label; n: the n-th alternative wording, where there is one
    frame: bool  # a framed photo set close right of the name values
    stamp: bool  # a round stamp half over a value
    signature: bool  # a pen stroke across the guardian's row
    omit_sex: bool  # the form has no sex field (the names must tell it)


def random_style(rng: random.Random, lang: Language) -> FormStyle:
    """A form style drawn from ``rng``."""
    return FormStyle(
        layout=rng.choice(("left", "above", "table", "underline", "boxed")),
        font=rng.choice(tuple(f for f in FONTS if f != "hand")),
        size=rng.choice((10.0, 11.0, 12.0)),
        bilingual=lang != "en" and rng.random() < 0.4,
        upper=rng.random() < 0.25,
        colon=rng.random() < 0.7,
        wording=rng.randrange(3),
        frame=rng.random() < 0.35,
        stamp=rng.random() < 0.35,
        signature=rng.random() < 0.35,
        omit_sex=rng.random() < 0.2,  # honoured only where a patronymic tells the sex
    )


def make_wide_child(rng: random.Random, lang: Language) -> Child:
    """A child of :func:`make_child` with wider names and a numbered school.

    On English forms one child in two is a Ukrainian child with Latin names
    and a patronymic, as partners print them.
    """
    child = make_child(rng, lang)
    sex = child.sex
    s = "f" if sex == "female" else "m"
    family, given, patronymic = child.family_name, child.given_name, child.patronymic
    if lang == "en" and rng.random() < 0.5:
        family = rng.choice(LATIN_UK[f"family_{s}"])
        given = rng.choice(LATIN_UK[f"given_{s}"])
        patronymic = rng.choice(LATIN_UK[f"patr_{s}"])
    elif rng.random() < 0.4:
        given = rng.choice(EXTRA_GIVEN[lang][f"given_{s}"])
    template = rng.choice(EDUCATION[lang])
    education = template.format(n=rng.randint(1, 120), g=rng.randint(1, 11))
    services = (*child.services[:3], education)
    return Child(family, given, patronymic, sex, child.sex_text, child.birth_date,
                 child.birth_date_text, child.birth_place, child.displacement_date,
                 child.displacement_date_text, child.displacement_place,
                 child.current_location, child.guardian, child.contacts,
                 services, child.photo)


def _wide_label(member: str, lang: Language, style: FormStyle) -> str:
    if member.startswith("contact."):
        labels = RELATION_LABELS[member.split(".", 1)[1]]
        text, english = labels[lang], labels["en"]
    else:
        text, english = LABELS[member][lang], LABELS[member]["en"]
        alternatives = ALT_LABELS.get(member, {})
        if style.wording and alternatives.get(lang):
            options = alternatives[lang]
            text = options[(style.wording - 1) % len(options)]
    if style.bilingual and lang != "en":
        text = f"{text} / {english}"
    if style.upper:
        text = text.upper()
    return text + (":" if style.colon else "")


def _draw_wide(page: Any, child: Child, lang: Language, style: FormStyle,
               rng: random.Random) -> list[str]:
    """Draw one child's form in ``style``; return the text lines drawn, top to bottom."""
    # A form filled in by hand has its title and labels printed; only the
    # values are in the hand.
    value_file = FONTS[style.font]
    label_file = FONT if style.font == "hand" else value_file
    value_font = pymupdf.Font(fontfile=value_file)
    label_font = pymupdf.Font(fontfile=label_file)
    fallback = pymupdf.Font(fontfile=FONT)

    def runs(value: str, font: Any, path: str) -> list[tuple[str, Any, str]]:
        """``value`` cut into (text, font, file) runs: DejaVu Sans for glyphs ``font`` lacks."""
        out: list[tuple[str, Any, str]] = []
        for ch in value:
            face, file = (font, path) if ch == " " or font.has_glyph(ord(ch)) else (fallback,
                                                                                     FONT)
            if out and out[-1][2] == file:
                out[-1] = (out[-1][0] + ch, face, file)
            else:
                out.append((ch, face, file))
        return out

    def measure(value: str, size: float, *, label: bool = False) -> float:
        font, path = (label_font, label_file) if label else (value_font, value_file)
        runs_ = runs(value, font, path)
        return float(sum(face.text_length(t, fontsize=size) for t, face, _ in runs_))

    def text(point: tuple[float, float], value: str, size: float, *,
             label: bool = True) -> None:
        font, path = (label_font, label_file) if label else (value_font, value_file)
        x, y = point
        for t, face, file in runs(value, font, path):
            page.insert_text((x, y), t, fontsize=size, fontname="wh" if file == HAND_FONT else "wf",
                             fontfile=file)
            x += face.text_length(t, fontsize=size)

    title = {"uk": "Картка дитини", "ru": "Карточка ребенка", "en": "Child record"}[lang]
    text((56, 80), title, style.size + 4)
    lines = [title]
    # A form without a sex field comes from a registry that prints patronymics;
    # without one, nobody could tell the sex from the form.
    omit_sex = style.omit_sex and child.patronymic is not None
    fields = [(m, v) for m, v in child.fields() if not (omit_sex and m == "sex")]
    size = style.size
    while True:  # shrink the type until the longest label and value fit the page
        widest = max(measure(_wide_label(m, lang, style), size, label=True) for m, _ in fields)
        value_x = 56 + widest + 18.0
        longest = max(measure(v, size) for _, v in fields)
        if style.layout in ("above", "boxed") or value_x + longest <= 540 or size <= 7:
            break
        size -= 0.5
    if style.layout in ("above", "boxed"):
        value_x = 56.0
    # Rows closer together when a tall form would run off the page (A4 ends at 842).
    pitch = min(2 * size + 16, (PAGE_H - 60 - 230) / len(fields)) if style.layout in (
        "above", "boxed") else min(size + 13, (PAGE_H - 60 - 230) / len(fields))
    y = 230.0
    rows: dict[str, float] = {}
    for member, value in fields:
        label = _wide_label(member, lang, style)
        if style.layout in ("above", "boxed"):
            if style.layout == "boxed":
                page.draw_rect(pymupdf.Rect(50, y - size + 1, 400, y + size + 9),
                               color=(0, 0, 0), width=0.6)
            text((56, y), label, size - 2)
            text((56, y + size + 3), value, size, label=False)
            lines += [label, value]
            rows[member] = y + size + 3
            y += pitch
            continue
        if style.layout == "table":
            cell = pymupdf.Rect(50, y - size - 5, value_x - 6, y + 7)
            page.draw_rect(cell, color=(0, 0, 0), width=0.6)
            page.draw_rect(pymupdf.Rect(value_x - 6, cell.y0, 545, cell.y1), color=(0, 0, 0),
                           width=0.6)
        text((56, y), label, size)
        text((value_x, y), value, size, label=False)
        if style.layout == "underline":  # the value sits on the rule it was written on
            page.draw_line((value_x - 2, y + 2.5), (545, y + 2.5), color=(0, 0, 0), width=0.5)
        lines.append(f"{label} {value}")
        rows[member] = y
        y += pitch
    if style.frame:
        # The photo, framed, set right after the longest name: the frame's edge
        # stands a few points from the end of the values.
        top = rows["family_name"] - size - 2
        beside = [v for m, v in fields if top - size <= rows[m] <= top + 131 + size]
        names_end = max(measure(v, size) for v in beside)
        x0 = min(value_x + names_end + rng.uniform(5, 9), 440)
        rect = pymupdf.Rect(x0, top, x0 + 96, top + 128)
        page.insert_image(rect, stream=child.photo)
        page.draw_rect(pymupdf.Rect(x0 - 3, top - 3, x0 + 99, top + 131), color=(0, 0, 0),
                       width=2.0)
    else:
        page.insert_image(PHOTO_RECT, stream=child.photo)
    if style.stamp:
        member = rng.choice(("guardian", "current_location", "services.medical"))
        cy = rows.get(member, y) - size / 2
        value = dict(fields).get(member, "")
        # The ring grazes the end of the value, as a stamp set beside it does.
        cx = value_x + measure(value, size) + 30 + rng.uniform(-2, 8)
        # Rings and a star, no lettering: a stamp's lettering runs round the
        # ring, and no reader should take it for a value.
        for radius, width in ((30, 1.8), (23, 0.7)):
            page.draw_circle((cx, cy), radius, color=STAMP_BLUE, width=width,
                             stroke_opacity=0.75)
        star = [pymupdf.Point(cx + 12 * math.cos(math.radians(90 + 144 * k)),
                              cy - 12 * math.sin(math.radians(90 + 144 * k))) for k in range(6)]
        page.draw_polyline(star, color=STAMP_BLUE, width=0.8, stroke_opacity=0.75)
    if style.signature:
        member = rng.choice(("guardian", "displacement_place"))
        base = rows.get(member, y) + 4
        x = value_x + rng.uniform(20, 70)  # through the value's descenders
        points = [pymupdf.Point(x + 8 * i, base - 3 * math.sin(i * 1.3))
                  for i in range(16)]
        page.draw_polyline(points, color=(0.05, 0.1, 0.45), width=1.0, stroke_opacity=0.8)
    return lines


def phone_photo(page: Any, rng: random.Random, *, dpi: int = 200) -> Image.Image:
    """One page as a phone photographed it: perspective, uneven light, a table around it."""
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, alpha=False)
    sheet = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    margin = int(0.04 * sheet.width)
    w, h = sheet.width + 2 * margin, sheet.height + 2 * margin
    table = (rng.randint(90, 140), rng.randint(70, 110), rng.randint(50, 80))
    photo = Image.new("RGB", (w, h), table)
    photo.paste(sheet, (margin, margin))
    # Corners moved inwards by up to 2 % of the size: the phone was not square on.
    jitter = [rng.uniform(0, 0.02) for _ in range(8)]
    dst = [(jitter[0] * w, jitter[1] * h), (w - jitter[2] * w, jitter[3] * h),
           (w - jitter[4] * w, h - jitter[5] * h), (jitter[6] * w, h - jitter[7] * h)]
    src = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    photo = photo.transform((w, h), Image.Transform.PERSPECTIVE, _perspective(dst, src),
                            resample=Image.Resampling.BILINEAR, fillcolor=table)
    photo = photo.rotate(rng.uniform(-2.0, 2.0), resample=Image.Resampling.BILINEAR,
                         fillcolor=table)
    arr = np.asarray(photo, dtype=np.float32)
    light = np.linspace(rng.uniform(0.78, 0.9), 1.0, w, dtype=np.float32)
    if rng.random() < 0.5:
        light = light[::-1]
    arr *= light[None, :, None]
    gen = np.random.default_rng(rng.randrange(2**32))
    arr += gen.standard_normal(arr.shape, dtype=np.float32) * np.float32(5.0)
    photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    photo = photo.filter(ImageFilter.GaussianBlur(0.6))
    photo = Image.open(io.BytesIO(_jpeg(photo, 82))).convert("RGB")
    photo.info["dpi"] = (dpi, dpi)
    return photo


def _perspective(dst: Sequence[tuple[float, float]],
                 src: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """PIL's 8 perspective coefficients mapping output points ``dst`` to input ``src``."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    solved = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return tuple(float(c) for c in solved)


def wide_dossier(seed: int, lang: Language, condition: Condition) -> Dossier:
    """One wide form (one child) in ``condition``, deterministic from ``seed``."""
    rng = random.Random(seed)
    child = make_wide_child(rng, lang)
    style = random_style(rng, lang)
    if random.Random(f"hand-{seed}").random() < HAND_SHARE:
        style = replace(style, font="hand")
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    lines = _draw_wide(page, child, lang, style, rng)
    pdf = doc.tobytes(garbage=3, deflate=True)
    stem = f"wide-{seed}-{lang}-{style.layout}-{style.font}"
    if condition == "born digital":
        doc.close()
        return Dossier(f"{stem}.pdf", "application/pdf", pdf, lang, "left", (child,),
                       (tuple(lines),), scanned=False)
    turn = 0
    fmt: Literal["PDF", "PNG", "JPEG", "TIFF"] = "PDF"
    if condition == "300 dpi":
        img = scan_page(page, ScanStyle(dpi=300, noise=3.0, skew=rng.uniform(-1, 1),
                                        jpeg_quality=90), rng)
        dpi = 300
    elif condition == "degraded":
        img = scan_page(page, ScanStyle(dpi=200, skew=rng.uniform(-3, 3), noise=12.0, blur=0.6,
                                        jpeg_quality=60), rng)
        dpi, fmt = 200, rng.choice(("PDF", "PNG", "JPEG", "TIFF"))
    elif condition == "rotated":
        turn = rng.choice((90, 180, 270))
        img = scan_page(page, ScanStyle(dpi=300, skew=rng.uniform(-2, 2), noise=6.0,
                                        turn=turn, jpeg_quality=85), rng)
        dpi = 300
    else:
        img = phone_photo(page, rng)
        dpi, fmt = 200, rng.choice(("PNG", "JPEG"))
    doc.close()
    if fmt == "PDF":
        data, media = image_pdf([img], dpi), "application/pdf"
    else:
        data = encode_image([img], fmt, dpi)
        media = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}[fmt]
    ext = fmt.lower().replace("jpeg", "jpg").replace("tiff", "tif")
    return Dossier(f"{stem}-{condition.replace(' ', '-')}.{ext}", media, data, lang, "left",
                   (child,), (tuple(lines),), scanned=True, turned=(turn,))
