"""xDLMS APDUs by their first byte, and the BER fields of an ACSE APDU (AARQ, AARE, RLRQ...)."""
from meterkast.dlms.axdr import AxdrError, read_length

APDU_NAMES = {
    0x60: "AARQ", 0x61: "AARE", 0x62: "RLRQ", 0x63: "RLRE", 0xC0: "get-request",
    0xC4: "get-response", 0xC1: "set-request", 0xC5: "set-response", 0xC3: "action-request",
    0xC7: "action-response", 0x0F: "data-notification", 0xDB: "general-glo-ciphering",
    0xC8: "glo-get-request", 0xCC: "glo-get-response", 0xC9: "glo-set-request",
    0xCD: "glo-set-response", 0xCB: "glo-action-request", 0xCF: "glo-action-response",
    0xD8: "exception-response", 0x0E: "confirmed-service-error",
}


def apdu_name(apdu):
    return APDU_NAMES.get(apdu[0], "0x%02X" % apdu[0]) if apdu else "empty"


def ber_fields(apdu, tag):
    """{tag: content} of a BER ACSE APDU whose first byte is `tag`, or {} when it is not one or
    is not well formed."""
    try:
        if apdu[0] != tag:
            return {}
        n, p = read_length(apdu, 1)
        end = min(p + n, len(apdu))
        fields = {}
        while p < end:
            t = apdu[p]
            n, q = read_length(apdu, p + 1)
            fields[t] = apdu[q:q + n]
            p = q + n
        return fields
    except (IndexError, AxdrError):
        return {}
