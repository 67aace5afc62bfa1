"""Reading text in a configured encoding without losing a whole file to a few bad bytes.

Files are decoded as ``input.encoding`` and handed to the Arrow readers as UTF-8. A byte that is
not valid in that encoding does not stop the read: it becomes a *marker*, a pair of Unicode
noncharacters (U+FDD0..U+FDEF, reserved by Unicode for internal use) that spells the byte. The
readers then find the rows that hold a marker with one vectorised regex over each column, and send
those rows to ``bad`` as ``bad_encoding``; ``unmark`` turns the markers back into ``\\xNN`` for the
``raw`` column. A file that is not text in that encoding at all (UTF-16 read as UTF-8, say) is
refused up front by ``check_sample``.
"""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

from ..errors import ConfigError, InputError

_ERRORS = "curator.mark"
#: Arrow (RE2) pattern matching one marker, for ``pyarrow.compute.match_substring_regex``.
MARK_PATTERN = "[\\x{FDD0}-\\x{FDDF}][\\x{FDE0}-\\x{FDEF}]"
_MARK = re.compile("[\ufdd0-\ufddf][\ufde0-\ufdef]")
SAMPLE_BYTES = 1 << 16
_marks_made = 0  # bad bytes marked so far, in this process; lets a stream tell it made none


def _mark(err: UnicodeError) -> tuple[str, int]:
    global _marks_made
    if not isinstance(err, UnicodeDecodeError):
        raise err
    bad = err.object[err.start:err.end]
    _marks_made += len(bad)
    return "".join(chr(0xFDD0 + (b >> 4)) + chr(0xFDE0 + (b & 15)) for b in bad), err.end


codecs.register_error(_ERRORS, _mark)


def codec(encoding: str) -> str:
    """The Python codec for ``input.encoding``; UTF-8 skips a byte-order mark."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"input.encoding: unknown encoding {encoding!r}") from None
    return "utf-8-sig" if name == "utf-8" else name


def decoder(encoding: str) -> codecs.IncrementalDecoder:
    """An incremental decoder that marks bad bytes instead of raising."""
    return codecs.getincrementaldecoder(codec(encoding))(errors=_ERRORS)


def has_mark(text: str) -> bool:
    return _MARK.search(text) is not None


def first_marked_byte(text: str) -> int | None:
    """The first bad byte a marker spells, or None."""
    m = _MARK.search(text)
    return None if m is None else ((ord(m[0][0]) - 0xFDD0) << 4) | (ord(m[0][1]) - 0xFDE0)


def unmark(text: str) -> str:
    """Markers back to ``\\xNN`` escapes (what ``errors='backslashreplace'`` would show)."""
    return _MARK.sub(lambda m: f"\\x{((ord(m[0][0]) - 0xFDD0) << 4) | (ord(m[0][1]) - 0xFDE0):02x}", text)


class _Utf8Raw(io.RawIOBase):
    def __init__(self, path: Path, encoding: str, read_size: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._decoder = decoder(encoding)
        self._read_size = read_size
        self._buf = b""
        self._pos = 0
        self._eof = False
        #: Whether any bad byte was marked so far (readers skip the marker search when not).
        self.marked = False

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf):
            if self._eof:
                return 0
            chunk = self._file.read(max(self._read_size, len(out)))
            self._eof = not chunk
            before = _marks_made
            self._buf = self._decoder.decode(chunk, final=self._eof).encode("utf-8")
            self.marked = self.marked or _marks_made != before
            self._pos = 0
        n = min(len(out), len(self._buf) - self._pos)
        out[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def open_utf8(path: Path, encoding: str, read_size: int = 1 << 20) -> io.BufferedReader:
    """The file as a binary stream of UTF-8, bad bytes marked (see the module docstring).

    ``stream.raw.marked`` says whether any byte was marked in what has been read so far.
    """
    return io.BufferedReader(_Utf8Raw(path, encoding, read_size), buffer_size=read_size)


def check_sample(path: Path, display: str, encoding: str, *, header: bool) -> None:
    """Refuse a file that is not text in ``encoding`` at all, judged on its first 64 KiB.

    It is refused when a tenth of the sample is NUL characters (UTF-16 or binary), when the header
    line (``header=True``) holds a bad byte, or when most sampled lines do. A few bad lines are
    left to the reader, which sends them to ``bad`` as ``bad_encoding``.
    """
    with open(path, "rb") as f:
        raw = f.read(SAMPLE_BYTES)
    if not raw:
        return
    text = decoder(encoding).decode(raw, final=len(raw) < SAMPLE_BYTES)
    lines = text.split("\n")
    if len(raw) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    marked = [has_mark(line) for line in lines if line.strip()]
    refused = (text.count("\x00") * 10 >= len(text)
               or (header and bool(lines) and has_mark(lines[0]))
               or (bool(marked) and sum(marked) * 2 > len(marked)))
    if refused:
        raise InputError(f"{display}: not valid {encoding} text (first bad byte at offset "
                         f"{_first_bad_offset(raw, encoding)}); set input.encoding")


def _first_bad_offset(raw: bytes, encoding: str) -> int:
    try:
        codecs.getincrementaldecoder(codecs.lookup(encoding).name)("strict").decode(raw, final=False)
    except UnicodeDecodeError as err:
        return err.start
    nul = raw.find(b"\x00")
    return max(nul, 0)
