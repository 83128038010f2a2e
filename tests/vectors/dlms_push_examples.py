"""Public example frames of DLMS push ports (HAN), with their sources and the values the sources
document. Copied verbatim (hex) from:

* roarfred/AmsToMqttBridge (no licence file), Samples/Kaifa/readme.md and Samples/Kamstrup/readme.md
  (+ obisdata.md): frames with a byte-by-byte breakdown and the values written out.
* skagmo/meter_reading, documentation/hafslund_example: one Aidon frame (Hafslund, Norway)
  annotated field by field.
* UtilitechAS/amsreader-firmware (commit a88a0beb, Fair Source licence), test/payloads/<maker>/*.hex: frames users
  posted in the project's GitHub issues (file ghNNN-K: issue #NNN) or mailed to its maintainer
  (emNNN-K); test/test_decoder/expected_unencrypted.h is that project's own decode of each
  (its "golden"), which `expected` copies (W, V, A as it reports them; its import in kWh is
  given here in Wh). Where a source's own decode is known wrong, `note` says so and the value is
  left out instead of copied. Keys are the ones the sources publish (issue #501 comment 9; the
  #787 key printed in test/payloads/iskraemeco/README.md).

* fneur/smart-meter-tirol (GPL-3.0), doc/EXAMPLE.md: a Kaifa MA309 push of TINETZ (Austria) as
  M-Bus frames and as the joined 0xDB APDU, with its key and its decrypted plaintext.
* Noschvie/shrdzm (GPL-3.0), code/SHRDZMDevice/Device_IM350.cpp: encrypted HDLC frames of
  Austrian meters with their keys ("ckSimulation"), no values.
* A public Wiener Netze decoder script that the search index stores without naming its
  repository (stored file id 5762340903): frames and keys of an Iskra AM550 and a Landis+Gyr
  E450 on the optical port. Kept because the frames decrypt, with the key beside them, to
  data-notifications in the layout pocki80's gist 941fa090a8d6269a9b3b68c195f8750f documents;
  its repository is unknown, so treat these two as the weakest-sourced vectors.

For frames whose source gives a key but no values, `expected` checks what the layout
documentation fixes: the list format recognised, "authenticated" false (security control 0x20)
and the list's own time fields equal to the notification's date-time, which a wrong key could
not produce.

`expected` is in SI units (W, Wh, V, A); ids are strings. tests/host/test_console_push.py
checks every vector.
"""
# flake8: noqa

