# Key rotation under the real MicroPython: RFC 3394 unwrap (comms.crypto.keywrap) on the RFC's
# vectors, and the security setup's global_key_transfer (0.0.43.0.0.255 method 2) on a DLMS
# server: only the associated management client of a meter with a master key may call it; the
# new keys are persisted (comms.crypto.keystore.RotatedKeys) before the answer and take effect at
# the next association; the old keys are refused from then on, also after a restart; a keys file
# provisioned anew wins over keys rotated under the old one; the server's invocation counter
# never goes back (no IV is used twice under any key); a power cut at any flash step of the
# rotation leaves the old keys or the new ones in force, never neither.
# The P1 keys the same way on 0.0.43.0.1.255 (listed only on a meter with encrypted P1): wrapped
# with the management master key, in force from the next telegram, the frame counter going on
# rising across the switch, restarts and power cuts.
import gc

import cryptolib
import vfs
from comms.crypto.gcm import Gcm
from comms.crypto.keystore import P1_KEYSET_SLOTS, RotatedKeys
from comms.crypto.keywrap import unwrap
from comms.events import EventLog
from comms.p1.crypt import P1Encryptor
from hal.unix.p3bench.client import AK, EK, SYSTEM_TITLE, FwClient, keys
from hal.unix.p3bench.fakes import PowerCut, RamFlash, build_server, mount_ram, unmount_cut
from p3_objects import FreshDirs, PublicClient, check, parse_object_list

STORE = mount_ram(RamFlash(96), "/kt", fresh=True)
SETUP = b"\x00\x00\x2b\x00\x00\xff"
ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"
CLOCK = b"\x00\x00\x01\x00\x00\xff"
KEK = bytes(range(0x40, 0x50))
EK2 = bytes(range(0x60, 0x70))
AK2 = bytes(range(0x70, 0x80))
KEK2 = bytes(range(0x80, 0x90))
_servers = []  # keep every server referenced (see test_dlms_objects)


fresh = FreshDirs(STORE)


def wrap(kek, key):
    """RFC 3394 section 2.2.1, written here from the RFC (the firmware only unwraps)."""
    aes = cryptolib.aes(kek, 1)
    n = len(key) // 8
    a = bytearray(b"\xa6" * 8)
    r = bytearray(key)
    b = bytearray(16)
    for j in range(6):
        for i in range(1, n + 1):
            b[0:8] = a
            b[8:16] = r[8 * (i - 1) : 8 * i]
            aes.encrypt(b, b)
            t = n * j + i
            for k in range(8):
                a[k] = b[k] ^ ((t >> (56 - 8 * k)) & 0xFF)
            r[8 * (i - 1) : 8 * i] = b[8:16]
    return bytes(a + r)


def transfer_request(items, setup=SETUP):
    """ACTION-request-normal: global_key_transfer with [(key_id, wrapped key)]."""
    p = b"\x01" + bytes((len(items),))
    for key_id, wrapped in items:
        p += b"\x02\x02\x16" + bytes((key_id,)) + b"\x09" + bytes((len(wrapped),)) + wrapped
    return b"\xc3\x01\xc1\x00\x40" + setup + b"\x02\x01" + p


SUCCESS = b"\xc7\x01\xc1\x00\x00"

# -- RFC 3394 section 4.1: 128-bit KEK, 128-bit key ------------------------------------------------
kek = bytes(range(16))
key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
wrapped = bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
check(wrap(kek, key) == wrapped, "the test's own wrap gives the RFC's vector")
out = bytearray(16)
check(unwrap(kek, wrapped, out) and bytes(out) == key, "unwrap: the RFC's key")
for i in (0, 8, 23):
    bad = bytearray(wrapped)
    bad[i] ^= 0x01
    check(not unwrap(kek, bad, out), "an altered byte %d fails the integrity check" % i)
check(not unwrap(KEK, wrapped, out), "another KEK fails")
check(not unwrap(kek, wrapped[:16], out), "too short: refused")
out24 = bytearray(24)
check(unwrap(kek, wrap(kek, key + bytes(8)), out24) and bytes(out24) == key + bytes(8),
      "three blocks")

