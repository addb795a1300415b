import json
from pathlib import Path

import pytest
from processes import run_tallywatch, tallywatch_env

from tallywatch import config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "tw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_the_embedded_defaults():
    example, _origin = config.load(ROOT / "config" / "tallywatch.example.toml")
    assert example == config.defaults()


def test_defaults_list_real_public_sources():
    cfg = config.defaults()
    assert {s.kind for s in cfg.sources} == {"json", "rss", "html", "telegram_channel"}
    assert all(s.url.startswith("https://") for s in cfg.sources)
    assert cfg.console.enabled and cfg.milestones["personnel"].step == 100_000


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[storage]\npth = 'x'\n", "storage.pth: unknown key"),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'http://x/'\ninterval = 'soon'\n",
            "sources[0].interval: expected a duration such as 90, 30s, 15m, 1h or 1d",
        ),
        (
            "[[sources]]\nname = 'a'\nkind = 'xml'\nurl = 'http://x/'\n",
            "sources[0].kind: expected 'rss', 'atom', 'json', 'html' or 'telegram_channel', got 'xml'",
        ),
        ("[[sources]]\nkind = 'rss'\nurl = 'http://x/'\n", "sources[0].name: missing value (required)"),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'http://x/'\ninterval = '0m'\n",
            "sources[0].interval: expected a duration greater than 0, got '0m'",
        ),
        ("[http]\ntimeout = true\n", "http.timeout: expected a duration such as 90, 30s, 15m, 1h or 1d"),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'ftp://x/'\n",
            "sources[0].url: expected an http:// or https:// address, got 'ftp://x/'",
        ),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'http://x/'\nextractor = 'magic'\n",
            "sources[0].extractor: expected one of genstaff, json_fields, none, russianwarship",
        ),
        (
            "[[sources]]\nname='a'\nkind='rss'\nurl='http://x/'\n[[sources]]\nname='a'\nkind='rss'\nurl='http://y/'\n",
            "sources: source names must be unique; repeated: a",
        ),
        ("[console]\nenabled = 'yes'\n", "console.enabled: expected true or false, got 'yes'"),
        ("[milestones.personnel]\n", "milestones.personnel: expected `step` or `levels` (or both)"),
        (
            "[milestones.personnel]\nstep = -5\n",
            "milestones.personnel.step: expected a whole number at least 1, got -5",
        ),
        ("[storage\n", "not valid TOML"),
        # a typo in a name: a config error with a suggestion, never an alert that silently never fires
        (
            "[milestones.personel]\nstep = 1\n",
            "milestones.personel: no metric named 'personel' (did you mean 'personnel'?)",
        ),
        ("[rules.spike.metric.tankz]\n", "rules.spike.metric.tankz: no metric named 'tankz' (did you mean 'tanks'?)"),
        (
            "[email]\ninstant_rules = ['milestones']\n",
            "email.instant_rules: no rule named 'milestones' (did you mean 'milestone'?)",
        ),
        ("[email]\nchart_metric = 'nukes'\n", "email.chart_metric: no metric named 'nukes'"),
        (
            "[[webhooks]]\nname = 'w'\nurl = 'http://x/'\nrules = ['spikes']\n",
            "webhooks[0].rules: no rule named 'spikes' (did you mean 'spike'?)",
        ),
        ("[telegram]\nadmin = [1]\n", "telegram.admin: unknown key (did you mean 'admins'?)"),
        (
            "[rules.spike.metric.tanks]\nratoi = 3\n",
            "rules.spike.metric.tanks.ratoi: unknown key (did you mean 'ratio'?)",
        ),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'http://x/'\nintervl = '1h'\n",
            "sources[0].intervl: unknown key (did you mean 'interval'?)",
        ),
        ("[email]\ndaily_at = '7:30am'\n", "email.daily_at: expected a time such as 07:30, got '7:30am'"),
        (
            "[email]\npassword = 'hunter22'\n",
            "email.password: the SMTP password is never read from the config file: set TALLYWATCH_SMTP_PASSWORD",
        ),
        (
            "[health]\nport = 9000\n",
            "health.port: moved to [web] (one server answers /healthz, /metrics and the public pages)",
        ),
        ("[web]\npublic_url = 'example.org'\n", "web.public_url: expected an http:// or https:// address"),
        (
            "[telegram]\nbot_username = 'https://t.me/losses'\n",
            "telegram.bot_username: expected the bot's username as @BotFather gave it, such as @losses_bot",
        ),
        (
            "[service]\nname = 'Losses <desk>'\n",
            "service.name: expected a name on one line, up to 80 characters, without <, > or quotes",
        ),
        ("[service]\nurl = 'losses.example.org'\n", "service.url: expected an http:// or https:// address"),
        ("[web]\nsignups_share = 1.5\n", "web.signups_share: expected a number at most 1.0, got 1.5"),
        ("[web]\nmax_connections = 0\n", "web.max_connections: expected a whole number at least 8, got 0"),
        ("[web]\nfd_reserve = 10\n", "web.fd_reserve: expected a whole number at least 64, got 10"),
        ("[web]\nrequest_timeout = '0s'\n", "web.request_timeout: expected a duration greater than 0, got '0s'"),
        (
            "[[webhooks]]\nname = 'w'\nurl = 'http://x/'\nsecret = 's3'\n",
            "webhooks[0].secret: the webhook signing secret is never read from the config file",
        ),
    ],
)
def test_config_errors_name_file_key_and_expectation(tmp_path, text, line):
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert line in str(err.value)


