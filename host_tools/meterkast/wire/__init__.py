"""Bytes seen on a meter's consumer-side wires, decoded: DSMR P1 telegrams of every generation
and national variant (specification tables, units, values, CRC), encrypted P1 frames (general
glo-ciphering), the internal metering->comms link frames, and the frame detector that splits an
unknown byte stream into telegrams, encrypted frames, HDLC frames and link frames. HDLC, A-XDR and
GCM come from `meterkast.dlms`; this package never writes them again."""