# Gcm.rekey: a key rotated in the same buffers encrypts as a Gcm made with it, both kernels
iv = bytes(range(12))
for impl in ("viper", "bytecode"):
    g = Gcm(EK, max_len=64, impl=impl)
    g.rekey(EK2)
    want = Gcm(EK2, max_len=64, impl=impl).encrypt(iv, b"aad", b"plaintext of the test")
    check(g.encrypt(iv, b"aad", b"plaintext of the test") == want, "rekey %s" % impl)

# -- who may call it -------------------------------------------------------------------------------
d = fresh()
server, _, clock = build_server(d, keys=keys(kek=KEK))
_servers.append(server)
log = EventLog(d, clock)
server.objects.events = log
c = FwClient(server, 1)
c.associate()
listed = {o[2]: o for o in parse_object_list(c.get(15, ASSOCIATION, 2))}
check(listed[SETUP][4] == {1: 0, 2: 1}, "with a master key: global_key_transfer offered")
pub_server = build_server(fresh(), keys=keys(kek=KEK))[0]
_servers.append(pub_server)
pub = PublicClient(pub_server)
answer = pub.call(transfer_request([(0, wrap(KEK, EK2))]))
check(answer == b"\xc7\x01\xc1\x03\x00", "public client: read-write-denied %s" % answer)
no_kek = build_server(fresh(), keys=keys())[0]
_servers.append(no_kek)
c0 = FwClient(no_kek, 1)
c0.associate()
answer = c0.call(transfer_request([(0, wrap(KEK, EK2))]))
check(answer == b"\xc7\x01\xc1\x03\x00", "no master key: read-write-denied %s" % answer)

# -- refused transfers change nothing ----------------------------------------------------------------
rot = server.security.rotation
for items, result in (
    ([(0, wrap(KEK2, EK2))], 250),  # wrapped with another master key
    ([(0, wrap(KEK, EK2)), (0, wrap(KEK, AK2))], 250),  # a key twice
    ([(1, wrap(KEK, EK2))], 250),  # the broadcast key: none here
    ([(0, wrap(KEK, EK2)), (2, wrap(KEK, AK2)[:23] + b"\x00")], 250),  # one altered: none taken
    ([(0, wrap(KEK, EK2)[:16])], 12),  # not 24 octets
):
    answer = c.call(transfer_request(items))
    check(answer == b"\xc7\x01\xc1" + bytes((result,)) + b"\x00", "refused %d: %s" % (result, answer))
check(rot.seq == 0 and rot.keys is None, "nothing persisted")
check(log.standard.entries_in_use() == 0, "a refused transfer is no key change")

# -- a transfer: persisted, then in force from the next association ---------------------------------
answer = c.call(transfer_request([(0, wrap(KEK, EK2)), (2, wrap(KEK, AK2))]))
check(answer == SUCCESS, "transfer answered success %s" % answer)
check(rot.seq == 1 and rot.keys == (EK2, AK2, KEK), "persisted before the answer")
check(log.standard.entries_in_use() == 1 and log.last_code == 48, "event 48: global key(s) changed")
check(c.get(8, CLOCK, 2)[:2] == b"\x09\x0c", "the association goes on with the keys it began with")
last_ic = c.server_ic
# the old keys are refused at the next association; the new ones work, counters go on rising
old = FwClient(server, c.ic)
server.link_up(1)
aare = old.send(old.aarq())
check(b"\xa3\x05\xa1\x03\x02\x01\x0d" in aare, "old keys: authentication failure")
new = FwClient(server, c.ic + 10, ek=EK2, ak=AK2)
new.server_ic = last_ic  # the server's counter never goes back: no IV twice under any key
new.associate()
check(new.get(8, CLOCK, 2)[:2] == b"\x09\x0c", "new keys read the clock")
last_ic = new.server_ic
# the master key too; the next transfer is wrapped with the new one, even in the same association
answer = new.call(transfer_request([(3, wrap(KEK, KEK2))]))
check(answer == SUCCESS and rot.keys == (EK2, AK2, KEK2), "master key rotated")
answer = new.call(transfer_request([(2, wrap(KEK, AK))]))
check(answer == b"\xc7\x01\xc1\xfa\x00", "the old master key no longer wraps")
answer = new.call(transfer_request([(2, wrap(KEK2, AK))]))
check(answer == SUCCESS and rot.keys == (EK2, AK, KEK2) and rot.seq == 3, "wrapped with the new")
last_ic = new.server_ic

