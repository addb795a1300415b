"""The one table of report texts and pages and the figures they must give (see fixtures/SOURCE.md).

Each case (``Case``): a text, or a saved page read through the html source with a selector; the
publication date (for year-less headers and headerless lists); and what it must give: per as_of
date, {metric: (value, reported_delta)}. Every extractor test reads this table, as urlwatch keeps
its filter cases. Cases are real material as the publishers served it (``origin = "real"``); the
few written by us (``origin = "ours"``) cover forms no saved sample shows, and say where their
wording comes from.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real"
D = dt.date
Expected = dict[dt.date, dict[str, tuple[int, int | None]]]


@dataclass(frozen=True)
class Case:
    name: str
    text: str | None  # the document's text (markup or plain); None for a saved page
    published: dt.date | None
    expected: Expected
    page: Path | None = None  # a saved page, read from the element ``selector`` names
    selector: str | None = None
    origin: str = "real"  # real: as published; ours: written for a form no saved sample shows
    coverage: str = "complete"


def _f(name: str) -> str:
    return (FIXTURES / "genstaff_posts" / name).read_text(encoding="utf-8")


# The shipped kmu source's selector (src/tallywatch/default.toml), and mil.gov.ua's article body.
KMU_SELECTOR = "div.news__item--inner"
MIL_SELECTOR = "#aticle-content"
# {day: the report's item lines as published}, header not kept (fixtures/real/SOURCE.md)
_DAYS = json.loads((REAL / "texts" / "item_lines_by_day.json").read_text(encoding="utf-8"))


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

# Real posts (fixtures/genstaff_posts): (name, text, publication date, expected)
_POSTS = [
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

# Pages and texts as the publishers served them (fixtures/real): every page and every day there.
REAL_CASES = [
    Case(
        "kmu.gov.ua EN 2023-05-08: <li> per category in a <div dir=auto>, 'persons were liquidated'",
        None,
        None,
        {
            D(2023, 5, 8): {
                "personnel": (194970, 540),
                "tanks": (3730, 7),
                "armoured_vehicles": (7253, 5),
                "artillery": (3018, 8),
                "mlrs": (554, 0),
                "air_defense": (306, 0),
                "aircraft": (308, 0),
                "helicopters": (294, 0),
                "uav": (2614, 42),
                "cruise_missiles": (947, 0),
                "warships": (18, 0),
                "vehicles": (5958, 6),
                "special_equipment": (384, 4),
            },
        },
        page=REAL / "kmu/ukraine_stats_2023-05-08.html",
        selector=KMU_SELECTOR,
    ),
    Case(
        "kmu.gov.ua EN 2023-08-16: <li> per category, a full-year header",
        None,
        None,
        {
            D(2023, 8, 16): {
                "personnel": (255570, 650),
                "tanks": (4324, 11),
                "armoured_vehicles": (8380, 10),
                "artillery": (5152, 24),
                "mlrs": (714, 0),
                "air_defense": (485, 3),
                "aircraft": (315, 0),
                "helicopters": (314, 0),
                "uav": (4248, 6),
                "cruise_missiles": (1404, 17),
                "warships": (18, 0),
                "vehicles": (7614, 30),
                "special_equipment": (773, 4),
            },
        },
        page=REAL / "kmu/ukraine_stats_2023-08-16.html",
        selector=KMU_SELECTOR,
    ),
    Case(
        "kmu.gov.ua EN 2023-11-05: submarines listed, no full stop on the last line",
        None,
        None,
        {
            D(2023, 11, 5): {
                "personnel": (305090, 990),
                "tanks": (5284, 8),
                "armoured_vehicles": (9953, 14),
                "artillery": (7375, 12),
                "mlrs": (867, 6),
                "air_defense": (570, 2),
                "aircraft": (322, 0),
                "helicopters": (324, 0),
                "uav": (5534, 0),
                "cruise_missiles": (1554, 3),
                "warships": (20, 0),
                "submarines": (1, 0),
                "vehicles": (9730, 14),
                "special_equipment": (1047, 9),
            },
        },
        page=REAL / "kmu/ukraine_stats_2023-11-05.html",
        selector=KMU_SELECTOR,
    ),
    Case(
        "kmu.gov.ua EN 2023-12-15",
        None,
        None,
        {
            D(2023, 12, 15): {
                "personnel": (343890, 1090),
                "tanks": (5706, 14),
                "armoured_vehicles": (10654, 38),
                "artillery": (8099, 11),
                "mlrs": (920, 0),
                "air_defense": (605, 0),
                "aircraft": (324, 0),
                "helicopters": (324, 0),
                "uav": (6226, 20),
                "cruise_missiles": (1608, 2),
                "warships": (22, 0),
                "submarines": (1, 0),
                "vehicles": (10699, 24),
                "special_equipment": (1189, 4),
            },
        },
        page=REAL / "kmu/ukraine_stats_2023-12-15.html",
        selector=KMU_SELECTOR,
    ),
    Case(
        "mil.gov.ua EN 2022-05-10 page: year-less header, the year from the page's date, 'boats / cutters'",
        None,
        None,
        {
            D(2022, 5, 10): {
                "personnel": (26000, 350),
                "tanks": (1170, 25),
                "armoured_vehicles": (2808, 44),
                "artillery": (519, 6),
                "mlrs": (185, 0),
                "air_defense": (87, 0),
                "aircraft": (199, 0),
                "helicopters": (158, 0),
                "uav": (380, 3),
                "cruise_missiles": (94, 0),
                "warships": (12, 0),
                "vehicles": (1980, 10),
                "special_equipment": (41, 0),
            },
        },
        page=REAL / "mil/mil_2022-05-10.html",
        selector=MIL_SELECTOR,
    ),
    Case(
        "mil.gov.ua EN 2022-07-18 page: 'од' after the deltas, the greatest-losses sentence after the list",
        None,
        None,
        {
            D(2022, 7, 18): {
                "personnel": (38450, 150),
                "tanks": (1687, 3),
                "armoured_vehicles": (3886, 7),
                "artillery": (849, 3),
                "mlrs": (248, 0),
                "air_defense": (113, 3),
                "aircraft": (220, 0),
                "helicopters": (188, 0),
                "uav": (690, 2),
                "cruise_missiles": (166, 0),
                "warships": (15, 0),
                "vehicles": (2753, 7),
                "special_equipment": (70, 2),
            },
        },
        page=REAL / "mil/mil_2022-07-18.html",
        selector=MIL_SELECTOR,
    ),
    Case(
        "bilingual repost 2024-01-26 (cripo.com.ua): 'особового складу / personnel ‒ близько/ about', no header kept",
        _DAYS["2024-01-26"],
        D(2024, 1, 26),
        {
            D(2024, 1, 26): {
                "personnel": (380600, 990),
                "tanks": (6265, 8),
                "armoured_vehicles": (11637, 16),
                "artillery": (9082, 15),
                "mlrs": (972, 0),
                "air_defense": (660, 0),
                "aircraft": (331, 0),
                "helicopters": (324, 0),
                "uav": (7033, 0),
                "cruise_missiles": (1845, 1),
                "warships": (23, 0),
                "submarines": (1, 0),
                "vehicles": (12064, 20),
                "special_equipment": (1425, 5),
            },
        },
    ),
    Case(
        "bilingual repost 2024-02-10: long bilingual labels ('БПЛА оперативно-тактичного рівня / UAV …')",
        _DAYS["2024-02-10"],
        D(2024, 2, 10),
        {
            D(2024, 2, 10): {
                "personnel": (394270, 980),
                "tanks": (6394, 9),
                "armoured_vehicles": (11942, 21),
                "artillery": (9459, 24),
                "mlrs": (981, 0),
                "air_defense": (666, 0),
                "aircraft": (332, 0),
                "helicopters": (325, 0),
                "uav": (7235, 26),
                "cruise_missiles": (1881, 0),
                "warships": (24, 0),
                "submarines": (1, 0),
                "vehicles": (12579, 28),
                "special_equipment": (1512, 3),
            },
        },
    ),
    Case(
        "bilingual repost 2024-03-10",
        _DAYS["2024-03-10"],
        D(2024, 3, 10),
        {
            D(2024, 3, 10): {
                "personnel": (424060, 900),
                "tanks": (6731, 19),
                "armoured_vehicles": (12850, 27),
                "artillery": (10466, 38),
                "mlrs": (1015, 3),
                "air_defense": (709, 2),
                "aircraft": (347, 0),
                "helicopters": (325, 0),
                "uav": (8082, 41),
                "cruise_missiles": (1919, 0),
                "warships": (26, 0),
                "submarines": (1, 0),
                "vehicles": (13752, 69),
                "special_equipment": (1672, 6),
            },
        },
    ),
    Case(
        "kmu.gov.ua EN 2023-06-05 text: one <p> with <br> lines, header and trailer inside",
        _DAYS["2023-06-05"],
        D(2023, 6, 5),
        {
            D(2023, 6, 5): {
                "personnel": (210350, 410),
                "tanks": (3848, 11),
                "armoured_vehicles": (7523, 11),
                "artillery": (3567, 12),
                "mlrs": (584, 1),
                "air_defense": (349, 5),
                "aircraft": (313, 0),
                "helicopters": (298, 0),
                "uav": (3189, 14),
                "cruise_missiles": (1136, 4),
                "warships": (18, 0),
                "vehicles": (6312, 7),
                "special_equipment": (484, 5),
            },
        },
    ),
    Case(
        "mil.gov.ua EN 2022-10-15 text: <p> lines, no header kept (dated by publication)",
        _DAYS["2022-10-15"],
        D(2022, 10, 15),
        {
            D(2022, 10, 15): {
                "personnel": (64700, 400),
                "tanks": (2524, 3),
                "armoured_vehicles": (5179, 7),
                "artillery": (1582, 16),
                "mlrs": (365, 3),
                "air_defense": (186, 0),
                "aircraft": (268, 0),
                "helicopters": (242, 2),
                "uav": (1210, 11),
                "cruise_missiles": (316, 0),
                "warships": (16, 0),
                "vehicles": (3951, 7),
                "special_equipment": (142, 0),
            },
        },
    ),
]

# --- Forms no saved sample shows: written by us (origin "ours"). The wording of each odd line and
# title is quoted from the published texts as issue #11 lists them (and, for the 2026 mod.gov.ua
# pages, from a public scraper's test of them); the rest of each report is that period's list
# with the bundled dataset's figures for the day, so the expected values are the reference's.
MOD_2026_04_12_EN = """Total russian combat losses in Ukraine as of April 12, 2026
12 April, 2026, 7:32 AM EEST
Total russian military losses on April 11, 2026: 1,070 personnel, 2,081 UAVs.
Personnel:
approximately 1 311 180 (+1 070) persons.
Tanks:
11 859 (+8)
Armoured combat vehicles:
24 384 (+3)
Artillery systems:
39 871 (+73)
MLRS:
1 727 (+1)
Air defence systems:
1 345 (+1)
Aircraft:
435
Helicopters:
351
UAVs operational-tactical level:
233 866 (+2 081)
Cruise missiles:
4 517
Warships / boats:
33
Submarines:
2
Vehicles and fuel tanks:
88 914 (+216)
Special equipment:
4 121
"""
MOD_2026_01_18_EN = """<h1>The estimated combat losses of the enemy as of January 18, 2026</h1>
<p>18 January, 2026, 7:00 AM EEST</p>
<ul>
<li>personnel: about 1 226 420 (+830) persons;</li>
<li>tanks: 11 571 (+2);</li>
<li>armoured combat vehicles: 23 919 (+5);</li>
<li>artillery systems: 36 294 (+33);</li>
<li>MLRS: 1 616 (+1);</li>
<li>air defence systems: 1 278;</li>
<li>aircraft: 434;</li>
<li>helicopters: 347;</li>
<li>UAVs operational-tactical level: 109 450 (+845);</li>
<li>cruise missiles: 4 163;</li>
<li>warships / boats: 28;</li>
<li>submarines: 2;</li>
<li>vehicles and fuel tanks: 74 706 (+105);</li>
<li>special equipment: 4 044.</li>
</ul>"""
MOD_2026_02_05_UK = """<h1>Бойові втрати ворога на 5 лютого 2026 року</h1>
<p>Загальні бойові втрати противника орієнтовно склали:</p>
<ul>
<li>військовослужбовців — близько 1 243 840 (+770) осіб</li>
<li>танків — 11 642 (+5)</li>
<li>бойових броньованих машин — 23 996 (+4)</li>
<li>артилерійських систем — 36 975 (+60)</li>
<li>РСЗВ — 1 636 (+2)</li>
<li>засобів ППО — 1 293</li>
<li>літаків — 435</li>
<li>гелікоптерів — 347</li>
<li>БПЛА оперативно-тактичного рівня — 125 094 (+1 351)</li>
<li>крилатих ракет — 4 245</li>
<li>кораблів / катерів — 28</li>
<li>підводних човнів — 2</li>
<li>автомобільної техніки та автоцистерн — 77 149 (+200)</li>
<li>спеціальної техніки — 4 062</li>
</ul>"""
STANOM_NA_2026_05_05_UK = """Загальні бойові втрати противника станом на 05.05.2026 орієнтовно склали:
особового складу: близько 1 336 120 (+970) осіб;
танків: 11 917 (+3);
бойових броньованих машин: 24 510 (+3);
артилерійських систем: 41 386 (+80);
РСЗВ: 1 770 (+3);
засобів ППО: 1 361 (+4);
літаків: 435;
гелікоптерів: 352;
БПЛА оперативно-тактичного рівня: 274 030 (+1 968);
крилатих ракет: 4 584;
кораблів / катерів: 33;
підводних човнів: 2;
автомобільної техніки та автоцистерн: 94 030 (+206);
спеціальної техніки: 4 170 (+2);
Наземні робототехнічні комплекси: 1 320 (+3).
"""
TWO_ON_ONE_LINE_2022_09_24 = """The total combat losses of the enemy from 24.02 to 24.09 were approximately:
personnel ‒ about 56300 (+240) persons were liquidated,
tanks ‒ 2262 (+8),
APV ‒ 4807 (+11),
artillery systems – 1361 (+6),
MLRS – 327 (+1),
Anti-aircraft warfare systems ‒ 170 (+0),
aircraft – 255 (+1),
helicopters – 220 (+1),
UAV operational-tactical level – 956 (+6),
cruise missiles ‒ 240 (+0),
warships / boats ‒ 15 (+0) vehicles and fuel tanks – 3681 (+22),
special equipment ‒ 126 (+0).
Data are being updated.
"""
STRAY_CHARACTER_2024_01_07 = """<p>The total combat losses of the enemy from 24.02.2022 to 07.01.2024 were approximately:</p>
<ul>
<li>personnel ‒ about 364730 (+860) persons,</li>
<li>tanks ‒ 6022 (+4),</li>
<li>APV ‒ 11180 (+22),</li>
<li>artillery systems – 8653 (+36),</li>
<li>MLRS – 951 (+1),</li>
<li>-aircraft warfare systems ‒ 637 (+4),</li>
<li>aircraft – 329 (+0),</li>
<li>helicopters – 324 (+0),</li>
<li>UAV operational-tactical level – 6811 (+24),</li>
<li>cruise missiles ‒ 1786 (+0),</li>
<li>warships / boats ‒ 23 (+0),</li>
<li>submarines – 1 (+0),</li>
<li>vehicles and fuel tanks – 11523 (+45),</li>
<li>special equipment ‒ 1327 (+10)</li>
</ul>"""
BOATS_AND_BLANK_DELTA_2023_06_10 = """The total combat losses of the enemy from 24.02.2022 to 10.06.2023 were approximately:
personnel ‒ about 214660 (+890) persons were liquidated,
tanks ‒ 3909 (+8),
APV ‒ 7607 (+7),
artilery systems – 3717 (+15),
MLRS – 600 (+1),
Anti-aircraft warfare systems ‒ 362 (+3),
aircraft – 314 (+0),
helicopers – 299 (+0),
UAV operational-tactical level – 3263 (+16),
cruise missiles ‒ 1176 (+),
boats ‒ 18 (+0),
vehicles and fuel tanks – 6428 (+18),
special equipment ‒ 507 (+5).
"""
TRAILING_CLAUSE_2022_04_03_UK = """Загальні бойові втрати противника з 24.02 по 03.04 орієнтовно склали:
особового складу - близько 18000 осіб, 460 полонених,
танків ‒ 644 од,
бойових броньованих машин ‒ 1830 од,
артилерійських систем – 325 од,
РСЗВ - 105 од,
засоби ППО - 54 од,
літаків – 143 од,
гелікоптерів – 134 од,
автомобільної техніки - 1249 од,
кораблі /катери - 7 од,
цистерн з ПММ - 76,
БПЛА оперативно-тактичного рівня - 89,
спеціальна техніка - 24,
пускові установки ОТРК/ТРК - 4.
"""


APRIL_12_2026 = {
    "personnel": (1_311_180, 1070),
    "tanks": (11_859, 8),
    "armoured_vehicles": (24_384, 3),
    "artillery": (39_871, 73),
    "mlrs": (1_727, 1),
    "air_defense": (1_345, 1),
    "aircraft": (435, 0),
    "helicopters": (351, 0),
    "uav": (233_866, 2081),
    "cruise_missiles": (4_517, 0),
    "warships": (33, 0),
    "submarines": (2, 0),
    "vehicles": (88_914, 216),
    "special_equipment": (4_121, 0),
}

# --- mod.gov.ua's 2026 report pages, ours: BUILT FROM THE DESCRIPTION in issue #30 (public
# scrapers' notes; no whole page is saved anywhere). What is taken from it: the title forms ("The
# estimated combat losses of the enemy as of …", "Combat losses of the enemy as of …", "Total
# russian combat losses in Ukraine as of …", "The estimated combat losses of russians over the
# last day: …", "Бойові втрати ворога на 5 лютого 2026 року"), a `<li>label ‒ total (+change);</li>`
# bullet per category with numbers grouped by spaces, "approximately 1 311 180 (+1 070) persons.",
# the 2026 English labels, the page's time printed as "12 April, 2026, 7:32 AM EEST", and the
# summary line of the DAY's numbers before the list ("Total russian military losses on April 11,
# 2026: 1,070 personnel, 2,081 UAVs."). The Ukrainian summary line, the label-first summaries and
# the page around the report (navigation, sidebar, footer) are ours. Figures: the bundled dataset's.
MOD_2026_04_12_EN_BULLETS = [
    "personnel ‒ approximately 1 311 180 (+1 070) persons.",
    "tanks ‒ 11 859 (+8);",
    "armored fighting vehicles ‒ 24 384 (+3);",
    "artillery systems ‒ 39 871 (+73);",
    "MLRS ‒ 1 727 (+1);",
    "air defense assets ‒ 1 345 (+1);",
    "aircraft ‒ 435;",
    "helicopters ‒ 351;",
    "UAVs (operational-tactical level) ‒ 233 866 (+2 081);",
    "cruise missiles ‒ 4 517;",
    "warships and boats ‒ 33;",
    "submarines ‒ 2;",
    "vehicles and fuel tanks ‒ 88 914 (+216);",
    "special equipment ‒ 4 121.",
]
MOD_2026_04_12_UK_BULLETS = [
    "особового складу ‒ близько 1 311 180 (+1 070) осіб;",
    "танків ‒ 11 859 (+8);",
    "бойових броньованих машин ‒ 24 384 (+3);",
    "артилерійських систем ‒ 39 871 (+73);",
    "РСЗВ ‒ 1 727 (+1);",
    "засобів ППО ‒ 1 345 (+1);",
    "літаків ‒ 435;",
    "гелікоптерів ‒ 351;",
    "БпЛА оперативно-тактичного рівня ‒ 233 866 (+2 081);",
    "крилатих ракет ‒ 4 517;",
    "кораблів / катерів ‒ 33;",
    "підводних човнів ‒ 2;",
    "автомобільної техніки та автоцистерн ‒ 88 914 (+216);",
    "спеціальної техніки ‒ 4 121.",
]
MOD_2026_04_12_TITLES = {
    "en": "Total russian combat losses in Ukraine as of April 12, 2026",
    "uk": "Бойові втрати ворога на 12 квітня 2026 року",
}
MOD_2026_04_12_TIMES = {"en": "12 April, 2026, 7:32 AM EEST", "uk": "12 квітня 2026, 07:32"}
# The day summary (the numbers of 11 April: personnel +1,070, UAVs +2,081), in the wordings a
# reader must not take for totals: the one quoted in the issue, label-first ones, and ones shaped
# like a report's header ("Бойові втрати ворога … на 11 квітня"), which must not start a report.
DAY_SUMMARIES = {
    "en-quoted": "Total russian military losses on April 11, 2026: 1,070 personnel, 2,081 UAVs.",
    "en-label-first": "Total russian military losses on April 11, 2026: personnel – 1,070, UAVs – 2,081",
    "en-over-the-last-day": "The estimated combat losses of russians over the last day: personnel – 1,070,"
    " UAVs – 2,081, artillery systems – 73",
    "en-header-shaped": "Combat losses of the enemy over the last day, as of April 11, 2026: personnel – 1,070,"
    " UAVs – 2,081",
    "uk-number-first": "Загальні втрати росіян за 11 квітня 2026 року: 1 070 осіб, 2 081 БпЛА.",
    "uk-za-dobu": "Загальні втрати росіян за минулу добу: особового складу – 1 070, БпЛА – 2 081",
    "uk-za-date": "Втрати ворога за 11 квітня 2026 року: БпЛА – 2 081, особового складу – 1 070,"
    " артилерійських систем – 73",
    "uk-header-shaped": "Бойові втрати ворога за минулу добу на 11 квітня 2026 року: особового складу – 1 070,"
    " БпЛА – 2 081",
}
DAY_NUMBERS_2026_04_11 = {"personnel": 1070, "uav": 2081, "artillery": 73}


def mod_2026_page(language: str, summary: str | None = None, where: str = "before") -> str:
    """A mod.gov.ua report page of 12 April 2026 (ours, from the description above), the day
    summary ``summary`` placed ``before`` the list, ``inside`` it (a bullet of its own between
    the categories) or ``after`` it."""
    bullets = [f"<li>{b}</li>" for b in {"en": MOD_2026_04_12_EN_BULLETS, "uk": MOD_2026_04_12_UK_BULLETS}[language]]
    if summary and where == "inside":
        bullets.insert(5, f"<li>{summary}</li>")
    before = f"<p>{summary}</p>" if summary and where == "before" else ""
    after = f"<p>{summary}</p>" if summary and where == "after" else ""
    return (
        f"<article><h1>{MOD_2026_04_12_TITLES[language]}</h1>\n<p>{MOD_2026_04_12_TIMES[language]}</p>\n"
        f"{before}\n<ul>\n" + "\n".join(bullets) + f"\n</ul>\n{after}</article>"
    )


# The whole English page of 12 May 2026 (ours): navigation with the latest report's link before
# the article, the day summary, the list with "unmanned ground vehicles", and a sidebar of related
# news whose link texts are other days' report titles, then a footer.
MOD_2026_05_12_EN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Total russian combat losses in Ukraine as of May 12, 2026 | Ministry of Defence of Ukraine</title>
<meta property="og:title" content="Total russian combat losses in Ukraine as of May 12, 2026">
</head>
<body>
<header><nav><a href="/en">Ministry of Defence of Ukraine</a> <a href="/en/news">News</a>
<a href="/en/news/total-russian-combat-losses-in-ukraine-as-of-may-11-2026">Latest:
Total russian combat losses in Ukraine as of May 11, 2026</a></nav></header>
<main>
<article>
<h1>Total russian combat losses in Ukraine as of May 12, 2026</h1>
<p>12 May, 2026, 7:05 AM EEST</p>
<p>Total russian military losses on May 11, 2026: 1,020 personnel, 1,252 UAVs.</p>
<ul>
<li>personnel ‒ approximately 1 343 050 (+1 020) persons.</li>
<li>tanks ‒ 11 926 (+2);</li>
<li>armored fighting vehicles ‒ 24 553 (+2);</li>
<li>artillery systems ‒ 41 935 (+72);</li>
<li>MLRS ‒ 1 785 (+2);</li>
<li>air defense assets ‒ 1 373;</li>
<li>aircraft ‒ 435;</li>
<li>helicopters ‒ 352;</li>
<li>UAVs (operational-tactical level) ‒ 285 506 (+1 252);</li>
<li>cruise missiles ‒ 4 585;</li>
<li>warships and boats ‒ 33;</li>
<li>submarines ‒ 2;</li>
<li>vehicles and fuel tanks ‒ 95 855 (+145);</li>
<li>special equipment ‒ 4 179 (+1);</li>
<li>unmanned ground vehicles ‒ 1 373 (+2).</li>
</ul>
<p>Data are being updated.</p>
</article>
<aside>
<h2>Related news</h2>
<ul>
<li><a href="/en/news/total-russian-combat-losses-in-ukraine-as-of-may-11-2026">Total russian combat losses in Ukraine as of May 11, 2026</a> <span>11 May, 2026, 7:10 AM EEST</span></li>
<li><a href="/en/news/the-estimated-combat-losses-of-russians-over-the-last-day">The estimated combat losses of russians over the last day: 1 010 persons, 1 895 UAVs and 57 artillery systems</a> <span>10 May, 2026, 7:02 AM EEST</span></li>
<li><a href="/en/news/combat-losses-of-the-enemy-as-of-may-9-2026">Combat losses of the enemy as of May 9, 2026</a> <span>9 May, 2026, 7:15 AM EEST</span></li>
</ul>
</aside>
</main>
<footer><p>© 2026 Ministry of Defence of Ukraine</p><p>All materials on this site are available under the Creative Commons Attribution 4.0 license</p></footer>
</body></html>"""
# The Ukrainian page of the same day (ours), its summary line ours too.
MOD_2026_05_12_UK_PAGE = """<!DOCTYPE html>
<html lang="uk"><head><meta charset="utf-8"><title>Бойові втрати ворога на 12 травня 2026 року</title></head>
<body>
<header><nav><a href="/">Міністерство оборони України</a> <a href="/news">Новини</a></nav></header>
<main>
<article>
<h1>Бойові втрати ворога на 12 травня 2026 року</h1>
<p>12 травня 2026, 06:38</p>
<p>Загальні втрати росіян за 11 травня 2026 року: 1 020 осіб, 1 252 БпЛА.</p>
<ul>
<li>особового складу ‒ близько 1 343 050 (+1 020) осіб;</li>
<li>танків ‒ 11 926 (+2);</li>
<li>бойових броньованих машин ‒ 24 553 (+2);</li>
<li>артилерійських систем ‒ 41 935 (+72);</li>
<li>РСЗВ ‒ 1 785 (+2);</li>
<li>засобів ППО ‒ 1 373;</li>
<li>літаків ‒ 435;</li>
<li>гелікоптерів ‒ 352;</li>
<li>БпЛА оперативно-тактичного рівня ‒ 285 506 (+1 252);</li>
<li>крилатих ракет ‒ 4 585;</li>
<li>кораблів / катерів ‒ 33;</li>
<li>підводних човнів ‒ 2;</li>
<li>автомобільної техніки та автоцистерн ‒ 95 855 (+145);</li>
<li>спеціальної техніки ‒ 4 179 (+1);</li>
<li>наземних робототехнічних комплексів ‒ 1 373 (+2).</li>
</ul>
</article>
<aside>
<h2>Читайте також</h2>
<ul>
<li><a href="/news/bojovi-vtrati-voroga-na-11-travnya-2026-roku">Бойові втрати ворога на 11 травня 2026 року</a> <span>11 травня 2026, 06:41</span></li>
<li><a href="/news/bojovi-vtrati-voroga-na-10-travnya-2026-roku">Бойові втрати ворога на 10 травня 2026 року</a> <span>10 травня 2026, 06:35</span></li>
</ul>
</aside>
</main>
<footer><p>© 2026 Міністерство оборони України</p></footer>
</body></html>"""
MAY_12_2026 = {
    "personnel": (1_343_050, 1020),
    "tanks": (11_926, 2),
    "armoured_vehicles": (24_553, 2),
    "artillery": (41_935, 72),
    "mlrs": (1_785, 2),
    "air_defense": (1_373, 0),
    "aircraft": (435, 0),
    "helicopters": (352, 0),
    "uav": (285_506, 1252),
    "cruise_missiles": (4_585, 0),
    "warships": (33, 0),
    "submarines": (2, 0),
    "vehicles": (95_855, 145),
    "special_equipment": (4_179, 1),
    "ground_robots": (1_373, 2),
}
# "Combat losses of the enemy as of February 18, 2026" (ours, the title form from the description).
MOD_2026_02_18_EN = """<h1>Combat losses of the enemy as of February 18, 2026</h1>
<p>18 February, 2026, 7:12 AM EEST</p>
<ul>
<li>personnel ‒ approximately 1 256 080 (+740) persons.</li>
<li>tanks ‒ 11 681 (+3);</li>
<li>armored fighting vehicles ‒ 24 051 (+6);</li>
<li>artillery systems ‒ 37 363 (+40);</li>
<li>MLRS ‒ 1 648;</li>
<li>air defense assets ‒ 1 302 (+1);</li>
<li>aircraft ‒ 435;</li>
<li>helicopters ‒ 347;</li>
<li>UAVs (operational-tactical level) ‒ 137 924 (+1 851);</li>
<li>cruise missiles ‒ 4 314 (+26);</li>
<li>warships and boats ‒ 29;</li>
<li>submarines ‒ 2;</li>
<li>vehicles and fuel tanks ‒ 78 919 (+194);</li>
<li>special equipment ‒ 4 072 (+1).</li>
</ul>"""
# A day whose title is the summary itself ("… over the last day: …", no date in it, ours with the
# day's numbers): the page is dated by its publication, and the title's numbers are no totals.
MOD_2026_06_20_EN_OVER_THE_LAST_DAY = """<h1>The estimated combat losses of russians over the last day: 1 240 persons, 2 246 UAVs and 88 artillery systems</h1>
<p>20 June, 2026, 7:20 AM EEST</p>
<ul>
<li>personnel ‒ approximately 1 390 660 (+1 240) persons.</li>
<li>tanks ‒ 12 041 (+1);</li>
<li>armored fighting vehicles ‒ 24 787 (+4);</li>
<li>artillery systems ‒ 44 386 (+88);</li>
<li>MLRS ‒ 1 883 (+2);</li>
<li>air defense assets ‒ 1 433 (+1);</li>
<li>aircraft ‒ 436;</li>
<li>helicopters ‒ 353;</li>
<li>UAVs (operational-tactical level) ‒ 361 803 (+2 246);</li>
<li>cruise missiles ‒ 4 787;</li>
<li>warships and boats ‒ 33;</li>
<li>submarines ‒ 2;</li>
<li>vehicles and fuel tanks ‒ 109 342 (+476);</li>
<li>special equipment ‒ 4 314 (+5);</li>
<li>unmanned ground vehicles ‒ 1 695 (+7).</li>
</ul>"""


