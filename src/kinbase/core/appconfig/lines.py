"""Where each key of a TOML document is: ``{key path: line number}``.

``tomllib`` parses TOML into plain values and forgets positions, so a message about a value
("``collections.orders.permissions`` on line 12") needs this map. The document has already been
parsed by ``tomllib`` when it gets here, so the scanner only has to follow valid TOML: table
headers (``[a.b]``, ``[[a.b]]``), dotted keys, the four kinds of strings (a ``[x]`` or ``k = v``
inside a multi-line string is text, not structure), arrays over several lines, inline tables and
comments. A path is a tuple of keys, with the position (an ``int``) for array elements and
arrays of tables.
"""

from __future__ import annotations

__all__ = ["KeyPath", "key_lines", "line_of"]

KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}


def key_lines(text: str) -> dict[KeyPath, int]:
    """The line (1-based) on which each key, table and array element of ``text`` first appears."""
    scanner = _Scanner(text)
    scanner.document()
    return scanner.lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one (None if none has)."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}

    # -- characters ------------------------------------------------------------------------
    def _peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    def _advance(self, n: int = 1) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i += n

    def _blank(self, *, newlines: bool) -> None:
        """Skip spaces and tabs, comments, and (with ``newlines``) line breaks."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self._advance()
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    def _record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- structure -------------------------------------------------------------------------
    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self._blank(newlines=True)
            if self.i >= len(self.s):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)
            self._blank(newlines=False)

    def _header(self) -> KeyPath:
        line = self.line
        array = self._peek(2) == "[["
        self._advance(2 if array else 1)
        self._blank(newlines=False)
        keys = self._key()
        self._blank(newlines=False)
        self._advance(2 if array else 1)
        path = self._resolve(keys)
        for end in range(1, len(path) + 1):
            self._record(path[:end], line)  # [a.b] also defines a, if nothing did before
        if not array:
            return path
        index = self._arrays.get(path, -1) + 1
        self._arrays[path] = index
        self._record((*path, index), line)
        return (*path, index)

    def _resolve(self, keys: tuple[str, ...]) -> KeyPath:
        """The path of a header, through the current element of any array of tables on the way."""
        path: KeyPath = ()
        for n, key in enumerate(keys):
            path = (*path, key)
            if n < len(keys) - 1 and path in self._arrays:
                path = (*path, self._arrays[path])
        return path

    def _keyval(self, base: KeyPath) -> None:
        line = self.line
        keys = self._key()
        for end in range(1, len(keys) + 1):
            self._record((*base, *keys[:end]), line)
        self._blank(newlines=False)
        self._advance()  # "="
        self._blank(newlines=False)
        self._value((*base, *keys))

    def _key(self) -> tuple[str, ...]:
        keys = [self._simple_key()]
        while True:
            self._blank(newlines=False)
            if self._peek() != ".":
                return tuple(keys)
            self._advance()
            self._blank(newlines=False)
            keys.append(self._simple_key())

    def _simple_key(self) -> str:
        c = self._peek()
        if c == '"':
            return self._basic_string()
        if c == "'":
            return self._literal_string()
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _BARE:
            self.i += 1
        return self.s[start : self.i]

    # -- values ----------------------------------------------------------------------------
    def _value(self, path: KeyPath) -> None:
        c = self._peek()
        if self._peek(3) in ('"""', "'''"):
            self._multiline(self._peek(3))
        elif c == '"':
            self._basic_string()
        elif c == "'":
            self._literal_string()
        elif c == "[":
            self._array(path)
        elif c == "{":
            self._inline_table(path)
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]}\r\n#":
                self.i += 1

    def _array(self, path: KeyPath) -> None:
        self._advance()
        index = 0
        while True:
            self._blank(newlines=True)
            if self._peek() == "]":
                self._advance()
                return
            self._record((*path, index), self.line)
            self._value((*path, index))
            self._blank(newlines=True)
            if self._peek() == ",":
                self._advance()
                index += 1

    def _inline_table(self, path: KeyPath) -> None:
        self._advance()
        while True:
            self._blank(newlines=True)
            c = self._peek()
            if c == "}":
                self._advance()
                return
            if c == ",":
                self._advance()
                continue
            self._keyval(path)

    def _basic_string(self) -> str:
        self._advance()
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\":
                kind = self.s[self.i + 1 : self.i + 2]
                if kind in ("u", "U"):
                    width = 4 if kind == "u" else 8
                    out.append(chr(int(self.s[self.i + 2 : self.i + 2 + width], 16)))
                    self.i += 2 + width
                    continue
                out.append(_ESCAPES.get(kind, kind))
                self.i += 2
                continue
            out.append(c)
            self.i += 1
        return "".join(out)

    def _literal_string(self) -> str:
        end = self.s.index("'", self.i + 1)
        value = self.s[self.i + 1 : end]
        self.i = end + 1
        return value

    def _multiline(self, quotes: str) -> None:
        self._advance(3)
        while self.i < len(self.s):
            if quotes == '"""' and self.s[self.i] == "\\":
                self._advance(2)
                continue
            if self._peek(3) == quotes:
                self._advance(3)
                # Up to two more quotes right before the closing ones belong to the content.
                for _ in range(2):
                    if self._peek() == quotes[0]:
                        self._advance()
                return
            self._advance()