def test_every_problem_gets_its_own_line(tmp_path):
    path = write(tmp_path, "typo = 1\n[console]\nenabled = 3\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    assert sorted(str(err.value).splitlines()) == [
        f"{path}: console.enabled: expected true or false, got 3",
        f"{path}: typo: unknown key",
    ]


def test_where_the_config_comes_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TALLYWATCH_CONFIG", raising=False)
    assert config.load()[1] == "built-in defaults"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tallywatch.toml").write_text("[console]\nenabled = false\n")
    assert config.load()[1] == "config/tallywatch.toml" and not config.load()[0].console.enabled
    env = write(tmp_path, "[detect]\nfirst_import = 'notify'\n")
    monkeypatch.setenv("TALLYWATCH_CONFIG", str(env))
    assert config.load()[0].detect.first_import == "notify"
    assert config.load(tmp_path / "config" / "tallywatch.toml")[0].detect.first_import == "quiet"  # --config wins


def test_missing_config_file(tmp_path):
    with pytest.raises(config.ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml")


def test_config_check_masks_secrets(tmp_path, monkeypatch):
    token = "123456:AAF-very-secret-token"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp_password").write_text("hunter2-secret\n")
    cfg = write(tmp_path, "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'https://reader:pa55@feeds.example/x.rss'\n")
    env = tallywatch_env(TALLYWATCH_TELEGRAM_TOKEN=token, CREDENTIALS_DIRECTORY=str(creds))
    done = run_tallywatch("config", "check", "--config", str(cfg), env=env)
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr and "hunter2" not in done.stdout + done.stderr
    assert "pa55" not in done.stdout
    data = json.loads(done.stdout)
    assert data["secrets"]["telegram_token"] == "******** (environment $TALLYWATCH_TELEGRAM_TOKEN)"
    assert data["secrets"]["smtp_password"].startswith("******** (credential ")
    assert data["secrets"]["webhook_secret"] == "not set"
    assert data["sources"][0]["url"] == "https://***@feeds.example/x.rss"


def test_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path):
    cfg = write(tmp_path, "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'http://x/'\ninterval = 'soon'\n")
    for command in (["config", "check"], ["poll"], ["status"], ["run"]):
        done = run_tallywatch(*command, "--config", str(cfg))
        assert done.returncode == 2
        assert (
            done.stderr
            == f"config error: {cfg}: sources[0].interval: expected a duration such as 90, 30s, 15m, 1h or 1d\n"
        )


def test_a_byte_order_mark_is_fine_and_a_file_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[milestones.personnel]\nstep = 100_000\n".encode())
    assert config.load(path)[0].milestones["personnel"].step == 100_000
    latin = tmp_path / "latin.toml"
    latin.write_bytes("[telegram]\ntimezone = 'Europe/Kyiv' # Kiew — zoné\n".encode("latin-1", "replace"))
    with pytest.raises(config.ConfigError) as err:
        config.load(latin)
    assert str(err.value) == f"{latin}: not UTF-8 text (byte 0xe9 at offset 48); save the file as UTF-8"


