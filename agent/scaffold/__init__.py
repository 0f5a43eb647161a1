"""Scaffolds for plugin authors: ``dsr plugins new connector NAME`` writes a plugin package.

The templates are package data (``agent/scaffold/templates/<kind>/``), filled in with
``string.Template``: ``${name}`` style placeholders in file contents; in a path,
``__package__`` stands for the plugin's Python package and a leading ``dot-`` for ``.``
(package-data globs skip dot files). A template file's name ends in ``.tmpl`` so neither
ruff nor pytest mistakes it for the repository's own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from agent import __version__
from agent.errors import DsrError

TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_PLACEHOLDER = "__package__"
DOT_PREFIX = "dot-"
NAME_RULE = "lower-case letters, digits and single underscores, starting with a letter"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME = 40


class ScaffoldError(DsrError):
    """A plugin cannot be written: a bad name or a folder in the way."""


@dataclass(frozen=True)
class ConnectorNames:
    """Every name derived from a connector's name (``acme_crm``)."""

    name: str  # the connector's name: `connector = "acme_crm"` in a [[systems]] table
    distribution: str  # dsr-acme-crm: what pip installs and `dsr plugins list` versions
    package: str  # dsr_acme_crm: the Python package
    cls: str  # AcmeCrmConnector
    title: str  # Acme Crm: for prose

    @classmethod
    def of(cls, name: str) -> ConnectorNames:
        check_name(name)
        words = name.split("_")
        return cls(name=name, distribution="dsr-" + "-".join(words), package=f"dsr_{name}",
                   cls="".join(w.capitalize() for w in words) + "Connector",
                   title=" ".join(w.capitalize() for w in words))


def check_name(name: str) -> None:
    """Raise ScaffoldError saying what is wrong with a connector name, if anything is."""
    problem = _name_problem(name)
    if problem:
        raise ScaffoldError(f"invalid connector name {name!r}: {problem} (use {NAME_RULE}, "
                            "e.g. acme_crm)")


def _name_problem(name: str) -> str | None:
    """Everything wrong with a name, or None."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is longer than {MAX_NAME} characters"
    if _NAME.fullmatch(name):
        return None
    problems = []
    if not (name[0].isascii() and name[0].isalpha()):
        problems.append("it must start with a letter")
    if any(c.isupper() for c in name):
        problems.append("use lower case")
    if "-" in name:
        problems.append("use _ instead of -")
    other = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_-"))})
    if other:
        problems.append(f"it holds characters other than letters, digits and _: "
                        f"{' '.join(repr(c) for c in other)}")
    if "__" in name or name.endswith("_"):
        problems.append("underscores must be single and between letters or digits")
    return "; ".join(problems) or "it does not follow the rule"


@dataclass(frozen=True)
class Written:
    root: Path
    files: list[Path]  # relative to root, sorted


def default_folder(names: ConnectorNames, parent: Path) -> Path:
    """Where the plugin goes: ``<parent>/dsr-<name with hyphens>``."""
    return parent / names.distribution


def new_connector_plugin(name: str, parent: Path | None = None, *,
                         taken: dict[str, str] | None = None) -> Written:
    """Write a connector plugin package for ``name`` into ``<parent>/dsr-<name>``.

    ``taken`` maps connector names already registered to the plugin registering them: a
    plugin reusing one would fail at start-up, so it is refused here. A target folder that
    exists and is not empty is refused too (nothing is overwritten).
    """
    names = ConnectorNames.of(name)
    if taken and name in taken:
        raise ScaffoldError(f"connector name {name!r} is already registered by plugin "
                            f"{taken[name]!r}: pick another name")
    root = default_folder(names, Path.cwd() if parent is None else parent)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not an empty folder; nothing was "
                            "written (pick another --dir or remove it)")
    values = {"name": names.name, "distribution": names.distribution,
              "package": names.package, "cls": names.cls, "title": names.title,
              "agent_version": _release(__version__)}
    rendered = {
        Path(*(_target_part(part, names) for part in relative.parts)):
            Template(template.read_text(encoding="utf-8")).substitute(values)
        for relative, template in _templates(files("agent.scaffold") / "templates" / "connector")
    }
    try:
        for target, text in rendered.items():
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            (root / target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ScaffoldError(f"cannot write the plugin to {root}: "
                            f"{exc.strerror or type(exc).__name__}") from None
    return Written(root=root, files=sorted(rendered, key=Path.as_posix))


def _target_part(part: str, names: ConnectorNames) -> str:
    if part == PACKAGE_PLACEHOLDER:
        return names.package
    return "." + part.removeprefix(DOT_PREFIX) if part.startswith(DOT_PREFIX) else part


def _templates(folder: Traversable, prefix: Path = Path()) -> list[tuple[Path, Traversable]]:
    """(relative path without the suffix, template) for every template file, sorted."""
    out: list[tuple[Path, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                out += _templates(entry, prefix / entry.name)
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            out.append((prefix / entry.name.removesuffix(TEMPLATE_SUFFIX), entry))
    return out


def _release(version: str) -> str:
    """The lowest dsr-agent a plugin should ask for: this release, without local parts."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return match.group(0) if match else "0.1"
