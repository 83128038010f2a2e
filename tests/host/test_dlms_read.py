"""`meterkast read`: the head-end returns the day the meter holds, value for value; its client
invocation counter never repeats (state file, resynchronisation from the meter)."""

import csv
import json
from datetime import date, datetime, timezone

import pytest
from dlms_support import P3Harness, expected_rows
from meterkast import cli
from meterkast.commands.read import complete_range, default_range, parse_time
from meterkast.dlms import localtime

START = "2024-03-11T23:00:00Z"
ROWS = 192
DAY = slice(95, 191)  # 2024-03-11 00:00 .. 23:45 CET


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    with P3Harness(tmp_path_factory.mktemp("read"), rows=ROWS, start=START) as h:
        yield h


@pytest.fixture(scope="module")
def rows():
    return expected_rows(START, ROWS)


def iso(t):
    """Meter-epoch seconds as the head-end writes times."""
    return datetime.fromtimestamp(t + 946684800, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(meter, capsys, *extra):
    rc = cli.main(
        [
            "read",
            meter.url,
            "--keys",
            meter.keys,
            "--from",
            "2024-03-11",
            "--to",
            "2024-03-11",
            *extra,
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out


def test_day_as_json_equals_the_profile(meter, rows, capsys):
    out = read(meter, capsys, "--json")
    doc = json.loads(out.out)
    want = [
        {
            "time": iso(r["t"]),
            "status": r["status"],
            "import_t1_wh": r["import_t1_wh"],
            "import_t2_wh": r["import_t2_wh"],
            "export_t1_wh": r["export_t1_wh"],
            "export_t2_wh": r["export_t2_wh"],
        }
        for r in rows[DAY]
    ]
    assert doc["profile"] == want
    assert len(doc["profile"]) == 96
    last = rows[-1]
    reg = doc["registers"]
    assert reg["import_t1_wh"] == last["import_t1_wh"] + 17  # the harness reading's offsets
    assert reg["import_t2_wh"] == last["import_t2_wh"] + 23
    assert reg["export_t1_wh"] == last["export_t1_wh"]
    assert (reg["import_w"], reg["export_w"]) == (1234, 0)
    assert doc["clock"].startswith("2024-03-12T00:0") and doc["clock"].endswith("+01:00")
    assert "read 96 profile rows" in out.err


def test_csv(meter, rows, capsys, tmp_path):
    path = tmp_path / "day.csv"
    read(meter, capsys, "--csv", str(path))
    with open(path) as f:
        got = list(csv.DictReader(f))
    assert len(got) == 96
    assert got[0]["time"] == iso(rows[DAY][0]["t"]) == "2024-03-10T23:00:00Z"
    assert int(got[-1]["export_t2_wh"]) == rows[DAY][-1]["export_t2_wh"]


def test_invocation_counter_state_and_resync(meter, capsys):
    state = meter.keys + ".ic"
    read(meter, capsys, "--json")
    with open(state) as f:
        first = json.load(f)
    read(meter, capsys, "--json")
    with open(state) as f:
        second = json.load(f)
    assert second["next_client_ic"] > first["next_client_ic"]
    assert second["server_ic_seen"] > first["server_ic_seen"]
    # a state file restored from an old backup: the meter refuses the stale counter, the
    # head-end reads the meter's last accepted counter (public client) and goes on above it
    with open(state, "w") as f:
        json.dump({"next_client_ic": 1, "server_ic_seen": 0}, f)
    read(meter, capsys, "--json")
    with open(state) as f:
        third = json.load(f)
    assert third["next_client_ic"] > second["next_client_ic"]


def test_ranges():
    # "yesterday" is a local calendar day: 24 h normally, 23 h / 25 h on DST change days
    start, end = default_range(datetime(2024, 3, 12, 9, 0, tzinfo=timezone.utc))
    assert (start, end) == (
        datetime(2024, 3, 10, 23, 0, tzinfo=timezone.utc),
        datetime(2024, 3, 11, 23, 0, tzinfo=timezone.utc),
    )
    start, end = localtime.day_bounds(date(2024, 10, 27))
    assert (end - start).total_seconds() == 25 * 3600
    start, end = localtime.day_bounds(date(2024, 3, 31))
    assert (end - start).total_seconds() == 23 * 3600
    assert parse_time("2024-03-11T10:00:00+01:00") == datetime(
        2024, 3, 11, 9, 0, tzinfo=timezone.utc
    )
    assert parse_time("2024-03-11T10:00:00") == datetime(2024, 3, 11, 10, 0, tzinfo=timezone.utc)
    assert parse_time("2024-07-01", end=True) == datetime(2024, 7, 1, 22, 0, tzinfo=timezone.utc)


def test_user_errors(meter, capsys, tmp_path):
    assert cli.main(["read", meter.url, "--keys", str(tmp_path / "missing.json")]) == 2
    assert "keys file" in capsys.readouterr().err
    assert cli.main(["read", meter.url, "--keys", meter.keys, "--from", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err


def test_default_range_is_the_meters_last_complete_day():
    # the meter's clock decides, not the host's: an emulator started in the past still gets rows
    meter_now = datetime(2024, 3, 12, 9, 0, tzinfo=timezone.utc)
    day = (datetime(2024, 3, 10, 23, 0, tzinfo=timezone.utc),
           datetime(2024, 3, 11, 23, 0, tzinfo=timezone.utc))
    assert complete_range(None, None, meter_now) == day
    assert complete_range(parse_time("2024-03-11"), None, meter_now) == day  # --from alone
    assert complete_range(None, parse_time("2024-03-11", end=True), meter_now) == day  # --to alone
    start, end = complete_range(parse_time("2024-10-27"), None, meter_now)
    assert (end - start).total_seconds() == 25 * 3600  # a local day, across the DST change


def test_read_without_a_range_reads_the_meters_yesterday(meter, capsys):
    explicit = json.loads(read(meter, capsys, "--json").out)
    rc = cli.main(["read", meter.url, "--keys", meter.keys, "--json"])
    implicit = json.loads(capsys.readouterr().out)
    assert rc == 0 and implicit["profile"] == explicit["profile"] and implicit["profile"]
    rc = cli.main(["read", meter.url, "--keys", meter.keys, "--from", "2024-03-11", "--json"])
    alone = json.loads(capsys.readouterr().out)
    assert rc == 0 and alone["profile"] == explicit["profile"]
