"""A DLMS/COSEM head-end client (IEC 62056-46 HDLC or the IEC 62056-47 TCP wrapper, logical-name
referencing, security suite 0).

Written for `meterkast read` from the Green/Blue Book wire formats, independently of the
firmware's server: the two only meet on the wire. Uses pyserial (any URL or device path),
crcmod and cryptography only.

    hdlc.HdlcClient      framing, SNRM/UA negotiation, segmentation both ways, RR pacing
    wrapper.WrapperClient  the TCP wrapper: 8-byte header per APDU, the same request() surface
    axdr                 Data encoding/decoding, COSEM date-time
    security             AES-GCM (SC 0x30), HLS-GMAC, the persistent invocation counter
    client.Association   AARQ/AARE (public or HLS-GMAC), GET/GET-next, selective access
    localtime            Europe/Amsterdam civil time (the EU summer-time rule)
"""
