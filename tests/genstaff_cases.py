"""The one table of real report texts and the figures they must give (see fixtures/SOURCE.md).

Each case: (name, text or fixture file, publication date for year-less headers, expected) where
expected maps an as_of date to {metric: (value, reported_delta)}. Every extractor test reads it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
D = dt.date


def _f(name: str) -> str:
    return (FIXTURES / "genstaff_posts" / name).read_text(encoding="utf-8")


# The 2025 wording quoted in the news: one line, thousands separators, "(+N)" only where non-zero.
NEWS_2025_EN = (
    "The total combat losses of the enemy from 24.02.2022 to 14.06.2025 were approximately: "
    "personnel ‒ about 1,002,690 (+1,130) persons, tanks ‒ 10,937 (+3), armoured combat vehicles ‒ 22,798 (+7), "
    "artillery systems ‒ 29,157 (+52), MLRS ‒ 1,417 (+1), air defense systems ‒ 1,185 (+1), aircraft ‒ 416, "
    "helicopters ‒ 337, UAVs operational-tactical level ‒ 40,586 (+79), cruise missiles ‒ 3,337, "
    "warships / boats ‒ 28, submarines ‒ 1, vehicles and fuel tanks ‒ 51,928 (+107), special equipment ‒ 3,914. "
    "Data are being updated."
)
# The same report as a Ukrainian Telegram post in HTML: <br> lines, emoji, bullets, no-break and
# narrow no-break spaces as thousands separators, em dashes, a hashtag and a trailer.
NEWS_2025_UK_HTML = (
    "<p>\U0001f525 Загальні бойові втрати противника з 24.02.22 по 14.06.25 орієнтовно склали:<br>"
    "• особового складу — близько 1\u202f002\u00a0690 (+1\u00a0130) осіб<br>"
    "• танків — 10 937 (+3) од.<br>"
    "• бойових броньованих машин — 22 798 (+7)<br>"
    "• артилерійських систем — 29 157 (+52)<br>"
    "• РСЗВ — 1 417 (+1)<br>"
    "• засобів ППО — 1 185 (+1)<br>"
    "• літаків — 416<br>"
    "• гелікоптерів — 337<br>"
    "• БПЛА оперативно-тактичного рівня — 40 586 (+79)<br>"
    "• крилатих ракет — 3 337<br>"
    "• кораблів / катерів — 28<br>"
    "• підводних човнів — 1<br>"
    "• автомобільної техніки та автоцистерн — 51 928 (+107)<br>"
    "• спеціальної техніки — 3 914</p>"
    "<p>Дані уточнюються. #втрати</p><p>Генштаб ЗСУ</p>"
)
JUNE_14_2025 = {
    "personnel": (1_002_690, 1130),
    "tanks": (10_937, 3),
    "armoured_vehicles": (22_798, 7),
    "artillery": (29_157, 52),
    "mlrs": (1_417, 1),
    "air_defense": (1_185, 1),
    "aircraft": (416, 0),
    "helicopters": (337, 0),
    "uav": (40_586, 79),
    "cruise_missiles": (3_337, 0),
    "warships": (28, 0),
    "submarines": (1, 0),
    "vehicles": (51_928, 107),
    "special_equipment": (3_914, 0),
}

CASES = [
    (
        "mil.gov.ua EN 2022-04-12: Ukrainian unit words, split vehicles / fuel tanks, no deltas",
        _f("en_mil_gov_ua_2022-04-12.txt"),
        D(2022, 4, 12),
        {
            D(2022, 4, 12): {
                "personnel": (19600, None),
                "tanks": (732, None),
                "armoured_vehicles": (1946, None),
                "artillery": (349, None),
                "mlrs": (111, None),
                "air_defense": (63, None),
                "aircraft": (157, None),
                "helicopters": (140, None),
                "vehicles": (1406 + 76, None),
                "warships": (7, None),
                "uav": (124, None),
                "special_equipment": (25, None),
                "srbm_launchers": (4, None),
            }
        },
    ),
    (
        "mil.gov.ua EN 2022-04-25: 'persons were liquidated', trailer sentence",
        _f("en_mil_gov_ua_2022-04-25.txt"),
        D(2022, 4, 25),
        {
            D(2022, 4, 25): {
                "personnel": (21900, None),
                "tanks": (884, None),
                "armoured_vehicles": (2258, None),
                "artillery": (411, None),
                "mlrs": (149, None),
                "air_defense": (69, None),
                "aircraft": (181, None),
                "helicopters": (154, None),
                "vehicles": (1566 + 76, None),
                "warships": (8, None),
                "uav": (201, None),
                "special_equipment": (28, None),
                "srbm_launchers": (4, None),
            }
        },
    ),
    (
        "mil.gov.ua EN 2022-06-01: deltas including (+0)",
        _f("en_mil_gov_ua_2022-06-01.txt"),
        D(2022, 6, 1),
        {
            D(2022, 6, 1): {
                "personnel": (30700, 200),
                "tanks": (1361, 3),
                "armoured_vehicles": (3343, 41),
                "artillery": (659, 10),
                "mlrs": (207, 0),
                "air_defense": (94, 1),
                "aircraft": (208, 0),
                "helicopters": (175, 1),
                "uav": (519, 4),
                "cruise_missiles": (120, 0),
                "warships": (13, 0),
                "vehicles": (2290, 15),
                "special_equipment": (49, 1),
            }
        },
    ),
    (
        "mil.gov.ua EN 2022-07-01: an ASCII hyphen as the dash",
        _f("en_mil_gov_ua_2022-07-01.txt"),
        D(2022, 7, 1),
        {
            D(2022, 7, 1): {
                "personnel": (35750, 150),
                "tanks": (1577, 4),
                "armoured_vehicles": (3736, 10),
                "artillery": (796, 6),
                "mlrs": (246, 0),
                "air_defense": (105, 1),
                "aircraft": (217, 0),
                "helicopters": (186, 1),
                "uav": (645, 4),
                "cruise_missiles": (143, 0),
                "warships": (15, 1),
                "vehicles": (2610, 8),
                "special_equipment": (61, 0),
            }
        },
    ),
    (
        "mil.gov.ua EN 2022-08-03: no space before the dash, a no-break space after it",
        _f("en_mil_gov_ua_2022-08-03.txt"),
        D(2022, 8, 3),
        {
            D(2022, 8, 3): {
                "personnel": (41350, 180),
                "tanks": (1774, 6),
                "armoured_vehicles": (4022, 8),
                "artillery": (939, 3),
                "mlrs": (259, 0),
                "air_defense": (118, 1),
                "aircraft": (223, 0),
                "helicopters": (191, 0),
                "uav": (740, 1),
                "cruise_missiles": (180, 6),
                "warships": (15, 0),
                "vehicles": (2922, 8),
                "special_equipment": (83, 1),
            }
        },
    ),
    (
        "mil.gov.ua EN 2022-08-09: bilingual label 'особового складу / personnel', 'од' after deltas",
        _f("en_mil_gov_ua_2022-08-09.txt"),
        D(2022, 8, 9),
        {
            D(2022, 8, 9): {
                "personnel": (42640, 300),
                "tanks": (1817, 6),
                "armoured_vehicles": (4076, 6),
                "artillery": (964, 4),
                "mlrs": (261, 0),
                "air_defense": (133, 1),
                "aircraft": (223, 0),
                "helicopters": (193, 1),
                "uav": (757, 3),
                "cruise_missiles": (185, 3),
                "warships": (15, 0),
                "vehicles": (2998, 5),
                "special_equipment": (87, 1),
            }
        },
    ),
    (
        "mil.gov.ua UK 2022-07-08",
        _f("uk_mil_gov_ua_2022-07-08.txt"),
        D(2022, 7, 8),
        {
            D(2022, 7, 8): {
                "personnel": (36900, 250),
                "tanks": (1637, 35),
                "armoured_vehicles": (3811, 14),
                "artillery": (828, 13),
                "mlrs": (247, 0),
                "air_defense": (107, 0),
                "aircraft": (217, 0),
                "helicopters": (187, 0),
                "uav": (669, 2),
                "cruise_missiles": (155, 0),
                "warships": (15, 0),
                "vehicles": (2685, 20),
                "special_equipment": (66, 0),
            }
        },
    ),
    (
        "Telegram repost UK 2022-04-30: emoji, hashtag, bullets, zero deltas left out, commentary after",
        _f("telegram_repost_uk_2022-04-30.txt"),
        D(2022, 4, 30),
        {
            D(2022, 4, 30): {
                "personnel": (23200, 200),
                "tanks": (1008, 22),
                "armoured_vehicles": (2445, 27),
                "artillery": (436, 1),
                "mlrs": (151, 0),
                "air_defense": (77, 4),
                "aircraft": (190, 1),
                "helicopters": (155, 0),
                "vehicles": (1701 + 76, 6),
                "warships": (8, 0),
                "uav": (232, 3),
                "special_equipment": (32, 1),
                "srbm_launchers": (4, 0),
            }
        },
    ),
    (
        "Telegram repost UK 2022-08-21",
        _f("telegram_repost_uk_2022-08-21.txt"),
        D(2022, 8, 21),
        {
            D(2022, 8, 21): {
                "personnel": (45200, 300),
                "tanks": (1912, 5),
                "armoured_vehicles": (4224, 12),
                "artillery": (1028, 10),
                "mlrs": (266, 0),
                "air_defense": (141, 0),
                "aircraft": (234, 0),
                "helicopters": (197, 0),
                "uav": (806, 3),
                "cruise_missiles": (190, 0),
                "warships": (15, 0),
                "vehicles": (3143, 6),
                "special_equipment": (99, 2),
            }
        },
    ),
    (
        "aggregator UK 2023-03-23..25: three days, a date line each, em dashes",
        _f("minfin_index_style_uk_2023-03-23_to_25.txt"),
        D(2023, 3, 25),
        {
            D(2023, 3, 25): {
                "tanks": (3580, 6),
                "armoured_vehicles": (6932, 11),
                "artillery": (2623, 7),
                "mlrs": (520, 9),
                "air_defense": (276, 0),
                "aircraft": (305, 0),
                "helicopters": (291, 1),
                "uav": (2214, 6),
                "cruise_missiles": (911, 0),
                "warships": (18, 0),
                "vehicles": (5483, 19),
                "special_equipment": (279, 2),
                "personnel": (169890, 720),
            },
            D(2023, 3, 24): {
                "tanks": (3574, 4),
                "armoured_vehicles": (6921, 23),
                "artillery": (2616, 8),
                "mlrs": (511, 0),
                "air_defense": (276, 3),
                "aircraft": (305, 0),
                "helicopters": (290, 0),
                "uav": (2208, 5),
                "cruise_missiles": (911, 2),
                "warships": (18, 0),
                "vehicles": (5464, 12),
                "special_equipment": (277, 4),
                "personnel": (169170, 1020),
            },
            D(2023, 3, 23): {
                "tanks": (3570, 13),
                "armoured_vehicles": (6898, 11),
                "artillery": (2608, 19),
                "mlrs": (511, 2),
                "air_defense": (273, 1),
                "aircraft": (305, 0),
                "helicopters": (290, 0),
                "uav": (2203, 20),
                "cruise_missiles": (909, 0),
                "warships": (18, 0),
                "vehicles": (5452, 18),
                "special_equipment": (273, 3),
                "personnel": (168150, 660),
            },
        },
    ),
    (
        "news EN 2025-06-14: one line, thousands separators",
        NEWS_2025_EN,
        D(2025, 6, 14),
        {D(2025, 6, 14): JUNE_14_2025},
    ),
    (
        "Telegram UK 2025-06-14 as HTML: <br>, emoji, bullets, odd spaces, two-digit years",
        NEWS_2025_UK_HTML,
        D(2025, 6, 14),
        {D(2025, 6, 14): JUNE_14_2025},
    ),
]

# Posts that are not loss reports: they yield nothing, and that is not an error.
NOT_REPORTS = [
    "Russian forces shelled Kharkiv overnight; 3 people were injured.",
    "The General Staff's operational update: 220 combat clashes took place over the past day.",
    "<p>Strike the occupier! Let's win together! Our strength is in the truth!</p>",
    "",
]
