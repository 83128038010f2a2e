"""The dlms-cosem 21.3.2 client as the tests drive it: the management client (HLS-GMAC, suite 0)
over HDLC on a pty or over the IEC 62056-47 TCP wrapper."""
from dlms_cosem import enumerations
from dlms_cosem.clients.dlms_client import DlmsClient
from dlms_support import AK, CLIENT_TITLE, EK


def cosem_management(url, invocation_counter, tcp=None):
    """tcp: (host, port) of a wrapper endpoint; else HDLC over the pyserial `url`."""
    common = dict(
        client_logical_address=1,
        server_logical_address=1,
        authentication_method=enumerations.AuthenticationMechanism.HLS_GMAC,
        encryption_key=EK,
        authentication_key=AK,
        client_system_title=CLIENT_TITLE,
        client_initial_invocation_counter=invocation_counter,
        timeout=5,
    )
    if tcp is not None:
        return DlmsClient.with_tcp_transport(host=tcp[0], port=tcp[1], **common)
    return DlmsClient.with_serial_hdlc_transport(
        serial_port=url, server_physical_address=None, baud_rate=115200, **common)
