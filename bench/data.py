"""Benchmark data, generated from a fixed seed: the same catalog and parents every run."""
from __future__ import annotations

import datetime as dt
import random
from typing import Any

SEED = 20261121
MUNICIPALITIES = 30
TOWNS = [f"г. Бенчград-{i + 1}" for i in range(MUNICIPALITIES)]

# Words a navigator's programs are made of (title stems, description words).
TOPICS = [
    "Робототехника", "Шахматы", "Хореография", "Вокал", "Рисование", "Керамика", "Программирование",
    "Футбол", "Плавание", "Туризм", "Краеведение", "Журналистика", "Театр", "Английский язык",
    "Химия", "Биология", "Экология", "Астрономия", "Конструирование", "Моделирование", "Дзюдо",
    "Баскетбол", "Волейбол", "Гимнастика", "Лёгкая атлетика", "Фотография", "Мультипликация",
    "Дизайн", "Скалолазание", "Ориентирование", "Гитара", "Фортепиано", "Народный танец",
    "Спортивный танец", "Оригами", "Вышивка", "Лего", "Электроника", "Физика", "Математика",
    "Литература", "История", "Волонтёрство", "Лидерство", "Блогинг", "3D-печать", "Авиамоделирование",
    "Судомоделирование", "Картинг", "Пейнтбол",
]
ADJECTIVES = ["Юный", "Начальный", "Основы", "Мир", "Школа", "Студия", "Клуб", "Мастерская", "Лаборатория",
              "Академия", "Кружок", "Секция", "Творческая", "Весёлая", "Современная"]
DESCRIPTION_WORDS = [
    "занятия", "дети", "развитие", "навыки", "творчество", "команда", "проекты", "соревнования",
    "выступления", "практика", "теория", "игры", "логика", "внимание", "память", "здоровье",
    "природа", "походы", "экскурсии", "конкурсы", "выставки", "концерты", "опыт", "эксперименты",
]
STREETS = ["Ленина", "Мира", "Советская", "Гагарина", "Школьная", "Садовая", "Кирова", "Пушкина"]
CATEGORIES = ["technical", "science", "sport", "art", "tourism", "social"]
FUNDINGS = ["certificate"] * 6 + ["municipal"] * 3 + ["paid"]
KINDS = ["municipal", "private", "ip"]

# What parents type into /find: whole words, other endings, prefixes.
QUERIES = ["робот", "шахматы", "танец", "танцы", "вокал", "рисование", "футбол", "плавание", "театр",
           "английский", "химия", "программирование", "лего", "гитара", "фото", "дизайн", "туризм",
           "спорт", "студия", "школа", "юный", "мир", "клуб", "кружок", "физика", "математика",
           "моделирование", "конструирование", "биолог", "эколог", "мульт", "скал", "картинг",
           "вышивка", "оригами", "журналист", "лидер", "электроник", "астроном", "волейбол"]


def program_rows(count: int, today: dt.date, seed: int = SEED) -> list[dict[str, Any]]:
    """`count` importable programs (the import format of SPEC §2) spread over the towns."""
    rng = random.Random(seed)
    year = today.year if today.month >= 9 else today.year - 1
    rows = []
    for n in range(count):
        topic = rng.choice(TOPICS)
        age_min = rng.randint(5, 14)
        funding = rng.choice(FUNDINGS)
        ended = rng.random() < 0.05
        description = " ".join(rng.choice(DESCRIPTION_WORDS) for _ in range(rng.randint(6, 14)))
        rows.append({
            "external_id": f"B-{n:06d}", "title": f"{rng.choice(ADJECTIVES)} {topic} {n % 97}",
            "provider": f"Центр творчества № {rng.randint(1, 300)}", "provider_kind": rng.choice(KINDS),
            "municipality": TOWNS[n % MUNICIPALITIES], "category": rng.choice(CATEGORIES),
            "age_min": str(age_min), "age_max": str(rng.randint(age_min, 17)),
            "price_per_month": str(rng.choice([1500, 2000, 2500, 3000, 3500])),
            "hours_per_month": str(rng.choice([4, 8, 12])),
            # Some programs have ended: the search must leave them out.
            "start_date": f"{year - 1 if ended else year}-09-01",
            "end_date": f"{year if ended else year + 1}-05-31",
            "address": f"ул. {rng.choice(STREETS)}, {rng.randint(1, 120)}",
            "schedule": "Вт, Чт 16:00", "seats": str(rng.randint(8, 30)),
            "funding": funding, "description": f"{topic}: {description}.",
        })
    return rows


async def load_catalog(db: Any, clock: Any, count: int) -> None:
    """The catalog through the real import (word index included), in slices so memory stays flat."""
    from core.certificates import set_nominal
    from core.importer import import_rows
    from core.models import Unit
    from core.municipalities import register

    async with db.write() as session:
        for town in TOWNS:   # the region's registry, as its operator would keep it
            await register(session, town)
    rows = program_rows(count, clock.today())
    step = 20_000
    for start in range(0, len(rows), step):
        await import_rows(db, rows[start:start + step], clock)
    async with db.write() as session:
        for town in TOWNS:
            for year in (clock.today().year, clock.today().year + 1):
                await set_nominal(session, town, year, 12_000_00, Unit.RUB)
