"""The BSON encoding of a flat document, for MAAS's machine `details` (python-libmaas decodes
the reply with bson.decode_all): strings, bytes, integers, booleans and None."""
import struct


def _cstring(name: str) -> bytes:
    encoded = name.encode()
    if b"\x00" in encoded:
        raise ValueError(f"BSON names cannot contain NUL: {name!r}")
    return encoded + b"\x00"


def _element(name: str, value) -> bytes:
    key = _cstring(name)
    if value is None:
        return b"\x0a" + key
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x08" + key + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -2**31 <= value < 2**31:
            return b"\x10" + key + struct.pack("<i", value)
        return b"\x12" + key + struct.pack("<q", value)
    if isinstance(value, str):
        text = value.encode() + b"\x00"
        return b"\x02" + key + struct.pack("<i", len(text)) + text
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return b"\x05" + key + struct.pack("<i", len(data)) + b"\x00" + data  # generic binary
    raise TypeError(f"cannot encode {type(value).__name__} as BSON")


def encode(document: dict) -> bytes:
    """One BSON document: int32 total length, the elements, a NUL."""
    body = b"".join(_element(str(name), value) for name, value in document.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"
