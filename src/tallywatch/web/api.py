"""The data API describes itself: ``/api/v1/`` lists its endpoints, ``/api/v1/openapi.json`` is an
OpenAPI 3.1 description of every one of them (parameters, response schemas in JSON Schema 2020-12,
CSV as ``text/csv``, an example each, the errors) and ``/api/v1/problems/{name}`` says what each
kind of error (RFC 9457 problem JSON, ``data.problem``) means.

The examples are real answers: ``api_examples.json`` holds each with the request it answers, and
``tests/test_web_api.py`` asks the web app each of those requests over the June 2025 figures and
checks it answers exactly that (``TALLYWATCH_WRITE_EXAMPLES=1`` there writes the file anew).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..channels.render import credit

if TYPE_CHECKING:
    from ..config import Config

EXAMPLES = "api_examples.json"
EXAMPLE_BASE = "https://losses.example.org"  # the address the examples were answered at (the tests')
VERSION = "/api/v1"
MAX_EVENTS = 500  # the most /events lists at once
PROBLEM_MEDIA_TYPE = "application/problem+json"
# The API's problem types (RFC 9457): name → (status, title, what it means). Each type's URI is
# ``/api/v1/problems/{name}``, which answers with these words.
PROBLEMS = {
    "unknown-metric": (
        404,
        "Unknown metric",
        "The path names a metric this service does not keep; the member 'metrics' lists those it does.",
    ),
    "bad-parameter": (
        400,
        "Bad parameter",
        "A query parameter is not in the form the endpoint takes; the member 'parameter' names it and "
        "'detail' says what was expected.",
    ),
    "not-found": (404, "Not found", "Nothing is at this path; the endpoints are listed at /api/v1/."),
    "method-not-allowed": (
        405,
        "Method not allowed",
        "The endpoint answers only the methods its Allow header names (GET and HEAD): the API is read-only.",
    ),
}
ABOUT = (
    "Russia's losses as reported by the General Staff of the Armed Forces of Ukraine: the daily "
    "totals, their changes, and the alerts they set off."
)

# -- the schemas ------------------------------------------------------------------------------------

DATE = {"type": "string", "format": "date", "description": "A calendar day, YYYY-MM-DD (the report's day, Kyiv time)."}
COUNT = {"type": "integer"}
CHANGE = {
    "type": ["integer", "null"],
    "description": "The change since the figure before it; null where there is none to compare with.",
}


def _object(properties: dict, description: str = "") -> dict:
    out = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return {"description": description, **out} if description else out


SCHEMAS: dict[str, Any] = {
    "Figure": _object(
        {
            "metric": {"type": "string", "description": "The category's id (personnel, tanks, uav, …)."},
            "name": {"type": "string", "description": "The category's name in English, as the reports say it."},
            "date": DATE,
            "value": {**COUNT, "description": "The total since 24 February 2022."},
            "change": CHANGE,
            "source": {"type": "string", "description": "The source it was read from (bundled-genstaff: the history)."},
        },
        "A category's newest figure.",
    ),
    "Latest": _object(
        {
            "about": {"type": "string", "description": "Whose figures these are."},
            "date": {"type": ["string", "null"], "format": "date", "description": "The newest figure's day."},
            "day_of_war": {"type": ["integer", "null"], "description": "That day's number (24 February 2022 is 1)."},
            "figures": {"type": "array", "items": {"$ref": "#/components/schemas/Figure"}},
        }
    ),
    "Point": _object({"date": DATE, "value": COUNT, "change": CHANGE}),
    "Series": _object(
        {
            "metric": {"type": "string"},
            "name": {"type": "string"},
            "kind": {
                "enum": ["total", "daily"],
                "description": "total: a running total; daily: a count of that day alone.",
            },
            "points": {"type": "array", "items": {"$ref": "#/components/schemas/Point"}},
        }
    ),
    "Event": _object(
        {
            "id": {"type": "integer", "description": "Increases with each event stored: the newest has the highest."},
            "key": {
                "type": "string",
                "description": "Stable: the same event always has the same key (milestone:personnel:1000000).",
            },
            "rule": {
                "type": "string",
                "description": "What it is: report (the daily report), milestone, approaching, spike, record, "
                "correction, …",
            },
            "metric": {"type": "string", "description": "Its category; empty for a daily report (all of them)."},
            "date": DATE,
            "value": COUNT,
            "severity": {"enum": ["info", "warning", "critical"]},
            "text": {"type": "string", "description": "What it says, in English."},
            "link": {"type": ["string", "null"], "description": "The original report, where the source gave one."},
            "stored_at": {"type": "string", "format": "date-time", "description": "When it was stored (UTC)."},
            "data": {"type": "object", "description": "The rule's own details (its figures, levels, ranks)."},
        }
    ),
    "Events": _object({"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}),
    "Endpoint": _object(
        {
            "path": {"type": "string"},
            "method": {"type": "string"},
            "summary": {"type": "string"},
            "description": {"type": "string", "format": "uri", "description": "This endpoint in the description."},
        }
    ),
    "Index": _object(
        {
            "about": {"type": "string"},
            "description": {"type": "string", "format": "uri", "description": "The OpenAPI description."},
            "endpoints": {"type": "array", "items": {"$ref": "#/components/schemas/Endpoint"}},
        }
    ),
    "ProblemType": _object(
        {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "description": {"type": "string"},
        },
        "What one kind of error means.",
    ),
    "Problem": {
        "type": "object",
        "description": "An error, as RFC 9457 problem details.",
        "properties": {
            "type": {"type": "string", "format": "uri", "description": "The kind of error: its URI describes it."},
            "title": {"type": "string", "description": "The kind's name; the same for every error of that kind."},
            "status": {"type": "integer", "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What was wrong with this request."},
            "instance": {"type": "string", "format": "uri-reference", "description": "The request: path and query."},
            "metrics": {
                "type": "array",
                "items": {"type": "string"},
                "description": "unknown-metric: those there are.",
            },
            "parameter": {"type": "string", "description": "bad-parameter: the one that was wrong."},
        },
        "required": ["type", "title", "status", "detail", "instance"],
        "additionalProperties": False,
    },
}
CSV_SCHEMA = {"type": "string", "description": "CSV (RFC 4180), UTF-8, its first row the column names."}

# -- the operations ----------------------------------------------------------------------------------

FROM_TO = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{what} (YYYY-MM-DD); the answer is refused with bad-parameter if it is not a date.",
        "schema": {"type": "string", "format": "date"},
        "example": day,
    }
    for name, what, day in (
        ("from", "The first day to list", "2025-06-10"),
        ("to", "The last day to list", "2025-06-13"),
    )
]
EVENTS_PARAMETERS = [
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "Only events stored since then: a day or a time, ISO 8601 (UTC where it names no offset).",
        "schema": {"type": "string"},
        "example": "2025-06-12T06:00:00Z",
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"At most this many, newest first (1 to {MAX_EVENTS}; a number outside is brought within).",
        "schema": {"type": "integer", "default": 100},
    },
]
CSV_NOTE = " As CSV also at the same path with `Accept: text/csv`."


def _operations() -> list[dict]:
    """Each operation: its path, summary, description, parameters and answers as
    {status: {media type: (schema, [example names])}}."""
    return [
        {
            "path": f"{VERSION}/",
            "summary": "The endpoints, each with a link to its description",
            "description": "This list; the OpenAPI description is at /api/v1/openapi.json.",
            "answers": {"200": {"application/json": ("#/components/schemas/Index", ["index"])}},
        },
        {
            "path": f"{VERSION}/openapi.json",
            "summary": "This description of the API (OpenAPI 3.1)",
            "description": "Its examples are real answers, from June 2025.",
            "answers": {"200": {"application/json": ({"type": "object"}, [])}},
        },
        {
            "path": f"{VERSION}/latest",
            "summary": "Every category's newest figure and its change",
            "description": "Personnel first, then the report's order." + CSV_NOTE,
            "answers": {
                "200": {
                    "application/json": ("#/components/schemas/Latest", ["latest"]),
                    "text/csv": (CSV_SCHEMA, ["latest-as-csv"]),
                }
            },
        },
        {
            "path": f"{VERSION}/latest.csv",
            "summary": "Every category's newest figure and its change, as CSV",
            "description": "Columns: metric, date, value, change (empty where unknown), source.",
            "answers": {"200": {"text/csv": (CSV_SCHEMA, ["latest-csv"])}},
        },
        {
            "path": f"{VERSION}/series/{{metric}}",
            "summary": "One category's daily figures, between two days",
            "description": "The figures accepted (not those held back as suspect), oldest first." + CSV_NOTE,
            "parameters": ["metric", *FROM_TO],
            "answers": {
                "200": {
                    "application/json": ("#/components/schemas/Series", ["series"]),
                    "text/csv": (CSV_SCHEMA, ["series-as-csv"]),
                },
                "400": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["bad-date"])},
                "404": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["unknown-metric"])},
            },
        },
        {
            "path": f"{VERSION}/series/{{metric}}.csv",
            "summary": "One category's daily figures, between two days, as CSV",
            "description": "Columns: date, value, change (empty where unknown).",
            "parameters": ["metric", *FROM_TO],
            "answers": {
                "200": {"text/csv": (CSV_SCHEMA, ["series-csv"])},
                "400": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["bad-date-csv"])},
                "404": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["unknown-metric-csv"])},
            },
        },
        {
            "path": f"{VERSION}/events",
            "summary": "The daily reports and alerts, newest first",
            "description": "A revised report is listed once, in its newest version; the service's notices "
            "about itself, digests and broadcasts are not listed." + CSV_NOTE,
            "parameters": EVENTS_PARAMETERS,
            "answers": {
                "200": {
                    "application/json": ("#/components/schemas/Events", ["events"]),
                    "text/csv": (CSV_SCHEMA, ["events-as-csv"]),
                },
                "400": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["bad-since", "bad-limit"])},
            },
        },
        {
            "path": f"{VERSION}/events.csv",
            "summary": "The daily reports and alerts, newest first, as CSV",
            "description": "Columns: id, key, rule, metric, date, value, stored_at, text.",
            "parameters": EVENTS_PARAMETERS,
            "answers": {
                "200": {"text/csv": (CSV_SCHEMA, ["events-csv"])},
                "400": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["bad-limit-csv"])},
            },
        },
        {
            "path": f"{VERSION}/problems/{{name}}",
            "summary": "What one kind of error means",
            "description": "Each error's type is the URI of this endpoint for its kind.",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": list(PROBLEMS)},
                    "description": "The kind of error.",
                }
            ],
            "answers": {
                "200": {"application/json": ("#/components/schemas/ProblemType", ["problem-type"])},
                "404": {PROBLEM_MEDIA_TYPE: ("#/components/schemas/Problem", ["unknown-problem"])},
            },
        },
    ]


@functools.cache
def examples() -> dict[str, dict]:
    """The real answers the description shows: name → request, status, media type, value."""
    return json.loads((resources.files("tallywatch") / "web" / EXAMPLES).read_text(encoding="utf-8"))


def write_examples(values: dict[str, Any]) -> None:
    """The examples file with these values (from real answers; for the tests)."""
    found = examples()
    out = {name: {**found[name], "value": values.get(name, found[name]["value"])} for name in found}
    path = Path(str(resources.files("tallywatch") / "web" / EXAMPLES))
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    examples.cache_clear()


def _rebased(value: Any, base: str) -> Any:
    """An example's links to the examples' address made links to this service."""
    if isinstance(value, str):
        return value.replace(EXAMPLE_BASE, base) if value.startswith(EXAMPLE_BASE) else value
    if isinstance(value, dict):
        return {k: _rebased(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebased(v, base) for v in value]
    return value


def _example(name: str, base: str) -> dict:
    found = examples()[name]
    out = {
        "summary": f"{found.get('method', 'GET')} {found['request']}",
        "value": _rebased(found["value"], base),
        "x-request": found["request"],
    }
    return out | ({"x-method": found["method"]} if "method" in found else {})


def _schema(schema: str | dict) -> dict:
    return {"$ref": schema} if isinstance(schema, str) else schema


def _response(status: str, media: dict, base: str) -> dict:
    words = {"200": "The answer", "400": "A parameter is wrong", "404": "Not found"}
    out: dict[str, Any] = {"description": words[status]}
    if status == "200":
        out["headers"] = {
            "ETag": {"$ref": "#/components/headers/ETag"},
            "Cache-Control": {"$ref": "#/components/headers/Cache-Control"},
        }
    out["content"] = {
        media_type: {"schema": _schema(schema)} | ({"examples": {n: _example(n, base) for n in names}} if names else {})
        for media_type, (schema, names) in media.items()
    }
    return out


def _metric_parameter(metrics: list[str]) -> dict:
    return {
        "name": "metric",
        "in": "path",
        "required": True,
        "description": "The category (the ids /api/v1/latest lists); an unknown one is unknown-metric.",
        "schema": {"enum": metrics},
    }


def attribution() -> str:
    """Whose figures these are, in the page's words, and where the service's history comes from."""
    return (
        f"{credit('genstaff')}: the daily totals of Russia's losses it publishes — Ukrainian official "
        "claims, not independently verified — as read from the Ministry of Defence of Ukraine's "
        "site, the General Staff's Telegram channel and their copies. The history before the service "
        "started comes from PetroIvaniuk/2022-Ukraine-Russia-War-Dataset "
        "(https://github.com/PetroIvaniuk/2022-Ukraine-Russia-War-Dataset, MIT License, © 2022 Petro "
        "Ivaniuk; upstream: the General Staff of the Armed Forces of Ukraine and the Ministry of "
        "Defence of Ukraine)."
    )


def description(config: Config, base: str, metrics: list[str]) -> dict:
    """The OpenAPI 3.1 document, for this service's address and metrics."""
    paths: dict[str, Any] = {}
    for op in _operations():
        parameters = [_metric_parameter(metrics) if p == "metric" else p for p in op.get("parameters", [])]
        responses = {status: _response(status, media, base) for status, media in op["answers"].items()}
        responses["304"] = {"description": "Not modified: the ETag in If-None-Match is still current."}
        responses["405"] = {"$ref": "#/components/responses/MethodNotAllowed"}
        operation = {
            "summary": op["summary"],
            "description": op["description"],
            "operationId": _operation_id(op["path"]),
        }
        paths[op["path"]] = {
            "get": operation | ({"parameters": parameters} if parameters else {}) | {"responses": responses}
        }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": f"{config.service.called('en')}: the data API",
            "version": "1",
            "summary": "Russia's losses as reported by the General Staff of the Armed Forces of Ukraine.",
            "description": (
                f"{ABOUT}\n\n{attribution()}\n\n"
                "Read-only and open to every origin (CORS). Every answer carries an ETag (a conditional "
                "request gets 304) and is the same until the service stores something new. JSON, or CSV "
                "for a path ending in .csv or Accept: text/csv. Every error is problem JSON (RFC 9457, "
                "application/problem+json): its type is a URI under /api/v1/problems/ that says what that "
                "kind of error means, its detail what was wrong with the request; a path under /api/ that "
                "is not listed here is not-found, a method other than GET or HEAD method-not-allowed."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "headers": {
                "ETag": {"description": "The answer's version.", "schema": {"type": "string"}},
                "Cache-Control": {"description": "public, max-age=60", "schema": {"type": "string"}},
            },
            "responses": {
                "MethodNotAllowed": {
                    "description": "Only GET and HEAD are answered: the API is read-only.",
                    "headers": {"Allow": {"description": "GET, HEAD", "schema": {"type": "string"}}},
                    "content": {
                        PROBLEM_MEDIA_TYPE: {
                            "schema": {"$ref": "#/components/schemas/Problem"},
                            "examples": {"not-allowed": _example("not-allowed", base)},
                        }
                    },
                }
            },
        },
    }


def _operation_id(path: str) -> str:
    words = path.removeprefix(VERSION).strip("/").replace(".csv", "-csv").replace("{", "").replace("}", "")
    return "".join(w.capitalize() for w in words.replace("/", "-").replace(".", "-").split("-")) or "Index"


def _escaped(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def index(config: Config, base: str, metrics: list[str]) -> dict:
    """``/api/v1/``: each endpoint with its summary and a link to its description."""
    doc = f"{base}{VERSION}/openapi.json"
    return {
        "about": f"{ABOUT} {credit('genstaff')} — Ukrainian official claims, not independently verified.",
        "description": doc,
        "endpoints": [
            {
                "path": path,
                "method": method.upper(),
                "summary": operation["summary"],
                "description": f"{doc}#/paths/{_escaped(path)}/{method}",
            }
            for path, item in description(config, base, metrics)["paths"].items()
            for method, operation in item.items()
        ],
    }


def problem_type(name: str, base: str) -> dict:
    """What one kind of error means (``/api/v1/problems/{name}``)."""
    status, title, meaning = PROBLEMS[name]
    return {"type": f"{base}{VERSION}/problems/{name}", "title": title, "status": status, "description": meaning}
