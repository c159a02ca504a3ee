"""Path templates (`/bookings/{booking_id}`) and the router that finds the registered
endpoint a request is for, with its parameters. Precedence matches the daemon's: at the
first segment where two templates differ, a literal beats a `{param}`."""

from typing import Dict, Generic, List, Optional, Tuple, TypeVar
from urllib.parse import unquote

T = TypeVar("T")
NO_PARAMS: Dict[str, str] = {}


def split_path(path: str) -> List[str]:
    bare = path.split("?", 1)[0]
    rest = bare[1:] if bare.startswith("/") else bare
    return rest.split("/") if rest else []


def percent_decode(raw: str) -> str:
    # Malformed escapes stay as written and bytes that are not UTF-8 become U+FFFD, as the
    # daemon decodes them.
    return unquote(raw, errors="replace") if "%" in raw else raw


class Template:
    """A path template; each segment is a literal (decoded) or a parameter name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.segments: List[Tuple[bool, str]] = [
            (True, s[1:-1]) if len(s) > 2 and s[0] == "{" and s[-1] == "}" else (False, percent_decode(s))
            for s in split_path(path)
        ]
        self.has_params = any(is_param for is_param, _ in self.segments)

    @property
    def shape(self) -> str:
        """The template with its parameter names erased: `/a/{x}` and `/a/{y}` are one route."""
        return "/" + "/".join("{}" if is_param else text for is_param, text in self.segments)

    def match(self, parts: List[str]) -> Optional[Dict[str, str]]:
        params: Optional[Dict[str, str]] = None
        for (is_param, text), part in zip(self.segments, parts):
            if not is_param:
                if text != percent_decode(part):
                    return None
            elif not part:
                return None
            else:
                if params is None:
                    params = {}
                params[text] = percent_decode(part)
        return NO_PARAMS if params is None else params

    def precedence(self) -> Tuple[bool, ...]:
        """Sorts before another template of the same length when it should be tried first."""
        return tuple(is_param for is_param, _ in self.segments)


class Router(Generic[T]):
    """Maps `(method, path)` to one of the entries it was built with."""

    def __init__(self, entries: List[Tuple[str, Template, T]]) -> None:
        self._exact: Dict[str, T] = {}
        self._by_method: Dict[Tuple[str, int], List[Tuple[Template, T]]] = {}
        for method, template, entry in entries:
            if not template.has_params:
                self._exact.setdefault(f"{method} {template.shape}", entry)
            self._by_method.setdefault((method, len(template.segments)), []).append((template, entry))
        for bucket in self._by_method.values():
            bucket.sort(key=lambda item: item[0].precedence())

    def route(self, method: str, path: str) -> Optional[Tuple[T, Dict[str, str]]]:
        exact = self._exact.get(f"{method} {path}")
        if exact is not None:
            return exact, NO_PARAMS
        parts = split_path(path)
        for template, entry in self._by_method.get((method, len(parts)), ()):
            params = template.match(parts)
            if params is not None:
                return entry, params
        return None
