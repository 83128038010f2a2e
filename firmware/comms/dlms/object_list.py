# meterkast: the association's object list (class 15 attribute 2) for the client asking, streamed
# MIT license
#
# What a browsing head-end (GXDLMSDirector, GXDLMSClient.parseObjects) reads first: every object
# this client may see, with its class, version, logical name and access rights:
#
#   01 <n>  02 04  12 <class>  11 <version>  09 06 <logical name>
#                  02 02  01 <attributes>  02 03 0F <id> 16 <mode> <00 | 01 <k> 0F <selector>..>
#                         01 <methods>     02 02 0F <id> 16 <mode>
#
# The public client's list holds its four objects and the association; the management client's
# all of them (cosem.access and cosem.method_access say what each may do). The whole list is
# longer than a small PDU (787 bytes for the management client), so, like the profile buffer, it
# is encoded one element at a time into the outgoing blocks (fill) and never held whole.
from micropython import const

from comms.dlms import axdr, cosem

_ELEMENT_MAX = const(128)  # the largest element: the clock's, 120 bytes
_SELECTORS = b"\x01\x02\x0f\x01\x0f\x02"  # the profile buffer: by range (1) and by entry (2)


class ObjectList(axdr.EncodedStream):
    def __init__(self, objects):
        axdr.EncodedStream.__init__(self, _ELEMENT_MAX)
        self.objects = objects  # cosem.ObjectModel: access rights
        self.done = True
        self.failed = False  # never: the list cannot change under a transfer
        self.count = 0

    def start(self, management):
        """Begin the list of the client (management or public); then fill() until done."""
        self._management = management
        objects = self.objects
        count = 0
        for i in range(len(cosem.OBJECTS)):
            if objects.visible(i, management):
                count += 1
        self.count = count
        self._next = 0
        self._encn = axdr.put_header(self._enc, 0, axdr.ARRAY, count)
        self._encpos = 0
        self.done = False

    def fill(self, b, o, end):
        """Write the next encoded bytes into b[o:end]; return the new offset (done at the end)."""
        while o < end:
            if self._encpos < self._encn:
                o = self._copy_out(b, o, end)
                continue
            if not self._next_visible():
                break
            self._encn = self.element(self._enc, 0, self._next)
            self._encpos = 0
            self._next += 1
        self.done = self._encpos == self._encn and not self._next_visible()
        return o

    def _next_visible(self):
        """Move to the next object this client sees; False when there is none."""
        i = self._next
        n = len(cosem.OBJECTS)
        while i < n and not self.objects.visible(i, self._management):
            i += 1
        self._next = i
        return i < n

    def element(self, b, o, index):
        """object_list_element of OBJECTS[index] for this client at b[o:]; the new offset."""
        objects = self.objects
        management = self._management
        ln, cls = cosem.OBJECTS[index][0], cosem.OBJECTS[index][1]
        o = axdr.put_header(b, o, axdr.STRUCTURE, 4)
        o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, cls)
        o = axdr.put_tag_u8(b, o, axdr.UNSIGNED, cosem.class_version(cls))
        o = axdr.put_logical_name(b, o, ln)
        o = axdr.put_header(b, o, axdr.STRUCTURE, 2)
        n = cosem.attribute_count(cls)
        o = axdr.put_header(b, o, axdr.ARRAY, n)
        for attr in range(1, n + 1):
            mode = objects.access(index, attr, management)
            o = axdr.put_header(b, o, axdr.STRUCTURE, 3)
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, attr)
            o = axdr.put_tag_u8(b, o, axdr.ENUM, mode)
            if cls == cosem.CLASS_PROFILE and attr == 2 and mode:
                o = axdr.put_bytes(b, o, _SELECTORS)
            else:
                b[o] = axdr.NULL
                o += 1
        n = cosem.method_count(cls)
        o = axdr.put_header(b, o, axdr.ARRAY, n)
        for method in range(1, n + 1):
            o = axdr.put_header(b, o, axdr.STRUCTURE, 2)
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, method)
            o = axdr.put_tag_u8(b, o, axdr.ENUM, objects.method_access(index, method, management))
        return o
