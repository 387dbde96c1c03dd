"""Progressive JPEGs decoded at 1/8 scale without their unused scans (same pixels, a quarter of the time).

Why: a progressive JPEG spreads every block's coefficients over ~10 scans, and libjpeg-turbo Huffman-decodes
all of them even when asked for a 1/8-scale draft, whose 1x1 inverse DCT reads only each block's DC
coefficient: 21-36 ms of CPU for a 4 MP photo, 4x the int8 model. The DC coefficients come in scans of their
own (Ss = 0), so the file is rewritten, in memory, without the AC scans of every component decoded at 1x1
and with one all-zero AC scan per such component in their place, and libjpeg-turbo decodes that instead.

The pixels are those of the full file at 1/8 scale, byte for byte (tests/test_jpeg_draft.py):
- a component missing its AC scans would make libjpeg "smooth" its blocks (jdcoefct.c: estimated AC
  coefficients for a partly loaded progressive picture), so each gets a scan saying "all zero", which its
  1x1 inverse DCT does not read anyway;
- libjpeg-turbo decodes subsampled chroma at 1/8 scale with a 2x2 (4:2:0) inverse DCT instead of
  upsampling (jdmaster.c), which reads AC coefficients: those components keep their AC scans.

Anything this does not understand (not progressive Huffman, arithmetic coding, a file cut short before
its end marker, a marker out of place) is decoded as it is.
"""

from __future__ import annotations

import re
import struct

# A marker after entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker nor a fill byte
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOI, _EOI, _SOS, _SOF2, _DHT, _DRI = 0xD8, 0xD9, 0xDA, 0xC2, 0xC4, 0xDD
_OTHER_FRAMES = {0xC0, 0xC1, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and restart markers: no length field
_ZERO_TABLE = 3  # the AC Huffman table slot the all-zero scans define for themselves (after every real scan)
_MAX_RUN_BITS = 14  # EOB14: a run of up to 2**15 - 1 empty blocks in one symbol


class _Unsupported(Exception):
    """A file to decode as it is."""


def dc_scans_only(data: bytes) -> bytes | None:
    """``data`` (a whole JPEG file) as a file that decodes to the same pixels at 1/8 scale, or None when it
    is not a progressive Huffman JPEG with AC scans to leave out (decode it as it is)."""
    try:
        return _rewrite(data)
    except (_Unsupported, struct.error, IndexError):
        return None


def _rewrite(data: bytes) -> bytes | None:
    if data[:2] != b"\xff\xd8":
        raise _Unsupported
    kept: list[bytes | memoryview] = [data[:2]]
    view = memoryview(data)
    frame: _Frame | None = None
    left_out = False
    pos = 2
    while True:
        marker, pos = _marker_at(data, pos)
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            raise _Unsupported  # a restart marker between segments: not a file we know
        length = struct.unpack_from(">H", data, pos)[0]
        segment = view[pos - 2 : pos + length]
        pos += length
        if marker in _OTHER_FRAMES:
            return None
        if marker == _SOF2:
            frame = _Frame(bytes(segment))
        if marker != _SOS:
            kept.append(segment)
            continue
        if frame is None:
            raise _Unsupported
        found = _NEXT_MARKER.search(data, pos)
        if found is None:
            raise _Unsupported  # cut short: the decoder says so, in its own words
        if segment[-3] == 0 or frame.reads_ac(bytes(segment)):  # Ss = 0: a DC scan
            kept.append(view[pos - length - 2 : found.start()])
        else:
            left_out = True
        pos = found.start()
    if frame is None or not left_out:
        return None
    return b"".join([*kept, *frame.zero_scans(), b"\xff\xd9"])


def _marker_at(data: bytes, pos: int) -> tuple[int, int]:
    """(marker, position after it) of the marker at ``pos`` (fill bytes before it skipped)."""
    if data[pos] != 0xFF:
        raise _Unsupported
    while data[pos] == 0xFF:
        pos += 1
    return data[pos], pos + 1


class _Frame:
    """The components of a progressive frame (SOF2 segment) and which of them a 1/8 draft decodes at 1x1."""

    def __init__(self, segment: bytes) -> None:
        _, _, self.height, self.width, count = struct.unpack_from(">HBHHB", segment, 2)
        self.components = [(segment[10 + 3 * i], segment[11 + 3 * i] >> 4, segment[11 + 3 * i] & 15)
                           for i in range(count)]
        if not self.components or any(h not in (1, 2, 4) or v not in (1, 2, 4) for _, h, v in self.components):
            raise _Unsupported  # sampling factors of 3: libjpeg-turbo's scaling rule below is for powers of 2
        self.max_h = max(h for _, h, _ in self.components)
        self.max_v = max(v for _, _, v in self.components)
        # jdmaster.c: a component sampled at half (a quarter) of the maximum both ways is scaled up in its inverse
        # DCT (2x2, 4x4) instead of being upsampled, and so reads AC coefficients; any other is decoded 1x1
        self.full = {cid for cid, h, v in self.components if self.max_h % (2 * h) or self.max_v % (2 * v)}

    def reads_ac(self, sos: bytes) -> bool:
        """Whether a scan carries a component whose draft reads AC coefficients (keep the scan)."""
        return any(sos[5 + 2 * i] not in self.full for i in range(sos[4]))

    def zero_scans(self) -> list[bytes]:
        """No restart intervals, a Huffman table of EOB-run codes, and one all-zero AC scan per 1x1 component."""
        out = [b"\xff\xdd\x00\x04\x00\x00", _zero_table()]
        for cid, h, v in self.components:
            if cid in self.full:
                blocks_wide = -(-self.width * h // (self.max_h * 8))  # a one-component scan covers the
                blocks_high = -(-self.height * v // (self.max_v * 8))  # component's own blocks, no MCU padding
                out.append(_zero_scan(cid, blocks_wide * blocks_high))
        return out


def _zero_table() -> bytes:
    """DHT: AC table ``_ZERO_TABLE`` with the 15 EOB-run symbols (0x00, 0x10, ... 0xE0) as 4-bit codes 0..14."""
    counts = bytes([0, 0, 0, _MAX_RUN_BITS + 1] + [0] * 12)
    symbols = bytes(r << 4 for r in range(_MAX_RUN_BITS + 1))
    body = bytes([0x10 | _ZERO_TABLE]) + counts + symbols
    return b"\xff\xc4" + struct.pack(">H", len(body) + 2) + body


def _zero_scan(component: int, blocks: int) -> bytes:
    """An AC first scan (Ss 1..63, Ah = Al = 0) of one component whose ``blocks`` blocks are all empty: EOB runs."""
    header = b"\xff\xda" + struct.pack(">HBBBBBB", 8, 1, component, _ZERO_TABLE, 1, 63, 0)
    bits, count = 0, 0
    while blocks:
        r = min(blocks, (1 << (_MAX_RUN_BITS + 1)) - 1).bit_length() - 1
        run = min(blocks, (1 << (r + 1)) - 1)
        bits = ((bits << 4 | r) << r) | (run - (1 << r))  # the code of EOBr (= r), then r extra bits
        count += 4 + r
        blocks -= run
    pad = -count % 8
    bits = bits << pad | ((1 << pad) - 1)  # padded with 1 bits, as the standard asks
    return header + bits.to_bytes((count + pad) // 8, "big").replace(b"\xff", b"\xff\x00")
