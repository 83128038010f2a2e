"""Long-running robustness campaigns (`meterkast soak`, small versions in the tests): power cuts
at random instants with every IV the meter sent checked for reuse (`kills`), a million telegrams
through a faulty line with zero false accepts (`line`), and a P3 fuzzer sharing the port with a
well-behaved head-end (`p3`)."""
from pathlib import Path

from meterkast.soak.common import CAMPAIGNS, IvLedger, sizes  # noqa: F401  (the package's API)
from meterkast.soak.kills import PowerCutCheck, kill_campaign  # noqa: F401
from meterkast.soak.line import line_campaign  # noqa: F401
from meterkast.soak.p3 import p3_campaign  # noqa: F401


def run(campaign, workdir, size, seed=1, progress=None, **kw):
    """One campaign by name at a size from sizes()."""
    n = sizes(size)[campaign] if not isinstance(size, dict) else size[campaign]
    if campaign == "kills":
        return kill_campaign(Path(workdir) / "kills", kills=n, seed=seed, progress=progress, **kw)
    if campaign == "line":
        return line_campaign(telegrams=n, seed=seed, progress=progress, **kw)
    if campaign == "p3":
        return p3_campaign(Path(workdir) / "p3", frames=n, seed=seed, progress=progress, **kw)
    raise ValueError("no campaign %r; known: %s" % (campaign, ", ".join(CAMPAIGNS)))
