"""The data API explains itself (issue 29, item 4), through the real web app on 127.0.0.1 over the
June 2025 store the real ingest filled from the bundled General Staff series: ``/api/v1/`` lists the
endpoints, ``/api/v1/openapi.json`` describes them (OpenAPI 3.1, accepted by openapi-spec-validator),
every documented path answers, every real answer validates against its documented schema, every
example in the description is what that request really answers, and every error is RFC 9457
problem JSON naming what was wrong."""

import copy
import csv
import io
import json
import os
import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from webapp import june_database, serve

from tallywatch.web import api

BASE = "https://losses.example.org"  # june_database's [web] public_url
PROBLEM = "application/problem+json"
# TALLYWATCH_WRITE_EXAMPLES=1: the examples file rewritten from the real answers (then read the diff)
WRITE = os.environ.get("TALLYWATCH_WRITE_EXAMPLES") == "1"


@pytest.fixture(scope="module")
def june(tmp_path_factory):
    return june_database(tmp_path_factory.mktemp("june"))


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch", "head", "options"):
                yield path, method, op


def pointer(doc, fragment: str):
    """The part of the document a JSON Pointer (RFC 6901) names."""
    node = doc
    for part in fragment.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def validator(doc, schema) -> Draft202012Validator:
    """A validator for one of the document's schemas, its ``#/components/…`` references resolved."""
    whole = {"components": doc["components"], "allOf": [schema]}
    return Draft202012Validator(whole, format_checker=Draft202012Validator.FORMAT_CHECKER)


def settled(value, example):
    """A real events answer with the times it was stored set to the example's (they are the time of
    the test's ingest); each must still be an ISO 8601 time with its offset."""
    if example is None:  # a new example, being written
        return value
    if isinstance(value, str):  # events as CSV: the stored_at column
        rows, wanted = list(csv.reader(io.StringIO(value))), list(csv.reader(io.StringIO(example)))
        if rows and rows[0] and rows[0][-2:] == ["stored_at", "text"] and len(rows) == len(wanted):
            for row, want in zip(rows[1:], wanted[1:], strict=True):
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", row[-2]), row
                row[-2] = want[-2]
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(rows)
            return out.getvalue()
        return value
    if isinstance(value, dict) and isinstance(value.get("events"), list):
        value = copy.deepcopy(value)
        for event, want in zip(value["events"], example.get("events", []), strict=False):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", event["stored_at"]), event
            event["stored_at"] = want["stored_at"]
    return value


