"""Firmware images and flash: building a board image (file selection per module, mpy-cross,
ROMFS/LittleFS layout: `build`), deploying it to a board over mpremote (`flash`), and reading a
meter's flash image back (`flashimage`: energy registers, the quarter-hour profile, counters),
with the layouts taken from the firmware's contract modules."""