# -- after a restart: the rotated keys are in force --------------------------------------------------
server2 = build_server(d, keys=keys(kek=KEK))[0]
_servers.append(server2)
check(server2.security.kek == KEK2, "restart: the rotated master key")
old = FwClient(server2, new.ic + 10, ek=EK2, ak=AK2)
server2.link_up(1)
aare = old.send(old.aarq())
check(b"\xa3\x05\xa1\x03\x02\x01\x0d" in aare, "restart: the replaced authentication key fails")
c3 = FwClient(server2, new.ic + 20, ek=EK2, ak=AK)
c3.server_ic = last_ic
c3.associate()
check(c3.get(8, CLOCK, 2)[:2] == b"\x09\x0c", "restart: the rotated keys read")
# a keys file provisioned anew (other management keys) wins over keys rotated under the old one
server3 = build_server(d, keys=dict(keys(kek=KEK), ek=EK2))[0]
_servers.append(server3)
check(server3.security.ek == EK2 and server3.security.ak == AK and server3.security.kek == KEK,
      "another keys file: its own keys")

# -- power cuts at every flash step of a rotation ----------------------------------------------------
flash = RamFlash(64)
base = keys(kek=KEK)
steps = 0
cuts = 0
while True:
    mount_ram(flash, "/kt_cut", fresh=True)
    rk = RotatedKeys("/kt_cut", base)
    rk.save(EK2, AK2, KEK)  # a first rotation, done
    flash.steps_left = steps
    try:
        RotatedKeys("/kt_cut", base).save(EK, AK2, KEK2)
        done = True
    except PowerCut:
        done = False
        cuts += 1
        unmount_cut("/kt_cut")
    flash.steps_left = -1
    mount_ram(flash, "/kt_cut")
    got = RotatedKeys("/kt_cut", base).keys
    if done:
        check(got == (EK, AK2, KEK2), "no cut: the new keys")
        break
    check(got in ((EK2, AK2, KEK), (EK, AK2, KEK2)), "cut at step %d: %s" % (steps, got))
    steps += 1
check(cuts > 2, "cuts hit the rotation %d times" % cuts)

# -- the P1 keys: security setup 0.0.43.0.1.255 ------------------------------------------------------
P1_SETUP = b"\x00\x00\x2b\x00\x01\xff"
P1EK = bytes(range(0x10, 0x20))
P1AK = bytes(range(0x20, 0x30))
TELEGRAM = b"/MKS5\\meterkast\r\n\r\n1-0:1.8.1(000001.000*kWh)\r\n!ABCD\r\n"


def p1_frame(framer):
    n = framer.wrap(TELEGRAM, len(TELEGRAM))
    return bytes(framer.buf[:n])


def p1_open(frame, ek, ak):
    """The telegram of a P1 frame under (ek, ak), or None when its tag does not verify."""
    check(frame[2:10] == SYSTEM_TITLE and frame[13] == 0x30, "P1 frame header")
    iv = frame[2:10] + frame[14:18]
    out = bytearray(len(frame) - 18 - 12)
    if Gcm(ek, max_len=256).decrypt_into(iv, b"\x30" + ak, frame[18:], len(frame) - 18, out, 12) < 0:
        return None
    return bytes(out)


def fc(frame):
    return int.from_bytes(frame[14:18], "big")


check(P1_SETUP not in listed, "no encrypted P1: no P1 security setup in the list")
c4 = FwClient(server2, c3.ic + 10, ek=EK2, ak=AK)
c4.server_ic = c3.server_ic
c4.associate()
answer = c4.call(transfer_request([(0, wrap(KEK2, EK2))], P1_SETUP))
check(answer == b"\xc7\x01\xc1\x03\x00", "no encrypted P1: read-write-denied %s" % answer)

