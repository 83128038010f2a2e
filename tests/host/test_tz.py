"""The firmware's EU summer-time rule and calendar, checked against CPython's zoneinfo."""
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from conftest import run_micropython

AMS = ZoneInfo("Europe/Amsterdam")
UNIX_2000 = 946684800

DRIVER = """
import sys
from util import tz
lt = tz.LocalTime()
c = [0] * 7
for line in sys.stdin:
    t = int(line)
    tz.civil_into(lt.local(t), c)
    print(lt.offset(t), c[0], c[1], c[2], c[3], c[4], c[5], c[6], 1 if lt.is_summer(t) else 0)
"""


def test_local_time_matches_zoneinfo(tmp_path):
    rng = random.Random(1)
    instants = []
    for year in range(2000, 2040):
        for month, day in ((3, 25), (10, 25)):
            # Around each transition, second by second edges and a spread of instants.
            base = int(datetime(year, month, day, tzinfo=timezone.utc).timestamp())
            for k in range(0, 8 * 86400, 1800):
                instants.append(base + k)
    for _ in range(3000):
        instants.append(rng.randrange(946684800, 2145916800))
    for y in (2026, 2027):
        for tr in ("03-29T01:00:00", "10-25T01:00:00", "03-28T01:00:00", "10-31T01:00:00"):
            t = int(datetime.fromisoformat("%d-%s+00:00" % (y, tr)).timestamp())
            instants += [t - 1, t, t + 1]
    script = tmp_path / "tzdrv.py"
    script.write_text(DRIVER)
    stdin = "".join("%d\n" % (t - UNIX_2000) for t in instants).encode()
    proc = run_micropython(script, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().split("\n")
    assert len(lines) - 1 == len(instants)
    for t, line in zip(instants, lines):
        local = datetime.fromtimestamp(t, timezone.utc).astimezone(AMS)
        off = int(local.utcoffset().total_seconds())
        expected = "%d %d %d %d %d %d %d %d %d" % (
            off, local.year, local.month, local.day, local.hour, local.minute, local.second,
            local.weekday(), 1 if local.dst() != timedelta(0) else 0)
        assert line == expected, (t, line, expected)


def test_iso_parsing_and_errors(tmp_path):
    script = tmp_path / "iso.py"
    script.write_text(
        "from util import tz\n"
        "for s in ('2026-10-25T00:30:00Z', '2026-10-25 02:30:00+02:00', '2026-03-29T03:00',"
        " '2026-01-01T00:00:00.123Z', '2026-01-01T01:00:00-01:00'):\n"
        "    print(tz.parse_iso(s) + tz.UNIX_OFFSET, tz.format_iso(tz.parse_iso(s)))\n"
        "for s in ('2026-13-01T00:00Z', 'tomorrow', '2026-01-01X00:00', '2026-01-01T00:00+5'):\n"
        "    try:\n        tz.parse_iso(s)\n        print('accepted', s)\n"
        "    except ValueError as e:\n        print('rejected', s)\n")
    out = run_micropython(script).stdout.decode().split("\n")
    for s, line in zip(["2026-10-25T00:30:00+00:00", "2026-10-25T02:30:00+02:00", "2026-03-29T03:00:00+00:00",
                        "2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00-01:00"], out):
        t = int(datetime.fromisoformat(s).timestamp())
        assert line.split()[0] == str(t)
        assert line.split()[1] == datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert out[5:9] == ["rejected 2026-13-01T00:00Z", "rejected tomorrow", "rejected 2026-01-01X00:00",
                        "rejected 2026-01-01T00:00+5"]
