"""The live console: what `meterkast console` shows for each frame a port delivers (the live
view, the one-line-per-frame log, JSON records and the statistics), built on `meterkast.wire`."""
