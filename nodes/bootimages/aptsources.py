"""This host's apt sources and candidate versions, as an image build needs them. Pure.

series_sources: the one-line sources.list of the host's `deb` entries (one-line .list files or
deb822 .sources) whose suite is a series or one of its pockets (bookworm, bookworm-updates,
bookworm-security, bookworm/updates); candidates: many packages' candidate versions at once.
"""
from pathlib import Path

from nodes.bootimages.debs import BuildError, parse_control, run


def apt_source_files() -> list[Path]:
    """This host's apt source files, in apt's order."""
    parts = Path("/etc/apt/sources.list.d")
    found = sorted(parts.glob("*.list")) + sorted(parts.glob("*.sources"))
    return [p for p in [Path("/etc/apt/sources.list"), *found] if p.is_file()]


def source_lines(text: str, deb822: bool) -> list[tuple[str, str, str, str]]:
    """(uri, suite, components, signed-by) of each `deb` entry of a sources file."""
    if not deb822:
        return [_one_line(line.split("#", 1)[0].split()) for line in text.splitlines()
                if line.split("#", 1)[0].split()[:1] == ["deb"]]
    entries = []
    for stanza in text.split("\n\n"):
        fields = {k.lower(): v for k, v in _stanza(stanza).items()}
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            entries += [(uri, suite, fields.get("components", ""), fields.get("signed-by", ""))
                        for uri in fields.get("uris", "").split()
                        for suite in fields.get("suites", "").split()]
    return entries


def _stanza(text: str) -> dict[str, str]:
    """A deb822 stanza's fields; its comment lines are not fields."""
    return parse_control("\n".join(line for line in text.splitlines()
                                   if not line.startswith("#")))


def _one_line(words: list[str]) -> tuple[str, str, str, str]:
    options = ""
    if len(words) > 1 and words[1].startswith("["):
        end = next(i for i, w in enumerate(words) if w.endswith("]"))
        options, words = " ".join(words[1:end + 1]).strip("[]"), [words[0], *words[end + 1:]]
    signed = next((o.split("=", 1)[1] for o in options.split() if o.startswith("signed-by=")),
                  "")
    return words[1], words[2], " ".join(words[3:]), signed


def series_sources(series: str) -> str:
    """A one-line sources.list of this host's entries for the series (bookworm,
    bookworm-updates, bookworm-security...): other repositories never go into the image."""
    lines = []
    for path in apt_source_files():
        for uri, suite, components, signed in source_lines(path.read_text(),
                                                           path.suffix == ".sources"):
            if suite.split("/")[0].split("-")[0] != series:
                continue
            # An inline key (several lines) cannot be an option: apt then uses trusted.gpg.d.
            option = f"[signed-by={signed}] " if signed and "\n" not in signed else ""
            lines.append(f"deb {option}{uri} {suite} {components}".rstrip())
    if not lines:
        raise BuildError(f"no apt source of this host is for {series}")
    return "\n".join(dict.fromkeys(lines)) + "\n"


def candidates(names: list[str]) -> dict[str, str]:
    """This host's apt candidate version of each package ('' for none), one apt-cache call."""
    found, current = dict.fromkeys(names, ""), None
    for line in run(["apt-cache", "policy", *names]).splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1].split(":")[0]
        elif line.strip().startswith("Candidate:") and current in found:
            value = line.split(":", 1)[1].strip()
            found[current] = "" if value == "(none)" else value
    return found