PUSH_VECTORS = [
    dict(
        name='kaifa_list1_roarfred', manufacturer='Kaifa', country='Norway',
        source='roarfred/AmsToMqttBridge', path='Samples/Kaifa/readme.md',
        documented="the readme's breakdown: '06 00 00 05 28: Integer following: 1320 Watt', time 2017-09-12 23:18:42",
        expected={'1-0:1.7.0': 1320, '0-0:1.0.0': '2017-09-12T23:18:42'},
        hex=(
            '7EA027010201105A87E6E7000F40000000090C07E1090C0217122AFF80000002010600000528B80C7E'
        ),
    ),
    dict(
        name='kamstrup_list1_roarfred', manufacturer='Kamstrup', country='Norway',
        source='roarfred/AmsToMqttBridge', path='Samples/Kamstrup/readme.md',
        documented='Samples/Kamstrup/obisdata.md, list #1 table (meter id, type, powers, currents, voltages, time)',
        expected={'1-0:0.0.5': '5706567274389702', '1-0:96.1.1': '6841121BN243101040', '1-0:1.7.0': 1468, '1-0:2.7.0': 0, '1-0:3.7.0': 0, '1-0:4.7.0': 462, '1-0:31.7.0': 5.64, '1-0:51.7.0': 2.02, '1-0:71.7.0': 5.11, '1-0:32.7.0': 232, '1-0:52.7.0': 228, '1-0:72.7.0': 233, '0-0:1.0.0': '2017-10-20T03:43:30'},
        hex=(
            '7EA0E32B21139886E6E7000F00000000090C07E10A1405032B1EFF80000002190A0E4B616D73747275705F5630303031'
            '09060101000005FF0A103537303635363732373433383937303209060101600101FF0A1236383431313231424E323433'
            '31303130343009060101010700FF06000005BC09060101020700FF060000000009060101030700FF0600000000090601'
            '01040700FF06000001CE090601011F0700FF060000023409060101330700FF06000000CA09060101470700FF06000001'
            'FF09060101200700FF1200E809060101340700FF1200E409060101480700FF1200E9A1A57E'
        ),
    ),
    dict(
        name='aidon_hafslund_skagmo', manufacturer='Aidon', country='Norway',
        source='skagmo/meter_reading', path='documentation/hafslund_example',
        documented="the file's annotated breakdown, values in hex with their scaler-unit: 06 00000552 (0F00 161B) = 1362 W, 06 000003E4 (161D) = 996 var, 10 005D (0FFF 1621) = 9.3 A, 12 09C4 (0FFF 1623) = 250.0 V, ids as visible strings",
        expected={'1-0:0.2.129': 'AIDON_V0001', '0-0:96.1.0': '7359992890941742', '0-0:96.1.7': '6515', '1-0:1.7.0': 1362, '1-0:2.7.0': 0, '1-0:3.7.0': 996, '1-0:4.7.0': 0, '1-0:31.7.0': 9.3, '1-0:32.7.0': 250.0},
        hex=(
            '7EA0D24108831382D6E6E7000F40000000000109020209060101000281FF0A0B4149444F4E5F56303030310202090600'
            '00600100FF0A1037333539393932383930393431373432020209060000600107FF0A0436353135020309060100010700'
            'FF060000055202020F00161B020309060100020700FF060000000002020F00161B020309060100030700FF06000003E4'
            '02020F00161D020309060100040700FF060000000002020F00161D0203090601001F0700FF10005D02020FFF16210203'
            '09060100200700FF1209C402020FFF1623E0C47E'
        ),
    ),
    dict(
        name='aidon_gh1119_1', manufacturer='Aidon', country='Norway',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/aidon/gh1119-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 4027, '1-0:2.7.0': 0, '1-0:32.7.0': 233.0, '1-0:52.7.0': 233.4, '1-0:72.7.0': 231.1, '1-0:31.7.0': 0.5, '1-0:51.7.0': 0.3, '1-0:71.7.0': 16.8, '1-0:1.8.0': 109552248.0, '0-0:96.1.0': '7359992890497997'},
        hex=(
            '7EA18A41088313EBFDE6E7000F40000000000112020209060101000281FF0A0B4149444F4E5F56303030310202090600'
            '00600100FF0A1037333539393932383930343937393937020209060000600107FF0A0436353334020309060100010700'
            'FF0600000FBB02020F00161B020309060100020700FF060000000002020F00161B020309060100030700FF0600000000'
            '02020F00161D020309060100040700FF06000001D802020F00161D0203090601001F0700FF10000502020FFF16210203'
            '09060100330700FF10000302020FFF1621020309060100470700FF1000A802020FFF1621020309060100200700FF1209'
            '1A02020FFF1623020309060100340700FF12091E02020FFF1623020309060100480700FF12090702020FFF1623020209'
            '060000010000FF090C07E90C0E00100000FF000000020309060100010800FF0600A729D902020F01161E020309060100'
            '020800FF060000000002020F01161E020309060100030800FF06000032F802020F011620020309060100040800FF0600'
            '17604402020F01162028087E'
        ),
    ),
    dict(
        name='aidon_gh143_2', manufacturer='Aidon', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/aidon/gh143-2.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 3547, '1-0:2.7.0': 0, '1-0:32.7.0': 228.9, '1-0:52.7.0': 230.3, '1-0:72.7.0': 229.3, '1-0:31.7.0': 9.6, '1-0:51.7.0': 2.4, '1-0:71.7.0': 4.0, '1-0:1.8.0': 62414156.0},
        hex=(
            '7EA2434108831385EBE6E7000F4000000000011B020209060000010000FF090C07E50C0103091832FF8000FF02030906'
            '0100010700FF0600000DDB02020F00161B020309060100020700FF060000000002020F00161B020309060100030700FF'
            '060000000002020F00161D020309060100040700FF060000029302020F00161D0203090601001F0700FF10006002020F'
            'FF1621020309060100330700FF10001802020FFF1621020309060100470700FF10002802020FFF162102030906010020'
            '0700FF1208F102020FFF1623020309060100340700FF1208FF02020FFF1623020309060100480700FF1208F502020FFF'
            '1623020309060100150700FF06000008A502020F00161B020309060100160700FF060000000002020F00161B02030906'
            '0100170700FF060000000002020F00161D020309060100180700FF060000000002020F00161D020309060100290700FF'
            '060000020B02020F00161B0203090601002A0700FF060000000002020F00161B0203090601002B0700FF060000000002'
            '020F00161D0203090601002C0700FF06000000E702020F00161D0203090601003D0700FF060000032C02020F00161B02'
            '03090601003E0700FF060000000002020F00161B0203090601003F0700FF060000000002020F00161D02030906010040'
            '0700FF06000001AC02020F00161D020309060100010800FF0603B85D4B02020F00161E020309060100020800FF060000'
            '000002020F00161E020309060100030800FF0600045CFF02020F001620020309060100040800FF0600B317C502020F00'
            '162093397E'
        ),
    ),
    dict(
        name='aidon_gh156_1', manufacturer='Aidon', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/aidon/gh156-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 2021, '1-0:2.7.0': 0, '1-0:32.7.0': 227.5, '1-0:52.7.0': 226.4, '1-0:72.7.0': 227.1, '1-0:31.7.0': 0.9, '1-0:51.7.0': 3.7, '1-0:71.7.0': 4.6, '1-0:1.8.0': 63068772.0},
        hex=(
            '7EA2434108831385EBE6E7000F4000000000011B020209060000010000FF090C07E50C0A05103900FF8000FF02030906'
            '0100010700FF06000007E502020F00161B020309060100020700FF060000000002020F00161B020309060100030700FF'
            '060000000002020F00161D020309060100040700FF060000024802020F00161D0203090601001F0700FF10000902020F'
            'FF1621020309060100330700FF10002502020FFF1621020309060100470700FF10002E02020FFF162102030906010020'
            '0700FF1208E302020FFF1623020309060100340700FF1208D802020FFF1623020309060100480700FF1208DF02020FFF'
            '1623020309060100150700FF06000000D502020F00161B020309060100160700FF060000000002020F00161B02030906'
            '0100170700FF060000000002020F00161D020309060100180700FF060000003602020F00161D020309060100290700FF'
            '060000030C02020F00161B0203090601002A0700FF060000000002020F00161B0203090601002B0700FF060000012102'
            '020F00161D0203090601002C0700FF060000000002020F00161D0203090601003D0700FF06000003F902020F00161B02'
            '03090601003E0700FF060000000002020F00161B0203090601003F0700FF060000000002020F00161D02030906010040'
            '0700FF06000000E902020F00161D020309060100010800FF0603C25A6402020F00161E020309060100020800FF060000'
            '000002020F00161E020309060100030800FF0600045D0602020F001620020309060100040800FF0600B49D8902020F00'
            '16201C907E'
        ),
    ),
    dict(
        name='kaifa_gh180_2', manufacturer='Kaifa', country='Norway',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh180-2.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 4097, '1-0:2.7.0': 0, '1-0:32.7.0': 239.2, '1-0:52.7.0': 0.0, '1-0:72.7.0': 239.7, '1-0:31.7.0': 12.06, '1-0:51.7.0': 5.75, '1-0:71.7.0': 13.41, '0-0:96.1.0': '6970631403275928'},
        hex=(
            '7EA079010201108093E6E7000F40000000090C07E60102070E2514FF800000020D09074B464D5F303031091036393730'
            '36333134303332373539323809084D413330344833450600001001060000000006000000C306000000000600002F1806'
            '0000167A060000346406000009580600000000060000095D5A4F7E'
        ),
    ),
    dict(
        name='kaifa_gh493_1', manufacturer='Kaifa', country='Norway',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh493-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 2269, '1-0:2.7.0': 0, '1-0:32.7.0': 236.7, '1-0:52.7.0': 0.0, '1-0:72.7.0': 236.7, '1-0:31.7.0': 7.09, '1-0:51.7.0': 6.9, '1-0:71.7.0': 4.21, '0-0:96.1.0': '6970631409168767'},
        hex=(
            '7EA079010201108093E6E7000F40000000090C07E7031603031C32FF800000020D09074B464D5F303031091036393730'
            '36333134303931363837363709084D4133303448334506000008DD0600000000060000000006000002D00600001BAF06'
            '00001AF0060000106E060000093F0600000000060000093F3AA27E'
        ),
    ),
    dict(
        name='kaifa_gh242_2', manufacturer='Kaifa', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh242-2.hex',
        note='reconstructed by the source from an annotated byte dump',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 7, '1-0:2.7.0': 0, '1-0:32.7.0': 243.4, '1-0:52.7.0': 0.0, '1-0:72.7.0': 0.0, '1-0:31.7.0': 0.2, '1-0:51.7.0': 0.0, '1-0:71.7.0': 0.0, '1-0:1.8.0': 137166.0, '0-0:96.1.0': '7340157030078807'},
        hex=(
            '7EA09B01000110561BE6E7000F40000000090C07E50507050E352DFF800000021209074B464D5F303031091037333430'
            '31353730333030373838303709084D41333034483444060000000706000000000600000000060000002D06000000C706'
            '000000000600000000060000098206000000000600000000090C07E50507050E352DFF80000006000217CE0600000000'
            '0600000000060006A5C5CEF87E'
        ),
    ),
    dict(
        name='kaifa_gh242_3', manufacturer='Kaifa', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh242-3.hex',
        note='reconstructed by the source from an annotated byte dump; 1 phase',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 0, '1-0:2.7.0': 0, '1-0:32.7.0': 244.2, '1-0:31.7.0': 0.07, '1-0:1.8.0': 204.0, '0-0:96.1.0': '7340157010120038'},
        hex=(
            '7EA0870100011026D8E6E7000F40000000090C07E50507050E320FFF800000020E09074B464D5F303031091037333430'
            '31353730313031323030333809084D413130354832450600000000060000000006000000000600000000060000004206'
            '0000098A090C07E50507050E320FFF80000006000000CC06000000000600000000060000005E52CD7E'
        ),
    ),
    dict(
        name='kaifa_gh242_1', manufacturer='Kaifa', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh242-1.hex',
        note="reconstructed by the source; the golden reads this OBIS-coded form's voltage and current unscaled (2322.00 V, 32.00 A), Kaifa's own list scalers give 232.2 V, 0.032 A: those two are left out",
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 3, '1-0:2.7.0': 0, '1-0:1.8.0': 1142.0, '0-0:96.1.0': '7340157030542476'},
        hex=(
            '7EA11D01000110B0AEE6E7000F4000000000022409060100000281FF09074B464D5F30303109060000600100FF091037'
            '33343031353730333035343234373609060000600107FF09074D41333034483409060100010700FF0600000003090601'
            '00020700FF060000000009060100030700FF060000000009060100040700FF0600000000090601001F0700FF06000000'
            '2009060100330700FF060000000009060100470700FF060000000009060100200700FF060000091209060100340700FF'
            '060000000009060100480700FF060000000009060000010000FF090C07E5031702123200FFFFC40009060100010800FF'
            '060000047609060100020800FF060000000009060100030800FF060000004309060100040800FF060000000081BE7E'
        ),
    ),
    dict(
        name='kaifa_gh539_4', manufacturer='Kaifa', country='Austria',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh539-4.hex',
        note='the decrypted APDU as the source logged it (Vorarlbergnetz MA309M)',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 0, '1-0:2.7.0': 24, '1-0:32.7.0': 233.0, '1-0:52.7.0': 232.5, '1-0:72.7.0': 233.0, '1-0:31.7.0': 0.45, '1-0:51.7.0': 0.43, '1-0:71.7.0': 0.81, '1-0:1.8.0': 1403036.0, '0-0:96.1.0': '1KFM0200182517'},
        hex=(
            '0F002A3CB40C07E70419020A3B1E00FF8880021009060000010000FF090C07E70419020A3B1E00FF8880020209060000'
            '600100FF090E314B464D303230303138323531370202090600002A0000FF09104B464D31323030323030313832353137'
            '020309060100200700FF12091A02020FFF1623020309060100340700FF12091502020FFF1623020309060100480700FF'
            '12091A02020FFF16230203090601001F0700FF12002D02020FFE1621020309060100330700FF12002B02020FFE162102'
            '0309060100470700FF12005102020FFE1621020309060100010700FF060000000002020F00161B020309060100020700'
            'FF060000001802020F00161B020309060100010800FF060015689C02020F00161E020309060100020800FF060010D546'
            '02020F00161E020309060100030800FF06000204D102020F001620020309060100040800FF060007D32A02020F001620'
        ),
    ),
    dict(
        name='kamstrup_em001_1', manufacturer='Kamstrup', country='Norway',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/em001-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 1247, '1-0:2.7.0': 0, '1-0:32.7.0': 236.0, '1-0:52.7.0': 236.0, '1-0:72.7.0': 236.0, '1-0:31.7.0': 1.89, '1-0:51.7.0': 3.27, '1-0:71.7.0': 1.28, '1-0:1.8.0': 85823280.0, '1-0:0.0.5': '5706567202753025'},
        hex=(
            '7EA12C2B2113FC04E6E7000F000000000C07E50B1904170037FF80000002230A0E4B616D73747275705F563030303109'
            '060101000005FF0A103537303635363732303237353330323509060101600101FF0A1236383431313331424E32343331'
            '303130343009060101010700FF06000004DF09060101020700FF060000000009060101030700FF060000000009060101'
            '040700FF06000001A1090601011F0700FF06000000BD09060101330700FF060000014709060101470700FF0600000080'
            '09060101200700FF1200EC09060101340700FF1200EC09060101480700FF1200EC09060001010000FF090C07E50B1904'
            '170037FF80000009060101010800FF060082F4B809060101020800FF060006EDC309060101030800FF0600003BDF0906'
            '0101040800FF0600168B3E3B687E'
        ),
    ),
    dict(
        name='kamstrup_gh862_3', manufacturer='Kamstrup', country='Norway',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/gh862-3.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 3825, '1-0:2.7.0': 0, '1-0:32.7.0': 242.0, '1-0:52.7.0': 240.0, '1-0:72.7.0': 242.0, '1-0:31.7.0': 1.06, '1-0:51.7.0': 9.95, '1-0:71.7.0': 6.01, '1-0:0.0.5': '5706567277656672'},
        hex=(
            '7EA0E22B2113239AE6E7000F000000000C07E80A1E03112000FF80000002190A0E4B616D73747275705F563030303109'
            '060101000005FF0A103537303635363732373736353636373209060101600101FF0A1236383431313331424E32343331'
            '303130343009060101010700FF0600000EF109060101020700FF060000000009060101030700FF060000000009060101'
            '040700FF0600000183090601011F0700FF060000006A09060101330700FF06000003E309060101470700FF0600000259'
            '09060101200700FF1200F209060101340700FF1200F009060101480700FF1200F217EC7E'
        ),
    ),
    dict(
        name='kamstrup_gh741_1', manufacturer='Kamstrup', country='Denmark',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/gh741-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 21, '1-0:2.7.0': 0, '1-0:32.7.0': 226.0, '1-0:52.7.0': 221.0, '1-0:72.7.0': 226.0, '1-0:31.7.0': 0.79, '1-0:51.7.0': 0.48, '1-0:71.7.0': 1.23, '1-0:0.0.5': '5706567282299475'},
        hex=(
            '7EA0E22B2113239AE6E7000F000000000C07E80301050C2514FF80000002190A0E4B616D73747275705F563030303109'
            '060101000005FF0A103537303635363732383232393934373509060101600101FF0A1236383431313338424E31343331'
            '303130313009060101010700FF060000001509060101020700FF060000000009060101030700FF060000000009060101'
            '040700FF06000000BF090601011F0700FF060000004F09060101330700FF060000003009060101470700FF060000007B'
            '09060101200700FF1200E209060101340700FF1200DD09060101480700FF1200E2BD2B7E'
        ),
    ),
    dict(
        name='kamstrup_gh239_1', manufacturer='Kamstrup', country='Sweden',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/gh239-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 3503, '1-0:2.7.0': 0, '1-0:32.7.0': 243.0, '1-0:52.7.0': 242.0, '1-0:72.7.0': 243.0, '1-0:31.7.0': 5.81, '1-0:51.7.0': 5.6, '1-0:71.7.0': 4.46, '1-0:0.0.5': '5706567331323526'},
        hex=(
            '7EA0E22B2113239AE6E7000F000000000C07E6021104162132FF80000002190A0E4B616D73747275705F563030303109'
            '060101000005FF0A103537303635363733333133323335323609060101600101FF0A1236383431313331424E32343531'
            '303130393209060101010700FF0600000DAF09060101020700FF060000000009060101030700FF060000061A09060101'
            '040700FF0600000000090601011F0700FF060000024509060101330700FF060000023009060101470700FF06000001BE'
            '09060101200700FF1200F309060101340700FF1200F209060101480700FF1200F3051D7E'
        ),
    ),
    dict(
        name='kamstrup_gh216_1', manufacturer='Kamstrup', country='Denmark',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/gh216-1.hex',
        note='current-transformer meter',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 0, '1-0:2.7.0': 2585, '1-0:32.7.0': 233.0, '1-0:52.7.0': 233.0, '1-0:72.7.0': 233.0, '1-0:31.7.0': 909.99, '1-0:51.7.0': 939.55, '1-0:71.7.0': 926.45, '1-0:1.8.0': 127676000.0},
        hex=(
            '7EA1CB2B211357E7E6E7000F000000000C07E6020102091114FF80000002410A0E4B616D73747275705F563030303109'
            '060101010800FF0600C2D17009060101020800FF06013BD29509060101030800FF06089D28BE09060101040800FF0600'
            '01351D09060101000001FF060197EC4809060101010700FF060000000009060101020700FF0600000A19090601010307'
            '00FF060000F78409060101040700FF060000000009060001010000FF090C07E6020102091114FF800000090601012007'
            '00FF1200E909060101340700FF1200E909060101480700FF1200E9090601011F0700FF060001637709060101330700FF'
            '0600016F0309060101470700FF06000169E509060101150700FF060000000009060101290700FF060000000009060101'
            '3D0700FF060000000009060101210700FF12000209060101350700FF12000509060101490700FF120004090601010D07'
            '00FF12000409060101160700FF06000001C0090601012A0700FF060000046D090601013E0700FF06000003EC09060101'
            '160800FF06006F8E9E090601012A0800FF06006BA1B6090601013E0800FF0600768BB509060101150800FF0600345805'
            '09060101290800FF060041F1F4090601013D0800FF06006270ECD02A7E'
        ),
    ),
    dict(
        name='kamstrup_gh350_2', manufacturer='Kamstrup', country='Switzerland',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kamstrup/gh350-2.hex',
        note='the decrypted APDU as the source logged it',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 0, '1-0:2.7.0': 528, '1-0:32.7.0': 234.0, '1-0:52.7.0': 236.0, '1-0:72.7.0': 233.0, '1-0:31.7.0': 1.47, '1-0:51.7.0': 1.62, '1-0:71.7.0': 1.71, '1-0:1.8.0': 1717350.0},
        hex=(
            '0F000000000C07E60A1F010B1B00FF80000002410A0E4B616D73747275705F563030303109060101010800FF0600029E'
            'D709060101020800FF060000622709060101030800FF06000009B809060101040800FF06000282B509060101000001FF'
            '06020C84FD09060101010700FF060000000009060101020700FF060000021009060101030700FF060000000009060101'
            '040700FF060000000509060001010000FF090C07E60A1F010B1B00FF80000009060101200700FF1200EA090601013407'
            '00FF1200EC09060101480700FF1200E9090601011F0700FF060000009309060101330700FF06000000A2090601014707'
            '00FF06000000AB09060101150700FF060000000009060101290700FF0600000000090601013D0700FF06000000000906'
            '0101210700FF12005A09060101350700FF12003509060101490700FF120059090601010D0700FF120063090601011607'
            '00FF06000000BD090601012A0700FF060000002A090601013E0700FF060000012909060101160800FF06000025C10906'
            '01012A0800FF060000180A090601013E0800FF0600002AE609060101150800FF060000EE9709060101290800FF060001'
            '6BE4090601013D0800FF0600004AE6'
        ),
    ),
    dict(
        name='sagemcom_gh867_2', manufacturer='Sagemcom', country='Austria',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/sagemcom/gh867-2.hex',
        note='the decrypted APDU as the source logged it (T210-D); README: DateTime 2024-11-15 14:45:45',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 0, '1-0:2.7.0': 9, '1-0:32.7.0': 233.4, '1-0:52.7.0': 232.5, '1-0:72.7.0': 232.1, '1-0:31.7.0': 0.02, '1-0:51.7.0': 0.48, '1-0:71.7.0': 0.83, '1-0:1.8.0': 4752026.0},
        hex=(
            '0F8070DD270C07E80B0F050E2D2D00FFC4020223090C07E80B0F050E2D2D00FFC40209060100010800FF060048829A02'
            '020F00161E09060100020800FF06004EB19902020F00161E09060100010700FF060000000002020F00161B0906010002'
            '0700FF060000000902020F00161B09060100200700FF12091E02020FFF162309060100340700FF12091502020FFF1623'
            '09060100480700FF12091102020FFF1623090601001F0700FF12000202020FFE162109060100330700FF12003002020F'
            'FE162109060100470700FF12005302020FFE1621090601000D0700FF12005E02020FFD16FF090C313738323130313238'
            '353032'
        ),
    ),
    dict(
        name='iskraemeco_gh615_1', manufacturer='Iskraemeco', country='Slovenia',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh615-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 1393, '1-0:2.7.0': 0, '1-0:32.7.0': 237.9, '1-0:52.7.0': 237.9, '1-0:72.7.0': 229.6, '1-0:31.7.0': 1.03, '1-0:51.7.0': 1.25, '1-0:71.7.0': 5.97, '0-0:96.1.3': '16820005'},
        hex=(
            '7EA081CF02231385E1E6E7000F00000D7E0C07E707180113281900FF88800212091049534B3130333037383933373536'
            '30360908313638323030303506000005710600000000060000000006000002E212094B12094B1208F812006712007D12'
            '025506000000100600000033060000052D060000000006000000000600000000DF427E'
        ),
    ),
    dict(
        name='iskraemeco_gh956_1', manufacturer='Iskraemeco', country='Slovenia',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh956-1.hex',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 246, '1-0:2.7.0': 0, '1-0:32.7.0': 232.5, '1-0:52.7.0': 232.1, '1-0:72.7.0': 232.8, '1-0:31.7.0': 1.52, '1-0:51.7.0': 0.11, '1-0:71.7.0': 0.16, '0-0:96.1.3': '16820005'},
        hex=(
            '7EA081CF02231385E1E6E7000F00020B410C07E9051005172D0000FF88800212091049534B3130333037393232383330'
            '36370908313638323030303506000000F606000000000600000000060000011E12091512091112091812009812000B12'
            '001006000000D80600000013060000000A06000000000600000000060000000056357E'
        ),
    ),
    dict(
        name='iskraemeco_gh869_1', manufacturer='Iskraemeco', country='Slovenia',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh869-1.hex',
        note='one phase: the golden row\'s other phases and currents (0.00) are not in this list and are left out',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 373, '1-0:2.7.0': 0, '1-0:32.7.0': 230.1, '0-0:96.1.2': 'ISK84605887'},
        hex=(
            '7EA061CF02231363CAE6E7000F0004560D0C07E80B1107151A2C00FFC4000209091049534B3130323037383436303538'
            '3837090B49534B383436303538383706000001750600000000060000000006000000001208FD06000000000600000000'
            '8D227E'
        ),
    ),
    dict(
        name='iskraemeco_gh869_2', manufacturer='Iskraemeco', country='Slovenia',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh869-2.hex',
        note='one phase: the golden row\'s other phases and currents (0.00) are not in this list and are left out',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 592, '1-0:2.7.0': 0, '1-0:32.7.0': 231.3, '0-0:96.1.2': 'ISK84605887'},
        hex=(
            '7EA061CF02231363CAE6E7000F000AE7820C07E80B1605142C3B00FFC4000209091049534B3130323037383436303538'
            '3837090B49534B3834363035383837060000025006000000000600000000060000007012090906000000000600000000'
            '13667E'
        ),
    ),
    dict(
        name='iskraemeco_gh869_5', manufacturer='Iskraemeco', country='Slovenia',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh869-5.hex',
        note='one phase: the golden row\'s other phases and currents (0.00) are not in this list and are left out',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 599, '1-0:2.7.0': 0, '1-0:32.7.0': 231.1, '0-0:96.1.2': 'ISK84605887'},
        hex=(
            '7EA061CF02231363CAE6E7000F000AEB0A0C07E80B160515000000FFC4000209091049534B3130323037383436303538'
            '3837090B49534B3834363035383837060000025706000000000600000000060000005D12090706000000000600000000'
            '4BE17E'
        ),
    ),
    dict(
        name='landis_gyr_gh934_1', manufacturer='Landis+Gyr', country='Switzerland',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/landis-gyr/gh934-1.hex',
        note='reassembled by the source; its golden voltages 23.40/23.50/23.30 are its bug #949 (the meter sends whole volts: 234/235/233), left out',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 331, '1-0:31.7.0': 0.49, '1-0:51.7.0': 1.67, '1-0:71.7.0': 0.23, '1-0:1.8.0': 4912257.0, '0-0:96.1.0': '63316890'},
        hex=(
            '0F003F7AA60C07E9021C050B1D1EFF800000020E010E020412002809060008190900FF0F021200000204120028090600'
            '08190900FF0F01120000020412000109060000600100FF0F02120000020412000309060100010700FF0F021200000204'
            '12000309060101010800FF0F021200000204120003090601001F0700FF0F02120000020412000309060100330700FF0F'
            '02120000020412000309060100470700FF0F02120000020412000309060100200700FF0F021200000204120003090601'
            '00340700FF0F02120000020412000309060100480700FF0F02120000020412000309060100150700FF0F021200000204'
            '12000309060100290700FF0F021200000204120003090601003D0700FF0F0212000009060008190900FF090836333331'
            '36383930060000014B06004AF4811200311200A71200171200EA1200EB1200E9060000000E0600000121060000001C'
        ),
    ),
    dict(
        name='landis_gyr_gh740', manufacturer='Landis+Gyr', country='Switzerland',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/landis-gyr/gh740.hex',
        note='three HDLC frames carrying general-block-transfer blocks, as on the wire',
        documented="amsreader-firmware's golden decode, test/test_decoder/expected_unencrypted.h (W, V, A; import kWh given here in Wh)",
        expected={'1-0:1.7.0': 362, '1-0:2.7.0': 0, '1-0:31.7.0': 0.51, '1-0:51.7.0': 1.05, '1-0:71.7.0': 0.52, '1-0:1.8.0': 2302502.0, '0-0:96.1.0': '63326413'},
        hex=(
            '7EA084CEFF0313128BE6E700E04000010000700F0021A4330C07E8021D04163032FF800000020E010E02041200280906'
            '0008190900FF0F02120000020412002809060008190900FF0F01120000020412000109060000600100FF0F0212000002'
            '0412000309060100010700FF0F02120000020412000309060100020700FF0F02120000CF157E7EA07DCEFF0313D045E0'
            '40000200006C020412000309060101010800FF0F02120000020412000309060101020800FF0F02120000020412000309'
            '060101050800FF0F02120000020412000309060101060800FF0F02120000020412000309060101070800FF0F02120000'
            '020412000309060101080800FF0F02120000C1957E7EA08ACEFF0313AAEAE0C000030000790204120003090601001F07'
            '00FF0F02120000020412000309060100330700FF0F02120000020412000309060100470700FF0F021200000906000819'
            '0900FF09083633333236343133060000016A060000000006002322260600000418060000876F06000000000600000A73'
            '06000AC6A812003312006912003446537E'
        ),
    ),
    dict(
        name='landis_gyr_gh501_1_encrypted', manufacturer='Landis+Gyr', country='Austria',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/landis-gyr/gh501-1.hex',
        documented='test/payloads/landis-gyr/README.md: E450 Netz Burgenland, security 0x30, both keys posted publicly in issue #501 comment 9; a 14-item structure without OBIS codes ending in meter ID 30137181',
        keys={'ek': '34743677397A24432646294A404E6352', 'ak': 'C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF'},
        expected={'unnamed_last': '30137181', 'authenticated': True},
        hex=(
            '7EA076CEFF03133C02E6E700DB084C475A6772A9A1115E30002180F6DD28EACE53312148DF2C473548E4B376D8278D79'
            'C674757149145C310C9B9559049069F4574268F5E6E304A15B901BDADA13425C50ACBF3A91C094CCD6AE5F73688F1191'
            '19F357AC0037620EE6CB204CF0634EB6F015A6FFAE6B987E'
        ),
    ),
    dict(
        name='landis_gyr_gh501_2_encrypted', manufacturer='Landis+Gyr', country='Austria',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/landis-gyr/gh501-2.hex',
        documented='test/payloads/landis-gyr/README.md: E450 Netz Burgenland, security 0x30, both keys posted publicly in issue #501 comment 9; a 14-item structure without OBIS codes ending in meter ID 30137181',
        keys={'ek': '34743677397A24432646294A404E6352', 'ak': 'C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF'},
        expected={'unnamed_last': '30137181', 'authenticated': True},
        hex=(
            '7EA076CEFF03133C02E6E700DB084C475A6772A9A1115E30002180F7FEB807C672B190AEAC15D0AD957BAC137E67D8A2'
            'F043513C63B6A18910AE9A7E554A1249B96DEBA57B5703699ABF165EAD2A5441655E79C695719246A23F5B630D53967D'
            '42521FA3801C00E8E3A4B39B86CBE52D2CCAB0E2B7AE4D7E'
        ),
    ),
    dict(
        name='iskraemeco_gh787_1_encrypted', manufacturer='Iskraemeco', country='Austria',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/iskraemeco/gh787-1.hex',
        documented="test/payloads/iskraemeco/README.md and keys/README.md: AM550 KELAG/Kaernten Netz, security byte 0x20 (encrypt-only), the key printed in the README; 'EK decrypts all 9 frames to valid DLMS (data-notification, 2024-05-07)'",
        keys={'ek': 'F9897984D43D3108AAFC4DE19DA85713'},
        expected={'date': '2024-05-07', 'authenticated': False, 'format': 'austria kaernten netz list', 'list_time_is_notification_time': True},
        hex=(
            '7EA077CF022313BB45E6E700DB0849534B6974AC008F5F200003D784165F789E009F858B180E953A404233850FC59731'
            '99A0483A05911C119DED0FD17D9A3BCF062CC3B12F70857AD320CE9069BE8850527B1590950DB2900F1BAA6781D4C520'
            'F076FA572CC3241EA6FD8FE7209B85B28B90E387801D4A087E'
        ),
    ),
    dict(
        name='siemens_im350_shrdzm_1_encrypted', manufacturer='Siemens', country='Austria',
        source='Noschvie/shrdzm', path='code/SHRDZMDevice/Device_IM350.cpp',
        note="commented 'IM350'",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of KaerntenNetz explained'); the source gives the frame and key (its 'ckSimulation'), no values",
        keys={'ek': '612888F59306A7855AC5C08CB3A96B39'},
        expected={'format': 'austria kaernten netz list', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA079CF0002002313D986E6E700DB08534D53677004C4465F200001A92916FC1EF62AB5F476F8A59772745CC9936550'
            '0ACF5EBEEA82F95581762C2D18804A1E7F7700FB10752F04D9344779C6A332C973EAF3CF375095D1821E87C68909EE47'
            '759AD925976C42E4D92FF9727E4213FDEE5F1ABE45D9D97F5E5E7E'
        ),
    ),
    dict(
        name='siemens_im350_shrdzm_2_encrypted', manufacturer='Siemens', country='Austria',
        source='Noschvie/shrdzm', path='code/SHRDZMDevice/Device_IM350.cpp',
        note="commented 'IM350'",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of KaerntenNetz explained'); the source gives the frame and key (its 'ckSimulation'), no values",
        keys={'ek': '612888F59306A7855AC5C08CB3A96B39'},
        expected={'format': 'austria kaernten netz list', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA079CF0002002313D986E6E700DB08534D53677004C4465F200001A92A57400A90D827A575C749DAB31F44F3C4B83D'
            '9B15F9FD20D9FE147F5AD3A0432A65208408AE177E31AF4CD985DAD92F7647BB5ED8F619F629059606BBC55128D5E9A2'
            '3BB992F564D098BBE8E759ECC0A01B259A02599A236EC45475A07E'
        ),
    ),
    dict(
        name='iskraemeco_am550_shrdzm_1_encrypted', manufacturer='Iskraemeco', country='Austria',
        source='Noschvie/shrdzm', path='code/SHRDZMDevice/Device_IM350.cpp',
        note="commented 'AM550'",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of KaerntenNetz explained'); the source gives the frame and key (its 'ckSimulation'), no values",
        keys={'ek': '62F9445B069BA866068B8036F2612030'},
        expected={'format': 'austria kaernten netz list', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA077CF022313BB45E6E700DB0849534B69745CF6C95F200000046BB45F8F43980519E16E36BC0C7198EB0E9CF1E0DF'
            '6A227D63C3F24852486F4A0CE8AA187991BF1C44544F62BBBB75BEEB4CDB549D7CF525CD95E6D82D2BE1C7F2ED845054'
            '02317F84AEB2A285508EC1B072553C39CD928F1F492941F67E'
        ),
    ),
    dict(
        name='siemens_wels_shrdzm_1_encrypted', manufacturer='Siemens', country='Austria',
        source='Noschvie/shrdzm', path='code/SHRDZMDevice/Device_IM350.cpp',
        note="commented 'Helmut (Wels)'; the list without the two customer-information fields",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of KaerntenNetz explained'); the source gives the frame and key (its 'ckSimulation'), no values",
        keys={'ek': '5A9AFEB2A17E6CF0CBAF98C8300ED9D7'},
        expected={'format': 'austria kaernten netz list (short)', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA070CF0002002313E0C7E6E700DB08534D53677002FD6256200000BE34111B482F835CF05AACA84AE6BEDD7EE0F171'
            '32CEC104495BD7E9C7F258775072AB713296B1E4CC9BE98468E24D194237365949209A5D6CA42584EB9BB7F5F7E50E53'
            '04886F3DA7A9342D157553B2E48A175D907E'
        ),
    ),
    dict(
        name='siemens_wels_shrdzm_2_encrypted', manufacturer='Siemens', country='Austria',
        source='Noschvie/shrdzm', path='code/SHRDZMDevice/Device_IM350.cpp',
        note="commented 'Helmut (Wels)'; the list without the two customer-information fields",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of KaerntenNetz explained'); the source gives the frame and key (its 'ckSimulation'), no values",
        keys={'ek': '5A9AFEB2A17E6CF0CBAF98C8300ED9D7'},
        expected={'format': 'austria kaernten netz list (short)', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA070CF0002002313E0C7E6E700DB08534D53677002FD6256200000C06514BA5DA79232B4036C892317BA7AAF692564'
            'DC5DDE0AC93A0997E52F44A5A1FC0505E81AE07CEBFB2845FB73D2D2B8608CE8DC9E6761AC970D3658CE754AA82421E1'
            'F05A7BE06D5CDE45995D3E7A596D896D317E'
        ),
    ),
    dict(
        name='iskraemeco_am550_wiener_netze_encrypted', manufacturer='Iskraemeco', country='Austria',
        source='(not named by the search index)', path='stored file id 5762340903',
        note="the search index's stored public file id 5762340903: a Wiener Netze decoder script (its repository is not named by the index); frames and keys in its 'selection' branches; the HDLC frame only (the file's payload goes on with a digest and an ECDSA signature of the optical port)",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of WienerNetze explained'), quoted in that file; no values given",
        keys={'ek': '927CE4ECA62FE23E19406C5EE452285E'},
        expected={'format': 'austria wiener netze list', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA067CF022313FBF1E6E700DB0849534B69743C103F4F200010D9E208F5C0C61A10C2359A014DFA00024E52839D213A'
            '16B086E297AD13F7DB4574D0D4D3AFF9BADA8F10F3BB33A39AC2FC5FB447342FF4D6A9E9361ECBD84C9B6F76F5ECE944'
            '25B2917A660B0AF27E'
        ),
    ),
    dict(
        name='landis_gyr_e450_wiener_netze_encrypted', manufacturer='Landis+Gyr', country='Austria',
        source='(not named by the search index)', path='stored file id 5762340903',
        note="the search index's stored public file id 5762340903: a Wiener Netze decoder script (its repository is not named by the index); frames and keys in its 'selection' branches; the HDLC frame only (the file's payload goes on with a digest and an ECDSA signature of the optical port)",
        documented="layout: pocki80's gist 941fa090a8d6269a9b3b68c195f8750f ('plaintext hex string of WienerNetze explained'), quoted in that file; no values given",
        keys={'ek': '1F51C774301C3E940065D9200DDDA5B4'},
        expected={'format': 'austria wiener netze list', 'authenticated': False, 'list_time_is_notification_time': True},
        hex=(
            '7EA067CEFF031338BDE6E700DB084C475A67726D311E4F200021ED98F64D452292BF5966B5AF37DA66B67A4A49F91862'
            '44B1AA594E80248E44B9CE93CF04C54D209880FFFA632A60C474591763CC1D31803012531DC84F1B43E0E4D076B57FB8'
            'F4CDEF1F86F36D497E'
        ),
    ),
    dict(
        name='kaifa_ma309_tinetz_raw_glo', manufacturer='Kaifa', country='Austria',
        source='fneur/smart-meter-tirol', path='doc/EXAMPLE.md',
        note="the raw 0xDB form: the two M-Bus segments' DLMS parts joined, as the source prints them",
        documented='doc/EXAMPLE.md: the key (10 11 ... 1F, security suite 1, encryption only), the decrypted plaintext in hex, and the Gurux translation (doc/pics/Gurux_Translator_result.png): invoke id 2732764, 19.07.2021 15:46:35, meter 1KFM0100000035; the other values read from that plaintext (32.7.0 0904 scaler -1 V, 1.8.0 00002394 Wh, 3.8.0 00000060 varh, 4.8.0 00000009 varh)',
        keys={'ek': '101112131415161718191A1B1C1D1E1F'},
        expected={'format': 'obis', 'authenticated': False, 'invoke_id': 2732764, 'plaintext': '0F0029B2DC0C07E50713010F2E2300FF8880020C09060000010000FF090C07E50713010F2E2300FF8880020209060000600100FF090E314B464D303130303030303033350202090600002A0000FF09104B464D31313030313030303030303335020309060100200700FF12090402020FFF16230203090601001F0700FF12000002020FFE1621020309060100010700FF060000000002020F00161B020309060100020700FF060000000002020F00161B020309060100010800FF060000239402020F00161E020309060100020800FF060000000002020F00161E020309060100030800FF060000006002020F001620020309060100040800FF060000000902020F001620', 'values': {'0-0:1.0.0': '2021-07-19T15:46:35+02:00', '0-0:96.1.0': '1KFM0100000035', '1-0:32.7.0': 230.8, '1-0:31.7.0': 0, '1-0:1.7.0': 0, '1-0:2.7.0': 0, '1-0:1.8.0': 9108, '1-0:2.8.0': 0, '1-0:3.8.0': 96, '1-0:4.8.0': 9}},
        hex=(
            'DB084B464D10100000238201092100295B9AEFC1546E644A2C9E32EDD42CBD0F1B945B194D086885C4D8DF86DD52CB5B'
            '448854A6D548D5D270739B2A169D05B013F9015070089D3C5FA45CA05E92309A645CC83D7DA40FBC8F4CF9C225AFA69A'
            '25FF0B2AC9C2744550ABA53CE9143FD10B0AD85FD30BD6B6DFFEE65F8204DC9C5067CA73B62E299A39D50AA730B2B9AE'
            '3836BC2F3490FB41BE5B6F930D84952976369DD7DABBB5A4354AECA1D2486CFF2EB0C6206380BA501D122AF75D716D30'
            '92C3960506A15E06FAB0EE5B7DFA3C2CDF0CAFD051B88E44B8B9FB8865F20CB89D1143CDC7EFEB07FB4C4898E764E9E3'
            'A32DDC3D1FB46961CE962B2C78050C96598C7E4D26658043F9CBCA78189BD01B139F8AE0F739'
        ),
    ),
    dict(
        name='kaifa_ma309_tinetz_mbus', manufacturer='Kaifa', country='Austria',
        source='fneur/smart-meter-tirol', path='doc/EXAMPLE.md',
        note='as on the wire: two M-Bus long frames, CI 0x00 and 0x11',
        documented='doc/EXAMPLE.md: the key (10 11 ... 1F, security suite 1, encryption only), the decrypted plaintext in hex, and the Gurux translation (doc/pics/Gurux_Translator_result.png): invoke id 2732764, 19.07.2021 15:46:35, meter 1KFM0100000035; the other values read from that plaintext (32.7.0 0904 scaler -1 V, 1.8.0 00002394 Wh, 3.8.0 00000060 varh, 4.8.0 00000009 varh)',
        keys={'ek': '101112131415161718191A1B1C1D1E1F'},
        expected={'format': 'obis', 'authenticated': False, 'invoke_id': 2732764, 'plaintext': '0F0029B2DC0C07E50713010F2E2300FF8880020C09060000010000FF090C07E50713010F2E2300FF8880020209060000600100FF090E314B464D303130303030303033350202090600002A0000FF09104B464D31313030313030303030303335020309060100200700FF12090402020FFF16230203090601001F0700FF12000002020FFE1621020309060100010700FF060000000002020F00161B020309060100020700FF060000000002020F00161B020309060100010800FF060000239402020F00161E020309060100020800FF060000000002020F00161E020309060100030800FF060000006002020F001620020309060100040800FF060000000902020F001620', 'values': {'0-0:1.0.0': '2021-07-19T15:46:35+02:00', '0-0:96.1.0': '1KFM0100000035', '1-0:32.7.0': 230.8, '1-0:31.7.0': 0, '1-0:1.7.0': 0, '1-0:2.7.0': 0, '1-0:1.8.0': 9108, '1-0:2.8.0': 0, '1-0:3.8.0': 96, '1-0:4.8.0': 9}},
        hex=(
            '68FAFA6853FF000167DB084B464D10100000238201092100295B9AEFC1546E644A2C9E32EDD42CBD0F1B945B194D0868'
            '85C4D8DF86DD52CB5B448854A6D548D5D270739B2A169D05B013F9015070089D3C5FA45CA05E92309A645CC83D7DA40F'
            'BC8F4CF9C225AFA69A25FF0B2AC9C2744550ABA53CE9143FD10B0AD85FD30BD6B6DFFEE65F8204DC9C5067CA73B62E29'
            '9A39D50AA730B2B9AE3836BC2F3490FB41BE5B6F930D84952976369DD7DABBB5A4354AECA1D2486CFF2EB0C6206380BA'
            '501D122AF75D716D3092C3960506A15E06FAB0EE5B7DFA3C2CDF0CAFD051B88E44B8B9FB8865F20CB89D1143CDC7EFEB'
            '07FB4C4898E764E9E3A32DDC3D1F0F166826266853FF110167B46961CE962B2C78050C96598C7E4D26658043F9CBCA78'
            '189BD01B139F8AE0F7391116'
        ),
    ),
    dict(
        name='kaifa_gh905_1_mbus', manufacturer='Kaifa', country='Poland',
        source='UtilitechAS/amsreader-firmware', path='test/payloads/kaifa/gh905-1.hex',
        documented="test/payloads/kaifa/README.md: MA309 serial 1KFM0200169986 (the capture's file name), two M-Bus telegram parts, encryption key 39436F513777354C4D466F4C5333674A from the issue's attached key.txt, no authentication key",
        keys={'ek': '39436F513777354C4D466F4C5333674A'},
        expected={'format': 'obis', 'authenticated': False, 'values': {'0-0:96.1.0': '1KFM0200169986'}},
        hex=(
            '68FAFA6853FF000167DB084B464D10200298028201552100000A2835F50F7152BDD9347C52C912AD97390DAE311C09EF'
            '4954C915B0D5CDC43DAA41C9D1BA18286858EA99050DEBA141BAFA387ED38F57D79D34870C22A908331E59A9CB51745F'
            '057E62D7B705D9C5C3593A72160E97AC044D4468ED534D725B4CA7A4E9373084608FFA7382DA21A2D83BF196B9BDABF4'
            '93DE1DB121096C85A3922D850B1368A16980D3CA41299BA82137F366A65AD825A188D304312AC2E23CC812E4B13C4786'
            '17C28703ADACBC194ECF04C6636FE2B1A2EE9BFB1534BD578BC2E6614A6C125CBBBA2225821EC3EE9C46F2BE70CDB81C'
            '2831D786C6DC03E3B13575F061C8E7166872726853FF110167346929DD60BD557E0083E9BA91AE72A0F89AB8A7E1308D'
            '3B3B48A9E5750B54256A3264485B1FC78E4F13A557C483150C82348332ADA41A11A34A90D20FDA6622D07CC1ECDAF22C'
            '74897C1CBB2E02428D2A2892B7895C50E77621A9C1F295A16E596F22225078E44C131EBEB9A00716'
        ),
    ),
]
