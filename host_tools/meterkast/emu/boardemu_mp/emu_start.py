# meterkast board emulator, MicroPython side: what a board does at power-on.
#
#   micropython -i emu_start.py IMAGE HW_JSON EMU_DIR WORLD_DIR
#
# EMU_DIR holds this file and emu_machine/emu_world; WORLD_DIR the host's copies of the
# simulated household (see emu_world).
#
# The flash image (LittleFS v2 on a file-backed block device) is mounted at "/", exactly where
# a board's own file system is; the host file system moves to "/host" so the emulated UARTs can
# still open their ptys. `machine` is replaced by emu_machine (UART on ptys, RTC from the host
# clock, WDT, reset), `network` by emu_network (a WLAN station on the host's loopback). Then, as on a board, main.py runs (here: main.run_board(), because the
# unix port's sys.platform would send main.py's own __main__ block to the unix HAL), and when
# it returns or is interrupted with Ctrl-C the REPL follows (-i), where mpremote finds it.
import sys

import vfs

_IMAGE = sys.argv[1]
_HW = sys.argv[2]
_EMU_DIR = sys.argv[3]
_WORLD_DIR = sys.argv[4]
_BLOCK = 4096


class FileBlockDevice:
    def __init__(self, path):
        self._f = open(path, "r+b")
        self._f.seek(0, 2)
        self.count = self._f.tell() // _BLOCK

    def readblocks(self, n, buf, off=0):
        self._f.seek(n * _BLOCK + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        self._f.seek(n * _BLOCK + (off or 0))
        self._f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return _BLOCK
        if op == 6:
            self._f.seek(arg * _BLOCK)
            self._f.write(b"\xff" * _BLOCK)
            return 0
        if op == 3:
            self._f.flush()
        return 0


def _power_on():
    bdev = FileBlockDevice(_IMAGE)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        # A blank (erased) chip: format it, as MicroPython's _boot.py does on a new board.
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    sys.path[:] = [".frozen", _EMU_DIR]
    import emu_machine

    emu_machine.configure(_HW)
    sys.modules["machine"] = emu_machine
    import emu_network

    sys.modules["network"] = emu_network  # WLAN to the host's emulated access point
    vfs.umount("/")
    vfs.mount(fs, "/")
    vfs.mount(vfs.VfsPosix("/"), "/host")
    emu_machine.hw()["host_prefix"] = "/host"
    import os

    os.chdir("/")
    # The board's path first; the emulator's own modules (the simulated world) last.
    sys.path[:] = ["", ".frozen", "/lib", "/host" + _EMU_DIR, "/host" + _WORLD_DIR]
    return os


def _run_main(os):
    try:
        os.stat("/main.py")
    except OSError:
        print("emulated board: no main.py on flash")
        return
    try:
        try:
            os.stat("/boot.py")
            exec(open("/boot.py").read(), {"__name__": "boot"})
        except OSError:
            pass
        import main

        main.run_board()
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
    except Exception as e:  # a board prints the traceback and drops to the REPL
        sys.print_exception(e)


_run_main(_power_on())