def test_the_description_is_valid_openapi_3_1_and_says_whose_figures_these_are(june):
    async def steps(client, pipeline):
        return await client.get("/api/v1/openapi.json", headers={"Origin": "https://someone.example"})

    answer = serve(june, steps)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.headers["access-control-allow-origin"] == "*" and answer.headers["etag"]
    doc = answer.json()
    validate(doc)  # openapi-spec-validator: raises on anything OpenAPI 3.1 does not allow
    assert doc["openapi"].startswith("3.1.")
    assert doc["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["servers"] == [{"url": BASE}]  # [web] public_url, never the request's Host
    info = doc["info"]
    assert "Figures: General Staff of the Armed Forces of Ukraine" in info["description"]  # the page's words
    assert "Ukrainian official claims" in info["description"]
    assert "PetroIvaniuk/2022-Ukraine-Russia-War-Dataset" in info["description"]
    assert info["license"] == {"name": "MIT", "identifier": "MIT"}
    documented = {path for path, _m, _o in operations(doc)}
    assert {
        "/api/v1/",
        "/api/v1/openapi.json",
        "/api/v1/latest",
        "/api/v1/latest.csv",
        "/api/v1/series/{metric}",
        "/api/v1/series/{metric}.csv",
        "/api/v1/events",
        "/api/v1/events.csv",
        "/api/v1/problems/{name}",
    } <= documented
    metric = next(p for p in doc["paths"]["/api/v1/series/{metric}"]["get"]["parameters"] if p["name"] == "metric")
    assert {"personnel", "tanks", "uav"} <= set(metric["schema"]["enum"])
    for path, _method, op in operations(doc):
        assert op["summary"] and "\n" not in op["summary"], path
        for status in ("400", "404"):
            if status in op["responses"]:
                assert list(op["responses"][status]["content"]) == [PROBLEM], (path, status)
        assert op["responses"]["405"]["$ref"] == "#/components/responses/MethodNotAllowed", path
        if path != "/api/v1/openapi.json":  # the description is its own example
            for media, content in op["responses"]["200"]["content"].items():
                assert content.get("examples"), (path, media)


def test_every_documented_answer_is_real_and_matches_its_schema(june):
    """Each example in the description is the real answer to the request it names (the June 2025
    store), and each real answer validates against the documented schema: the description can't
    lie, nor drift from what the API says."""
    examples = []

    async def steps(client, pipeline):
        doc = (await client.get("/api/v1/openapi.json")).json()
        for path, method, op in operations(doc):
            for status, response in op["responses"].items():
                response = pointer(doc, response["$ref"].removeprefix("#")) if "$ref" in response else response
                for media, content in response.get("content", {}).items():
                    for name, example in content.get("examples", {}).items():
                        asked = example["x-request"]
                        headers = {"Accept": media} if media == "text/csv" and ".csv" not in asked else {}
                        real = await client.request(example.get("x-method", method.upper()), asked, headers=headers)
                        examples.append((path, status, media, content, name, example, real))
        return doc, examples

    doc, examples = serve(june, steps)
    seen, fresh = set(), {}
    for path, status, media, content, name, example, real in examples:
        where = f"{path} {status} {media} {name} ({example['x-request']})"
        assert str(real.status_code) == status, (where, real.text[:300])
        assert real.headers["content-type"].split(";")[0] == media, where
        value = real.json() if "json" in media else real.text
        value = settled(value, example["value"])
        fresh[name] = value
        validator(doc, content["schema"]).validate(value)
        if not WRITE:
            assert value == example["value"], f"{where}: the example is not what the API answers now:\n{value}"
        if status == "200":
            seen.add(path)
    assert seen >= {path for path, _m, _o in operations(doc)} - {"/api/v1/openapi.json"}
    if WRITE:
        api.write_examples(fresh)


def test_the_index_lists_every_endpoint_with_a_link_to_its_description(june):
    async def steps(client, pipeline):
        return [
            await client.get("/api/v1/", headers={"Origin": "https://someone.example"}),
            await client.get("/api/v1/openapi.json"),
            await client.get("/api/", follow_redirects=False),
            await client.get("/api/", follow_redirects=True),
            await client.get("/api", follow_redirects=True),
            await client.get("/api/v1", follow_redirects=True),
        ]

    index, described, redirect, *followed = serve(june, steps)
    assert index.status_code == 200 and index.headers["access-control-allow-origin"] == "*"
    body, doc = index.json(), described.json()
    assert body["description"] == f"{BASE}/api/v1/openapi.json"
    assert "Figures: General Staff of the Armed Forces of Ukraine" in body["about"]
    listed = {(e["method"], e["path"]) for e in body["endpoints"]}
    assert listed == {(m.upper(), p) for p, m, _o in operations(doc)}
    for endpoint in body["endpoints"]:
        link, fragment = endpoint["description"].split("#", 1)
        assert link == f"{BASE}/api/v1/openapi.json"
        assert pointer(doc, fragment)["summary"] == endpoint["summary"]
    assert redirect.status_code in (301, 307, 308) and redirect.headers["location"].endswith("/api/v1/")
    for answer in followed:
        assert str(answer.url).endswith("/api/v1/") and answer.json() == body


def test_every_api_error_is_problem_json_naming_what_was_wrong(june):
    cases = [
        ("GET", "/api/v1/series/tankz", 404, "unknown-metric", "no metric named 'tankz'"),
        ("GET", "/api/v1/series/tanks?from=yesterday", 400, "bad-parameter", "from: expected a date such as"),
        ("GET", "/api/v1/series/tanks.csv?to=13.06.2025", 400, "bad-parameter", "to: expected a date such as"),
        ("GET", "/api/v1/events?since=soon", 400, "bad-parameter", "since: expected a date or a time"),
        ("GET", "/api/v1/events?limit=many", 400, "bad-parameter", "limit: expected a number from 1 to 500"),
        ("GET", "/api/v1/nothing/here", 404, "not-found", "nothing at /api/v1/nothing/here"),
        ("GET", "/api/v2/latest", 404, "not-found", "nothing at /api/v2/latest"),
        ("POST", "/api/v1/latest", 405, "method-not-allowed", "POST is not allowed on /api/v1/latest"),
        ("DELETE", "/api/v1/series/tanks", 405, "method-not-allowed", "DELETE is not allowed on /api/v1/series/tanks"),
        ("GET", "/api/v1/problems/nonsense", 404, "not-found", "no problem type named 'nonsense'"),
    ]

    async def steps(client, pipeline):
        doc = (await client.get("/api/v1/openapi.json")).json()
        origin = {"Origin": "https://someone.example"}
        answers = [await client.request(method, path, headers=origin) for method, path, *_ in cases]
        types = {a.json()["type"] for a in answers if a.headers["content-type"] == PROBLEM}
        described = {t: await client.get(t.removeprefix(BASE)) for t in types}
        pages = [await client.get("/nothing/at/all"), await client.delete("/"), await client.get("/xx/subscribe")]
        return doc, answers, described, pages

    doc, answers, described, pages = serve(june, steps)
    problem = validator(doc, {"$ref": "#/components/schemas/Problem"})
    for (_method, path, status, kind, detail), answer in zip(cases, answers, strict=True):
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"] == PROBLEM, path
        assert answer.headers["access-control-allow-origin"] == "*", path  # a page on another site can read why
        body = answer.json()
        problem.validate(body)
        assert body["type"] == f"{BASE}/api/v1/problems/{kind}" and body["status"] == status
        assert body["detail"].startswith(detail), (path, body)
        assert body["instance"] == path
        info = described[body["type"]]
        assert info.status_code == 200 and info.json()["title"] == body["title"] and info.json()["status"] == status
    unknown, bad_day, *_rest = (a.json() for a in answers)
    assert "tanks" in unknown["metrics"] and bad_day["parameter"] == "from"
    post = answers[7]
    assert set(post.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    for page in pages:  # the pages keep their own errors: not problem JSON
        assert page.status_code in (404, 405) and PROBLEM not in page.headers.get("content-type", ""), page.url


def test_the_examples_file_holds_json_the_description_can_carry():
    """The examples live in one file beside the code; each names its request and answer."""
    examples = api.examples()
    assert examples and all(set(e) >= {"request", "status", "media_type", "value"} for e in examples.values())
    json.dumps(examples)
