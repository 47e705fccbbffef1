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