OURS = [
    Case(
        "ours: mod.gov.ua EN 2026-04-12: 'as of April 12, 2026', the label on its own line and the figure under it",
        MOD_2026_04_12_EN,
        D(2026, 4, 12),
        {D(2026, 4, 12): APRIL_12_2026},
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua EN 2026-01-18: 'The estimated combat losses of the enemy as of …', 'label: figure;'",
        MOD_2026_01_18_EN,
        D(2026, 1, 18),
        {
            D(2026, 1, 18): {
                "personnel": (1_226_420, 830),
                "tanks": (11_571, 2),
                "armoured_vehicles": (23_919, 5),
                "artillery": (36_294, 33),
                "mlrs": (1_616, 1),
                "air_defense": (1_278, 0),
                "aircraft": (434, 0),
                "helicopters": (347, 0),
                "uav": (109_450, 845),
                "cruise_missiles": (4_163, 0),
                "warships": (28, 0),
                "submarines": (2, 0),
                "vehicles": (74_706, 105),
                "special_equipment": (4_044, 0),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua UK 2026-02-05: 'Бойові втрати ворога на 5 лютого 2026 року', 'військовослужбовців'",
        MOD_2026_02_05_UK,
        D(2026, 2, 5),
        {
            D(2026, 2, 5): {
                "personnel": (1_243_840, 770),
                "tanks": (11_642, 5),
                "armoured_vehicles": (23_996, 4),
                "artillery": (36_975, 60),
                "mlrs": (1_636, 2),
                "air_defense": (1_293, 0),
                "aircraft": (435, 0),
                "helicopters": (347, 0),
                "uav": (125_094, 1351),
                "cruise_missiles": (4_245, 0),
                "warships": (28, 0),
                "submarines": (2, 0),
                "vehicles": (77_149, 200),
                "special_equipment": (4_062, 0),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: UK 2026-05-05: 'станом на 05.05.2026', colons, 'Наземні робототехнічні комплекси'",
        STANOM_NA_2026_05_05_UK,
        D(2026, 5, 5),
        {
            D(2026, 5, 5): {
                "personnel": (1_336_120, 970),
                "tanks": (11_917, 3),
                "armoured_vehicles": (24_510, 3),
                "artillery": (41_386, 80),
                "mlrs": (1_770, 3),
                "air_defense": (1_361, 4),
                "aircraft": (435, 0),
                "helicopters": (352, 0),
                "uav": (274_030, 1968),
                "cruise_missiles": (4_584, 0),
                "warships": (33, 0),
                "submarines": (2, 0),
                "vehicles": (94_030, 206),
                "special_equipment": (4_170, 2),
                "ground_robots": (1_320, 3),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: EN 2022-09-24: two items on one line ('warships / boats ‒ 15 (+0) vehicles and fuel tanks – 3681 (+22),')",
        TWO_ON_ONE_LINE_2022_09_24,
        D(2022, 9, 24),
        {
            D(2022, 9, 24): {
                "personnel": (56_300, 240),
                "tanks": (2_262, 8),
                "armoured_vehicles": (4_807, 11),
                "artillery": (1_361, 6),
                "mlrs": (327, 1),
                "air_defense": (170, 0),
                "aircraft": (255, 1),
                "helicopters": (220, 1),
                "uav": (956, 6),
                "cruise_missiles": (240, 0),
                "warships": (15, 0),
                "vehicles": (3_681, 22),
                "special_equipment": (126, 0),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: EN 2024-01-07: a label with a stray leading character ('-aircraft warfare systems ‒ 637 (+4)')",
        STRAY_CHARACTER_2024_01_07,
        D(2024, 1, 7),
        {
            D(2024, 1, 7): {
                "personnel": (364_730, 860),
                "tanks": (6_022, 4),
                "armoured_vehicles": (11_180, 22),
                "artillery": (8_653, 36),
                "mlrs": (951, 1),
                "air_defense": (637, 4),
                "aircraft": (329, 0),
                "helicopters": (324, 0),
                "uav": (6_811, 24),
                "cruise_missiles": (1_786, 0),
                "warships": (23, 0),
                "submarines": (1, 0),
                "vehicles": (11_523, 45),
                "special_equipment": (1_327, 10),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: EN 2023-06-10: 'boats ‒ 18', '(+)' with no number (unknown, not 0), slips 'artilery', 'helicopers'",
        BOATS_AND_BLANK_DELTA_2023_06_10,
        D(2023, 6, 10),
        {
            D(2023, 6, 10): {
                "personnel": (214_660, 890),
                "tanks": (3_909, 8),
                "armoured_vehicles": (7_607, 7),
                "artillery": (3_717, 15),
                "mlrs": (600, 1),
                "air_defense": (362, 3),
                "aircraft": (314, 0),
                "helicopters": (299, 0),
                "uav": (3_263, 16),
                "cruise_missiles": (1_176, None),
                "warships": (18, 0),
                "vehicles": (6_428, 18),
                "special_equipment": (507, 5),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: UK 2022-04-03: a clause after the figure ('близько 18000 осіб, 460 полонених'), year-less header",
        TRAILING_CLAUSE_2022_04_03_UK,
        D(2022, 4, 3),
        {
            D(2022, 4, 3): {
                "personnel": (18_000, None),
                "tanks": (644, None),
                "armoured_vehicles": (1_830, None),
                "artillery": (325, None),
                "mlrs": (105, None),
                "air_defense": (54, None),
                "aircraft": (143, None),
                "helicopters": (134, None),
                "vehicles": (1_249 + 76, None),
                "warships": (7, None),
                "uav": (89, None),
                "special_equipment": (24, None),
                "srbm_launchers": (4, None),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua EN page 2026-05-12 whole (nav, sidebar of other days' titles, footer), the day summary"
        " before the list, 2026 labels ('unmanned ground vehicles')",
        MOD_2026_05_12_EN_PAGE,
        D(2026, 5, 12),
        {D(2026, 5, 12): MAY_12_2026},
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua UK page 2026-05-12 whole, 'Загальні втрати росіян за 11 травня …' before the list",
        MOD_2026_05_12_UK_PAGE,
        D(2026, 5, 12),
        {D(2026, 5, 12): MAY_12_2026},
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua EN 2026-04-12 bullets, 2026 labels ('air defense assets', 'UAVs (operational-tactical level)')",
        mod_2026_page("en"),
        D(2026, 4, 12),
        {D(2026, 4, 12): APRIL_12_2026},
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua EN 2026-02-18: 'Combat losses of the enemy as of February 18, 2026'",
        MOD_2026_02_18_EN,
        D(2026, 2, 18),
        {
            D(2026, 2, 18): {
                "personnel": (1_256_080, 740),
                "tanks": (11_681, 3),
                "armoured_vehicles": (24_051, 6),
                "artillery": (37_363, 40),
                "mlrs": (1_648, 0),
                "air_defense": (1_302, 1),
                "aircraft": (435, 0),
                "helicopters": (347, 0),
                "uav": (137_924, 1851),
                "cruise_missiles": (4_314, 26),
                "warships": (29, 0),
                "submarines": (2, 0),
                "vehicles": (78_919, 194),
                "special_equipment": (4_072, 1),
            }
        },
        origin="ours",
    ),
    Case(
        "ours: mod.gov.ua EN 2026-06-20: title 'The estimated combat losses of russians over the last day: 1 240"
        " persons, …' (no date: dated by the publication; its numbers are the day's, no totals)",
        MOD_2026_06_20_EN_OVER_THE_LAST_DAY,
        D(2026, 6, 20),
        {
            D(2026, 6, 20): {
                "personnel": (1_390_660, 1240),
                "tanks": (12_041, 1),
                "armoured_vehicles": (24_787, 4),
                "artillery": (44_386, 88),
                "mlrs": (1_883, 2),
                "air_defense": (1_433, 1),
                "aircraft": (436, 0),
                "helicopters": (353, 0),
                "uav": (361_803, 2246),
                "cruise_missiles": (4_787, 0),
                "warships": (33, 0),
                "submarines": (2, 0),
                "vehicles": (109_342, 476),
                "special_equipment": (4_314, 5),
                "ground_robots": (1_695, 7),
            }
        },
        origin="ours",
    ),
]

CASES = [Case(*post) for post in _POSTS] + REAL_CASES + OURS

# Posts that are not loss reports: they yield nothing, and that is not an error.
NOT_REPORTS = [
    "Russian forces shelled Kharkiv overnight; 3 people were injured.",
    "The General Staff's operational update: 220 combat clashes took place over the past day.",
    "<p>Strike the occupier! Let's win together! Our strength is in the truth!</p>",
    "",
]
