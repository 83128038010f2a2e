# meterkast: the P3 bench of the emulator: a DLMS server on its own (a fake clock, a profile of
# known rows on a RAM flash, test keys) that the benches and the tests drive, and a firmware-side
# DLMS client that times the server's work per request. Never part of a board image (hal/unix).
