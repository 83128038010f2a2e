# meterkast: structured events on stdout (JSON lines) for the host tool, tests and scripts
# MIT license
import sys

from contract import reading as rd
from util.tz import UNIX_OFFSET


class Report:
    def __init__(self, enabled=False, stream=None):
        self.enabled = enabled
        self._out = stream or sys.stdout

    def line(self, text):
        # One write per line: a process killed mid-report leaves no half line behind.
        self._out.write(text + "\n")

    def log(self, kind, msg):
        self.line('{"ev":"%s","msg":"%s"}' % (kind, msg.replace('"', "'")))

    def reading(self, b, o):
        """Every published reading (the host's ground truth for end-to-end tests)."""
        self.line(
            '{"ev":"r","t":%d,"seq":%d,"st":%d,"tar":%d,"imp_w":%d,"exp_w":%d,"reg":[%d,%d,%d,%d]}'
            % (
                b[o + rd.T] + UNIX_OFFSET,
                b[o + rd.SEQ],
                b[o + rd.STATUS],
                b[o + rd.TARIFF],
                b[o + rd.IMPORT_W],
                b[o + rd.EXPORT_W],
                b[o + rd.IMPORT_T1_WH],
                b[o + rd.IMPORT_T2_WH],
                b[o + rd.EXPORT_T1_WH],
                b[o + rd.EXPORT_T2_WH],
            )
        )

    def stored(self, kind, a, b, wh):
        """Persistence events: capture (t, status), persist (t, seq), outage (t_last, t_now)."""
        self.line(
            '{"ev":"%s","a":%d,"b":%d,"reg":[%d,%d,%d,%d]}'
            % (kind, a + UNIX_OFFSET, b + UNIX_OFFSET if kind == "outage" else b, wh[0], wh[1], wh[2], wh[3])
        )

    def event(self, kind, r, n, fc=0):
        self.line('{"ev":"%s","t":%d,"seq":%d,"len":%d,"fc":%d}' % (kind, r[rd.T] + UNIX_OFFSET, r[rd.SEQ], n, fc))
