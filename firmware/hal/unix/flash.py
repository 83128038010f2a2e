# meterkast: board flash on the emulator: LittleFS on a block device backed by an image file
# MIT license
#
# The firmware's persistent data goes through the same path as on a board: a LittleFS v2 file
# system (vfs.VfsLfs2) on a block device. Here the device is an image file in the --state
# directory, sized and erased like an RP2040's flash file system (4 KiB erase blocks).
# Each block write is one write() call, so a process killed mid-commit leaves whole blocks,
# the granularity at which LittleFS's power-loss guarantees are stated.
import vfs

BLOCK_SIZE = 4096
BLOCK_COUNT = 256  # 1 MiB, close to the 1.4 MB file system of a 2 MB Pico
# An erased block, made once (immutable, shared by every meter in the interpreter): an erase
# allocates nothing, so it never needs 4 KiB in one piece from a fragmented heap.
_ERASED = b"\xff" * BLOCK_SIZE


class FileBlockDevice:
    def __init__(self, path, block_size=BLOCK_SIZE, block_count=BLOCK_COUNT):
        self.block_size = block_size
        self.block_count = block_count
        try:
            self._f = open(path, "r+b")
        except OSError:
            with open(path, "wb") as f:
                blank = b"\xff" * block_size
                for _ in range(block_count):
                    f.write(blank)
            self._f = open(path, "r+b")
        # An image of another size (e.g. a truncated copy) is refused, never grown or cut: a
        # write past its end would silently make it bigger, and then nothing reads it back.
        size = self._f.seek(0, 2)
        if size != block_size * block_count:
            self._f.close()
            raise OSError("%s is %d bytes, not %d (%d blocks of %d)" % (
                path, size, block_size * block_count, block_count, block_size))
        self.bytes_written = 0
        self.erases = 0

    def readblocks(self, n, buf, off=0):
        self._f.seek(n * self.block_size + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            off = 0
        self._f.seek(n * self.block_size + off)
        self._f.write(buf)
        self.bytes_written += len(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.block_count
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            self._f.seek(arg * self.block_size)
            self._f.write(_ERASED if self.block_size == BLOCK_SIZE else b"\xff" * self.block_size)
            self.erases += 1
            return 0
        if op == 3:  # sync
            self._f.flush()
            return 0
        return 0

    def close(self):
        self._f.close()


def _blank(bdev):
    buf = bytearray(bdev.block_size)
    for n in range(2):  # LittleFS keeps its superblock pair in blocks 0 and 1
        bdev.readblocks(n, buf)
        for i in range(len(buf)):
            if buf[i] != 0xFF:
                return False
    return True


def mount(image_path, mount_point="/flash"):
    """Mount and return (mount point, block device).

    Only a blank (erased) image is formatted. An image that holds data but does not mount is
    never formatted: that would turn the registers back to zero. OSError is raised instead and
    the meter runs without persistence, flagged as a critical error.
    """
    bdev = FileBlockDevice(image_path)
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        if not _blank(bdev):
            bdev.close()
            raise
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, mount_point)
    return mount_point, bdev
