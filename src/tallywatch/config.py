"""TOML → validated, typed settings.

Where the config comes from: ``--config PATH``, else ``$TALLYWATCH_CONFIG``, else
``./config/tallywatch.toml`` if it exists, else the embedded defaults (``default.toml`` in the
package: the real public sources, SQLite in the user's state folder, console output).

An unknown key, a wrong type or a missing value is a ``ConfigError`` whose text names the file,
the key and what was expected, one line per problem. Secrets never live here (see ``secrets``).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .extract import EXTRACTORS

DEFAULT_PATH = Path("config/tallywatch.toml")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The config is unusable; ``str(err)`` is one line per problem, ready to print."""


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if not m:
            raise ValueError("expected a duration such as 90, 30s, 15m, 1h or 1d")
        return float(m[1]) * _UNITS[m[2] or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Storage(Strict):
    path: Path | None = None  # None: the user's state folder

    def resolved(self) -> Path:
        if self.path is not None:
            return self.path.expanduser()
        return state_dir() / "tallywatch.db"


class Http(Strict):
    user_agent: str = "tallywatch/0.1 (feed alerting daemon; polite polling)"
    timeout: Seconds = 20.0
    max_bytes: StrictInt = Field(5_000_000, gt=0)
    backoff_base: Seconds = 60.0
    backoff_max: Seconds = 6 * 3600.0


class JsonMapping(Strict):
    records: list[str] = ["data.records", "data"]
    date: str = "date"
    values: str = "stats"
    deltas: str | None = "increase"
    metrics: dict[str, str | list[tuple[str, str]]] = {}


class Source(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["rss", "atom", "json"]
    url: str = Field(pattern=r"^https?://\S+$")
    interval: Seconds = 3600.0
    jitter: float = Field(0.1, ge=0, le=1)  # fraction of the interval
    extractor: str | None = None  # default: genstaff for feeds, russianwarship for json
    enabled: StrictBool = True
    timeout: Seconds | None = None
    max_bytes: StrictInt | None = Field(None, gt=0)
    mapping: JsonMapping | None = None

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, value: str | None) -> str | None:
        if value is not None and value not in EXTRACTORS:
            raise ValueError(f"expected one of {', '.join(sorted(EXTRACTORS))}")
        return value

    @property
    def extractor_name(self) -> str:
        return self.extractor or ("russianwarship" if self.kind == "json" else "genstaff")


class Milestone(Strict):
    step: StrictInt | None = Field(None, gt=0)
    levels: list[Annotated[StrictInt, Field(gt=0)]] = []

    @model_validator(mode="after")
    def _something(self) -> Milestone:
        if self.step is None and not self.levels:
            raise ValueError("expected `step` or `levels` (or both)")
        return self


class Detect(Strict):
    first_import: Literal["quiet", "notify"] = "quiet"


class Console(Strict):
    enabled: StrictBool = True


class Config(Strict):
    storage: Storage = Storage()
    http: Http = Http()
    sources: list[Source] = []
    milestones: dict[str, Milestone] = {}
    detect: Detect = Detect()
    console: Console = Console()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


def state_dir() -> Path:
    """systemd's StateDirectory, else $XDG_STATE_HOME/tallywatch, else ~/.local/state/tallywatch."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tallywatch"


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue  # pydantic's internal validator steps
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _explain(err: dict[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing value (required)"
    msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    if kind not in ("value_error",) and not isinstance(got, dict | list):
        return f"{msg.lower()}, got {got!r}"
    return msg


def parse(data: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{origin}: {_where(e['loc'])}: {_explain(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def defaults_text() -> str:
    return resources.files("tallywatch").joinpath("default.toml").read_text(encoding="utf-8")


def defaults() -> Config:
    return parse(tomllib.loads(defaults_text()), "built-in defaults")


def locate(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Which config file applies, or None for the embedded defaults."""
    if explicit:
        return Path(explicit)
    if os.environ.get("TALLYWATCH_CONFIG"):
        return Path(os.environ["TALLYWATCH_CONFIG"])
    if DEFAULT_PATH.is_file():
        return DEFAULT_PATH
    return None


def load(explicit: str | os.PathLike[str] | None = None) -> tuple[Config, str]:
    """(config, where it came from)."""
    path = locate(explicit)
    if path is None:
        return defaults(), "built-in defaults"
    return parse(_read(path), str(path)), str(path)


def masked_url(url: str) -> str:
    """A URL safe to print: user:password@ hidden."""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", url)