def test_webhooks_without_a_signing_secret_are_warned_about(tmp_path, monkeypatch, caplog):
    path = write(tmp_path, "[[webhooks]]\nname = 'w'\nurl = 'https://example.org/hook'\n")
    monkeypatch.delenv("TALLYWATCH_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("TALLYWATCH_CREDENTIALS", raising=False)
    config.load(path)
    assert "webhooks without a signing secret" in caplog.text
    caplog.clear()
    monkeypatch.setenv("TALLYWATCH_WEBHOOK_SECRET", "a-long-secret")
    config.load(path)
    assert "signing secret" not in caplog.text


# -- what a file leaves out is the built-in settings; nothing is dropped silently ---------------------


def test_a_file_without_sources_or_milestones_keeps_the_built_in_ones(tmp_path):
    """A file holding only [email] and [telegram] used to drop every source and milestone: the daemon
    then polled nothing and said so at INFO."""
    path = write(tmp_path, "[email]\nfrom_addr = 'alerts@example.org'\n[telegram]\nadmins = [42]\n")
    cfg, _origin = config.load(path)
    built_in = config.defaults()
    assert cfg.sources == built_in.sources and len(cfg.sources) == 7
    assert cfg.milestones == built_in.milestones and cfg.milestones["personnel"].step == 100_000
    assert cfg.telegram.admins == [42]
    done = run_tallywatch("config", "check", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"# {path}: valid",
        "# sources: 7, built in (disabled: mod-rss, ukrinform, kmu)",
        "# milestones: 13, built in",
    ]
    assert len(json.loads(done.stdout)["sources"]) == 7


def test_a_files_own_sources_and_milestones_replace_the_built_in_ones(tmp_path):
    path = write(
        tmp_path,
        "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'https://example.org/a.rss'\n[milestones.tanks]\nstep = 500\n",
    )
    cfg, _origin = config.load(path)
    assert [s.name for s in cfg.sources] == ["a"] and list(cfg.milestones) == ["tanks"]
    done = run_tallywatch("config", "check", "--config", str(path))
    assert done.stderr.splitlines()[1:] == ["# sources: 1, from the file", "# milestones: 1, from the file"]


def test_no_sources_or_milestones_only_when_asked_for(tmp_path):
    path = write(tmp_path, "sources = []\nmilestones = {}\n")
    cfg, _origin = config.load(path)
    assert cfg.sources == [] and cfg.milestones == {}
    done = run_tallywatch("config", "check", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[1:] == [
        "# sources: none (sources = [] in the file: nothing is polled)",
        "# milestones: none (milestones = {} in the file: no milestone alerts)",
    ]
    # sources given, none of them enabled: nothing would be polled, and nobody asked for that
    off = write(tmp_path, "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'https://example.org/a.rss'\nenabled = false\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(off)
    assert str(err.value) == (
        f"{off}: sources: every source is disabled (enabled = false), so nothing would be polled; "
        "enable one, or write `sources = []` to run without sources"
    )
    for command in (["poll"], ["run"], ["config", "check"]):
        done = run_tallywatch(*command, "--config", str(off))
        assert done.returncode == 2 and done.stderr.startswith(f"config error: {off}: sources: every source")


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("[email]\nenabled = true\n", "set [web] public_url"),
        ("[email]\nenabled = true\nunsubscribe_mailto = 'unsubscribe@example.org'\n", "set [web] public_url"),
        (
            "[email]\nenabled = true\n[web]\nenabled = false\npublic_url = 'https://losses.example.org'\n",
            "turn the web app on ([web] enabled = true)",
        ),
    ],
)
def test_mail_to_subscribers_without_a_working_unsubscribe_is_a_config_error(tmp_path, text, fix):
    """It used to be valid, and every mail told the reader to "ask the sender to run `tallywatch
    subscribers unsubscribe TOKEN`"."""
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"{path}: email: mail to subscribers needs a working unsubscribe link: ")
    assert fix in line and "or [email] unsubscribe_url = " in line
    done = run_tallywatch("config", "check", "--config", str(path))
    assert done.returncode == 2 and done.stderr == f"config error: {line}\n"


@pytest.mark.parametrize(
    "text",
    [
        "[email]\nenabled = true\n[web]\npublic_url = 'https://losses.example.org'\n",  # the web app's own page
        "[email]\nenabled = true\nunsubscribe_url = 'https://example.org/unsub?t={token}'\n",  # an endpoint of one's own
        "[email]\nenabled = false\n",  # no mail, nothing to unsubscribe from
    ],
)
def test_mail_with_a_working_unsubscribe_is_valid(tmp_path, text):
    cfg, _origin = config.load(write(tmp_path, text))
    if cfg.email.enabled:
        assert cfg.email.unsubscribe_link("tok").startswith("https://")
