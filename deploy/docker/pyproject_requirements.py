"""Print hpsearch's dependencies from pyproject.toml, one per line, for `pip install -r`.

    python pyproject_requirements.py pyproject.toml [EXTRA ...]

The Dockerfile installs these in a layer of their own, before it copies the code, so that a
code change does not reinstall them. Extras (optional groups, e.g. `tfds`) may be separated by
spaces or commas; an unknown one is an error.
"""

from __future__ import annotations

import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    optional = project.get("optional-dependencies", {})
    out = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"EXTRAS: unknown group {extra!r}; pyproject.toml has: {', '.join(sorted(optional))}")
        out += [r for r in optional[extra] if r not in out]
    return out


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    extras = [e for arg in argv[1:] for e in arg.replace(",", " ").split()]
    print("\n".join(requirements(argv[0], extras)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
