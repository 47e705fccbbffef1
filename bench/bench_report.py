"""Writing benchmark results into BENCHMARKS.md: each benchmark owns one section between
`<!-- NAME:start -->` and `<!-- NAME:end -->` and rewrites only that."""

import re
from pathlib import Path


def machine_name():
    """The CPU model as /proc/cpuinfo names it."""
    with open("/proc/cpuinfo") as cpuinfo:
        return next((line.split(":", 1)[1].strip() for line in cpuinfo
                     if line.startswith("model name")), "unknown CPU")


def replace_section(path, name, body):
    """Puts `body` between the section's markers in `path`, appending the section if absent."""
    path = Path(path)
    section = f"<!-- {name}:start -->\n{body}\n<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->",
                         re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text += "\n" + section + "\n"
    path.write_text(text)


def replace_section_after(path, name, preamble, body, after):
    """replace_section, but a missing section is created with `preamble` (a heading and its
    explanation, kept outside the markers) right after the section named `after` when that one
    exists, so the benchmarks appear in a reading order rather than in the order first run."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if f"<!-- {name}:start -->" not in text:
        block = f"{preamble}\n\n<!-- {name}:start -->\n<!-- {name}:end -->"
        anchor = f"<!-- {after}:end -->"
        if anchor in text:
            at = text.index(anchor) + len(anchor)
            rest = text[at:].lstrip("\n")
            text = f"{text[:at]}\n\n{block}\n" + (f"\n{rest}" if rest else "")
        else:
            text = f"{text.rstrip()}\n\n{block}\n"
        path.write_text(text)
    replace_section(path, name, body)
