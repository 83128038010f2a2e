# meterkast: print the harness's profile rows (t,status,i1,i2,e1,e2 per line) for host tests
# MIT license
#   micropython p3_rows.py START_ISO COUNT
import sys

from hal.unix.p3bench.fakes import day_rows
from util import tz

start = tz.parse_iso(sys.argv[1])
count = int(sys.argv[2])
rows = day_rows((start // 900) * 900, count)
for k in range(count):
    print(",".join(str(rows[6 * k + i]) for i in range(6)))
