"""The russianwarship.rip v2 API through the JSON source and the field mapping (real responses)."""

import datetime as dt
import json

import pytest
from genstaff_cases import FIXTURES

from tallywatch.config import Source
from tallywatch.extract import EXTRACTORS
from tallywatch.ingest import extract_items
from tallywatch.sources import PARSERS
from tallywatch.sources.http import FetchError

API = FIXTURES / "russianwarship_api_v2"
SOURCE = Source(name="rw", kind="json", url="http://127.0.0.1/x", extractor="russianwarship")


def figures_of(raw: bytes):
    docs = PARSERS["json"](raw, SOURCE)
    return {
        (f.metric, f.as_of): (f.value, f.reported_delta) for item in extract_items(docs, SOURCE) for f in item.figures
    }


def test_single_day_response_with_escaped_slashes():
    got = figures_of((API / "statistics_2022-10-03.json").read_bytes())
    day = dt.date(2022, 10, 3)
    assert got[("personnel", day)] == (60430, 320)
    assert got[("tanks", day)] == (2380, 3)
    assert got[("armoured_vehicles", day)] == (4991, 16)
    assert got[("vehicles", day)] == (3811, 15)
    assert got[("srbm_launchers", day)] == (4, 0)
    assert ("submarines", day) not in got  # 2022 responses lack the key
    assert len(got) == 14


def test_docs_example_with_war_status_and_submarines():
    got = figures_of((API / "statistics_2022-04-14_docs_example.json").read_bytes())
    day = dt.date(2022, 4, 14)
    assert got[("personnel", day)] == (19900, 100)
    assert got[("aircraft", day)] == (160, 2)
    assert got[("submarines", day)] == (0, 0)
    assert len(got) == 15


def test_2022_11_24_response():
    got = figures_of((API / "statistics_2022-11-24.json").read_bytes())
    assert got[("armoured_vehicles", dt.date(2022, 11, 24))] == (5839, 7)
    assert got[("cruise_missiles", dt.date(2022, 11, 24))] == (531, 51)


def test_2026_snapshot_maps_the_reused_key_to_ground_robots():
    record = json.loads((API / "derived_snapshot_2026-10-06_costofwarua_losses.json").read_text())
    envelope = json.dumps({"message": "ok", "data": record}).encode()
    got = figures_of(envelope)
    day = dt.date(2026, 10, 6)
    assert got[("personnel", day)] == (1544260, 1540)
    assert got[("uav", day)] == (549986, 1891)
    assert got[("ground_robots", day)] == (2866, 7)
    assert ("srbm_launchers", day) not in got


def test_list_envelope_gives_one_document_per_record():
    one = json.loads((API / "statistics_2022-10-03.json").read_text())["data"]
    two = json.loads((API / "statistics_2022-11-24.json").read_text())["data"]
    raw = json.dumps({"message": "ok", "data": {"paging": {"next_url": None}, "records": [two, one]}}).encode()
    docs = PARSERS["json"](raw, SOURCE)
    assert [d.guid for d in docs] == ["2022-11-24", "2022-10-03"]
    assert figures_of(raw)[("personnel", dt.date(2022, 10, 3))] == (60430, 320)


def test_unknown_keys_are_kept_and_bad_values_skipped(caplog):
    raw = json.dumps(
        {"data": {"date": "2026-11-01", "stats": {"tanks": 12500, "laser_systems": 3, "planes": "n/a"}, "increase": {}}}
    ).encode()
    got = figures_of(raw)
    assert got == {("tanks", dt.date(2026, 11, 1)): (12500, None), ("laser_systems", dt.date(2026, 11, 1)): (3, None)}
    assert "planes on 2026-11-01 is not a whole number" in caplog.text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty response body"),
        (b"<html><body>Bad gateway</body></html>", "not valid JSON"),
        (b'{"message": "nope"}', "no records in the response at data.records or data"),
        (b'{"data": {"date": "2022-10', "not valid JSON"),
    ],
)
def test_broken_json_is_a_clear_error(raw, message):
    with pytest.raises(FetchError, match=message):
        PARSERS["json"](raw, SOURCE)


def test_json_fields_extractor_takes_a_custom_mapping():
    source = Source.from_dict(
        {
            "name": "custom",
            "kind": "json",
            "url": "http://127.0.0.1/c",
            "extractor": "json_fields",
            "mapping": {
                "records": ["rows"],
                "date": "day",
                "values": "totals",
                "deltas": None,
                "metrics": {"kia": "personnel"},
            },
        }
    )
    raw = json.dumps({"rows": [{"day": "2025-06-12", "totals": {"kia": 1000340}}]}).encode()
    (item,) = extract_items(PARSERS["json"](raw, source), source)
    assert [(f.metric, f.value, f.as_of) for f in item.figures] == [("personnel", 1000340, dt.date(2025, 6, 12))]
    assert "json_fields" in EXTRACTORS


def test_json_nested_deeper_than_an_api_answers_is_a_clear_error():
    """Issue 25: 100,000 nested arrays raised an uncaught RecursionError out of the history fill."""
    import pytest

    from tallywatch.sources import json_api
    from tallywatch.sources.http import FetchError

    assert json_api.load(b"[" * 32 + b"]" * 32) is not None
    for depth in (33, 100_000):
        with pytest.raises(FetchError, match="JSON nested deeper than 32 levels"):
            json_api.load(b"[" * depth + b"]" * depth)


def test_a_figure_dated_after_tomorrow_is_refused_by_extraction():
    """Issue 25: an API answering records dated 2030 had them stored as the series' newest day
    (after which no start's fill ran again). A figure of a day that has not come is no report."""
    import datetime as dt

    from tallywatch.config import Source
    from tallywatch.ingest import extract_items
    from tallywatch.models import REPORT_ZONE, Document

    tomorrow = dt.datetime.now(REPORT_ZONE).date() + dt.timedelta(days=1)
    source = Source(name="api", kind="json", url="http://127.0.0.1/x", extractor="russianwarship")
    record = {"stats": {"personnel_units": 1_000_340, "tanks": 10_933}, "increase": {"personnel_units": 1_140}}
    days = [tomorrow, tomorrow + dt.timedelta(days=1), dt.date(2030, 1, 1)]
    docs = [Document("api", str(d), payload={**record, "date": d.isoformat()}) for d in days]
    kept, later, far = extract_items(docs, source)
    assert {f.metric for f in kept.figures} == {"personnel", "tanks"} and kept.verdict != "broken"
    assert later.figures == far.figures == [] and later.verdict == far.verdict == "broken"
    assert far.problems == (
        "personnel for 2030-01-01 is dated after tomorrow, a day no report can be of; ignored",
        "tanks for 2030-01-01 is dated after tomorrow, a day no report can be of; ignored",
    )
