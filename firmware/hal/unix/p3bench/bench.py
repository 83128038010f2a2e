# meterkast bench: the P3 server's cost under MicroPython
# MIT license
#
# Run by `meterkast bench dlms` (micropython -m hal.unix.p3bench.bench, MICROPYPATH=firmware);
# runs on a board too (with comms/, contract/, util/ and this package on it).
# Prints one line:
#   get_register_us <best per ciphered GET of a register> get_block_us <best per 1 KiB profile
#   block (GET-next)> get_register_alloc <heap bytes allocated per register GET>
# Times only DlmsServer.request(): deciphering, the service, encoding and ciphering the answer.
import gc
import time

from hal.unix.p3bench.client import FwClient, keys
from hal.unix.p3bench.fakes import RamFlash, build_server, mount_ram

I181 = b"\x01\x00\x01\x08\x01\xff"
PROFILE = b"\x01\x00\x63\x01\x00\xff"

storage = mount_ram(RamFlash(blocks=64), "/p3_bench", fresh=True)
server, profile, clock = build_server(storage, rows=960, keys=keys())
client = FwClient(server, 1, max_pdu=1024)
client.associate()


def timed(apdu):
    buf = bytearray(apdu)
    mv = memoryview(buf)
    t0 = time.ticks_us()
    n = server.request(1, mv, 0, len(buf))
    dt = time.ticks_diff(time.ticks_us(), t0)
    return dt, bytes(server.out[server.out_start : server.out_start + n])


best_get = None
alloc = None
for _ in range(200):
    req = client.protect(b"\xc0\x01\xc1\x00\x03" + I181 + b"\x02\x00")
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    dt, answer = timed(req)
    a1 = gc.mem_alloc()
    gc.enable()
    client.unprotect(answer)
    best_get = dt if best_get is None or dt < best_get else best_get
    alloc = a1 - a0 if alloc is None or a1 - a0 < alloc else alloc

best_block = None
for _ in range(5):
    dt, answer = timed(client.protect(b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x00"))
    answer = client.unprotect(answer)
    for _ in range(20):  # 20 blocks of about 1 KiB out of the 36 KiB buffer
        dt, nxt = timed(client.protect(b"\xc0\x02\xc1" + answer[4:8]))
        answer = client.unprotect(nxt)
        best_block = dt if best_block is None or dt < best_block else best_block
assert best_get is not None and best_block is not None and alloc is not None
print("get_register_us %d get_block_us %d get_register_alloc %d" % (best_get, best_block, alloc))
