"""A tiny GIF block reader for tests: palettes, frame delays and loop count, read from the bytes."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GifInfo:
    width: int
    height: int
    has_global_palette: bool
    loop: int | None = None
    delays_ms: list[int] = field(default_factory=list)
    local_palettes: int = 0
    frames: int = 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Return the position just after a chain of data sub-blocks."""
    while data[pos] != 0:
        pos += data[pos] + 1
    return pos + 1


def read_gif_blocks(data: bytes) -> GifInfo:
    """Parse the GIF's block structure (no pixel decoding)."""
    assert data[:6] in (b"GIF87a", b"GIF89a"), "not a GIF"
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    packed = data[10]
    info = GifInfo(width, height, has_global_palette=bool(packed & 0x80))
    pos = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    while True:
        block = data[pos]
        if block == 0x3B:  # trailer
            return info
        if block == 0x21:  # extension
            label = data[pos + 1]
            if label == 0xF9:  # graphic control: delay in 1/100 s
                info.delays_ms.append(10 * int.from_bytes(data[pos + 4:pos + 6], "little"))
            elif label == 0xFF and data[pos + 3:pos + 14] == b"NETSCAPE2.0":
                info.loop = int.from_bytes(data[pos + 16:pos + 18], "little")
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            info.frames += 1
            packed = data[pos + 9]
            pos += 10
            if packed & 0x80:
                info.local_palettes += 1
                pos += 3 * 2 ** ((packed & 7) + 1)
            pos = _skip_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
        else:
            raise ValueError(f"unexpected GIF block 0x{block:02x} at byte {pos}")