d = fresh()
p1_server = build_server(d, keys=keys(kek=KEK))[0]
_servers.append(p1_server)
framer = P1Encryptor(SYSTEM_TITLE, {"ek": P1EK, "ak": P1AK}, d)
p1_server.objects.p1 = framer
pub = PublicClient(p1_server)
answer = pub.call(transfer_request([(0, wrap(KEK, EK2))], P1_SETUP))
check(answer == b"\xc7\x01\xc1\x03\x00", "public client: P1 keys read-write-denied %s" % answer)
check(framer.rotation.seq == 0, "public client: nothing persisted")
c = FwClient(p1_server, 1)
c.associate()
listed = {o[2]: o for o in parse_object_list(c.get(15, ASSOCIATION, 2))}
check(listed[P1_SETUP][:2] == (64, 0) and listed[P1_SETUP][4] == {1: 0, 2: 1},
      "encrypted P1 and a master key: the P1 security setup, global_key_transfer offered %s"
      % (listed[P1_SETUP],))
check(c.get(64, P1_SETUP, 1) == b"\x09\x06" + P1_SETUP, "P1 security setup LN")
check(c.get(64, P1_SETUP, 2) == b"\x16\x03", "P1 policy: authenticated and encrypted")
check(c.get(64, P1_SETUP, 3) == b"\x16\x00", "P1 suite 0")
check(c.get(64, P1_SETUP, 4) == b"\x09\x00", "P1: no client system title")
check(c.get(64, P1_SETUP, 5) == b"\x09\x08" + SYSTEM_TITLE, "P1 server title")

before = p1_frame(framer)
check(p1_open(before, P1EK, P1AK) == TELEGRAM, "the file's P1 keys before the rotation")
for items, result in (
    ([(0, wrap(KEK2, EK2))], 250),  # wrapped with another master key
    ([(0, wrap(P1EK, EK2))], 250),  # wrapped with the P1 key itself
    ([(3, wrap(KEK, KEK2))], 250),  # P1 has no master key of its own
    ([(0, wrap(KEK, EK2)), (2, wrap(KEK, AK2)[:23] + b"\x00")], 250),  # one altered: none taken
    ([(2, wrap(KEK, AK2)[:16])], 12),  # not 24 octets
):
    answer = c.call(transfer_request(items, P1_SETUP))
    check(answer == b"\xc7\x01\xc1" + bytes((result,)) + b"\x00", "P1 refused %d: %s %s" % (result, answer, items))
check(framer.rotation.seq == 0 and framer.rotation.keys is None, "P1: nothing persisted")
check(p1_open(p1_frame(framer), P1EK, P1AK) == TELEGRAM, "refused: the P1 keys stay")

answer = c.call(transfer_request([(0, wrap(KEK, EK2)), (2, wrap(KEK, AK2))], P1_SETUP))
check(answer == SUCCESS, "P1 transfer answered success %s" % answer)
check(framer.rotation.keys == (EK2, AK2, bytes(16)), "P1 keys persisted before the answer")
check(p1_server.security.rotation.seq == 0 and p1_server.security.ek == EK,
      "the management keys are not touched")
after = p1_frame(framer)
check(p1_open(after, EK2, AK2) == TELEGRAM, "the next telegram is under the new P1 keys")
check(p1_open(after, P1EK, P1AK) is None and p1_open(after, EK2, P1AK) is None,
      "and does not verify under the old keys (nor the old authentication key)")
