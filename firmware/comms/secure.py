# meterkast: the secure-comms module: owns the ports, the keys and everything that leaves the meter
# MIT license
#
# Metrology hands readings over through the one-way queue; this module turns them into P1
# telegrams (optionally encrypted) and, where fitted, serves the grid operator on P3. Keys live
# here and nowhere else.
from comms.p1_port import P1Port
from comms.p1_telegram import TelegramBuilder


class SecureComms:
    def __init__(self, hal, readings, identity, keys_path=None, profile=None):
        keys = None
        if keys_path:
            from comms.keystore import load_keys

            keys = load_keys(keys_path)
        self.hal = hal
        self.readings = readings
        self.identity = identity
        self.tasks = []
        self.p1 = None
        self.p3 = None
        if hal.p1 is not None:
            builder = TelegramBuilder(identity["equipment_id"], hal.frontend.phases)
            framer = None
            if keys and keys.get("p1"):
                from comms.p1_crypt import P1Encryptor

                framer = P1Encryptor(keys["system_title"], keys["p1"], hal.storage)
            self.p1 = P1Port(hal.p1, readings, builder, framer, hal.report)
            self.tasks.append(self.p1.run)
        if hal.p3 is not None:
            from comms.dlms_server import DlmsServer
            from comms.p3 import P3Port

            mgmt = None
            if keys and keys.get("management"):
                mgmt = dict(keys["management"])
                mgmt["system_title"] = keys["system_title"]
            server = DlmsServer(hal.clock, readings, profile, identity, mgmt, hal.storage)
            self.p3 = P3Port(hal.p3, server, hal.clock)
            self.tasks.append(self.p3.run)
