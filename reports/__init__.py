"""Report writers, discovered: every module here (and in each folder named by $IOT_HARNESS_REPORTS)
that defines `FORMAT` (its name) and `render(bundle[, options]) -> str | bytes` is a report format.
They are fed a `VerifiedBundle` from the one bundle reader, never a folder, so nothing is rendered
from a bundle that failed verification. A new format is one file, nothing else. A format that
returns bytes (XLSX, PDF) needs `--out`; `options` carries the language and where it is written. A
format with `DIRECTORY = True` (allure results) writes a folder of files into `options.output` and
returns a one-line summary; the CLI gives it a fresh folder and moves it into place only when
rendering succeeded, so a failed render never leaves half a folder where CI expects results."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPORTS_PATH_ENV = "IOT_HARNESS_REPORTS"


LANGUAGES = ("en", "ja")


class ReportUnavailable(Exception):
    """A format cannot be rendered on this machine (a missing program); the message names the fix."""


@dataclass(frozen=True)
class ReportOptions:
    lang: str = "en"
    output: Path | None = None  # where the report will be written; None for standard output
    expanded: bool = False  # every requirement and case opened (paper has no click)


@dataclass(frozen=True)
class ReportFormat:
    name: str
    render: Callable
    description: str
    source: str
    binary: bool = False  # bytes only: written to --out, never to a terminal
    directory: bool = False  # writes a folder into options.output

    def __call__(self, bundle, options: ReportOptions) -> str | bytes:
        if len(inspect.signature(self.render).parameters) >= 2:
            return self.render(bundle, options)
        return self.render(bundle)


def formats_in(modules) -> list[ReportFormat]:
    out = []
    for mod in modules:
        name, render = getattr(mod, "FORMAT", None), getattr(mod, "render", None)
        if isinstance(name, str) and callable(render):
            doc = (mod.__doc__ or "").strip().splitlines()
            out.append(ReportFormat(name, render, doc[0] if doc else "", getattr(mod, "__file__", "") or "",
                                    bool(getattr(mod, "BINARY", False)), bool(getattr(mod, "DIRECTORY", False))))
    return out


def _extra_report_files() -> list[Path]:
    return [path for folder in [Path(p) for p in os.environ.get(REPORTS_PATH_ENV, "").split(os.pathsep) if p]
            for path in sorted(folder.glob("*.py"))]


def format_names() -> list[str]:
    """The formats' names, read from each module's literal `FORMAT = "..."` without importing it:
    the CLI's help lists them on every command, and importing every writer (trestle's models,
    openpyxl) would cost each `iot-harness` call most of a second."""
    here = Path(__file__).parent
    files = [here / f"{m.name}.py" for m in pkgutil.iter_modules([str(here)])] + _extra_report_files()
    names = set()
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue  # report_formats() meets it properly, when a report is asked for
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "FORMAT" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                names.add(node.value.value)
    return sorted(names)


def report_formats() -> dict[str, ReportFormat]:
    here = Path(__file__).parent
    modules = [importlib.import_module(f"reports.{m.name}") for m in pkgutil.iter_modules([str(here)])]
    for path in _extra_report_files():
        spec = importlib.util.spec_from_file_location(f"iot_harness_report_{path.stem}", path)
        if spec and spec.loader:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            modules.append(mod)
    return {f.name: f for f in formats_in(modules)}