check(fc(after) > fc(before), "the frame counter goes on: %d after %d" % (fc(after), fc(before)))
check(c.get(8, CLOCK, 2)[:2] == b"\x09\x0c", "the association goes on with the management keys")
# only the authentication key; then a rotated master key wraps the next P1 keys
answer = c.call(transfer_request([(2, wrap(KEK, AK))], P1_SETUP))
check(answer == SUCCESS and framer.rotation.keys == (EK2, AK, bytes(16)), "P1 AK alone")
check(p1_open(p1_frame(framer), EK2, AK) == TELEGRAM, "the new AK from the next telegram")
answer = c.call(transfer_request([(3, wrap(KEK, KEK2))]))
check(answer == SUCCESS, "management master key rotated")
answer = c.call(transfer_request([(0, wrap(KEK, P1EK))], P1_SETUP))
check(answer == b"\xc7\x01\xc1\xfa\x00", "P1 keys: the old master key no longer wraps")
answer = c.call(transfer_request([(0, wrap(KEK2, EK))], P1_SETUP))
check(answer == SUCCESS and framer.rotation.keys == (EK, AK, bytes(16)), "wrapped with the new")
last = p1_frame(framer)
check(p1_open(last, EK, AK) == TELEGRAM, "in force at the next telegram")

# a restart: the rotated P1 keys are in force and the counter goes on above every frame sent
framer2 = P1Encryptor(SYSTEM_TITLE, {"ek": P1EK, "ak": P1AK}, d)
again = p1_frame(framer2)
check(p1_open(again, EK, AK) == TELEGRAM and p1_open(again, P1EK, P1AK) is None,
      "restart: the rotated P1 keys")
check(fc(again) > fc(last), "restart: frame counter %d above %d" % (fc(again), fc(last)))
# a keys file provisioned with other P1 keys wins over keys rotated under the old ones
framer3 = P1Encryptor(SYSTEM_TITLE, {"ek": EK2, "ak": P1AK}, d)
check(p1_open(p1_frame(framer3), EK2, P1AK) == TELEGRAM, "another keys file: its own P1 keys")
del framer, framer2, framer3

# -- power cuts at every flash step of a P1 rotation, telegrams sent before and after -------------
flash = RamFlash(64)
p1_base = {"ek": P1EK, "ak": P1AK}
steps = 0
cuts = 0
sent = []
while True:
    mount_ram(flash, "/kt_p1", fresh=steps == 0)
    f = P1Encryptor(SYSTEM_TITLE, p1_base, "/kt_p1")
    if steps == 0:
        f.transfer(EK2, AK2)  # a first rotation, done
    sent.append(p1_frame(f))
    flash.steps_left = steps
    try:
        f.transfer(EK, AK2)
        sent.append(p1_frame(f))
        done = True
    except PowerCut:
        done = False
        cuts += 1
        unmount_cut("/kt_p1")
        f = None
        gc.collect()  # the file the cut left open is finalised now, not under a heap lock
    flash.steps_left = -1
    if done:
        vfs.umount("/kt_p1")
    mount_ram(flash, "/kt_p1")
    got = RotatedKeys("/kt_p1", p1_base, P1_KEYSET_SLOTS).keys
    f = P1Encryptor(SYSTEM_TITLE, p1_base, "/kt_p1")
    probe = p1_frame(f)
    check(fc(probe) > max(fc(x) for x in sent), "cut at step %d: the counter goes on" % steps)
    sent.append(probe)
    if done:
        check(got == (EK, AK2, bytes(16)), "no cut: the new P1 keys")
        check(p1_open(probe, EK, AK2) == TELEGRAM, "no cut: telegrams under the new P1 keys")
        break
    check(got in ((EK2, AK2, bytes(16)), (EK, AK2, bytes(16))), "cut at step %d: %s" % (steps, got))
    check(p1_open(probe, got[0], got[1]) == TELEGRAM, "cut at step %d: telegrams verify" % steps)
    if got[0] == EK:  # the new keys landed: the next cut starts from them again
        mount_ram(flash, "/kt_p1")
        RotatedKeys("/kt_p1", p1_base, P1_KEYSET_SLOTS).save(EK2, AK2, bytes(16))
        vfs.umount("/kt_p1")
    steps += 1
fcs = [fc(x) for x in sent]
check(len(set(fcs)) == len(fcs), "no frame counter (IV) used twice across %d cuts" % cuts)
check(cuts > 2, "cuts hit the P1 rotation %d times" % cuts)
print("OK")
