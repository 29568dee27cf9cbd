"""What checking a dataset found: problems (errors and warnings, each naming a file) and, per
split, how often each class occurs; printed as lines and tables."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from tabulate import tabulate

__all__ = ["ERROR", "WARNING", "FileResult", "Finding", "SplitReport"]

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` groups alike problems ("unreadable image"), ``path`` is the file
    (or the JSON file) concerned and ``message`` says what is wrong there."""

    severity: str
    kind: str
    path: str
    message: str

    def line(self, split: str) -> str:
        return f"{self.severity.upper()} [{split}] {self.path}: {self.message}"


@dataclass
class FileResult:
    """What checking one image (with its labels) found: problems, and for each class index
    the count it adds (pixels, instances or segments) and its pixels (panoptic)."""

    findings: List[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    pixels: Counter = field(default_factory=Counter)

    def error(self, kind: str, path: str, message: str) -> None:
        self.findings.append(Finding(ERROR, kind, path, message))

    def warning(self, kind: str, path: str, message: str) -> None:
        self.findings.append(Finding(WARNING, kind, path, message))


@dataclass
class SplitReport:
    """The findings and class statistics of one split. ``unit``: what ``counts`` count
    ("pixels", "instances" or "segments"); ``pixels`` is kept besides for segments."""

    name: str
    unit: Optional[str]  # None: a split without labels
    images: int = 0
    findings: List[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    pixels: Counter = field(default_factory=Counter)
    images_per_class: Counter = field(default_factory=Counter)

    def add(self, result: FileResult) -> None:
        self.images += 1
        self.findings.extend(result.findings)
        self.counts.update(result.counts)
        self.pixels.update(result.pixels)
        self.images_per_class.update(c for c, n in result.counts.items() if n)

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)

    def lines(self, shown_per_kind: Optional[int] = None) -> List[str]:
        """One line per finding, errors first; with ``shown_per_kind``, at most that many of
        each kind and a line saying how many more there are."""
        by_kind: Dict[tuple, List[Finding]] = defaultdict(list)
        for finding in self.findings:
            by_kind[(finding.severity != ERROR, finding.kind)].append(finding)
        lines = []
        for (_, kind), findings in sorted(by_kind.items()):
            shown = findings if shown_per_kind is None else findings[:shown_per_kind]
            lines += [f.line(self.name) for f in shown]
            if len(findings) > len(shown):
                lines.append(f"  ... and {len(findings) - len(shown)} more: {kind}")
        return lines

    def table(self, class_names: Sequence[str]) -> str:
        """Images, and pixels / instances / segments, per class (a class never seen: 0)."""
        headers = ["class", "images", self.unit] + (["pixels"] if self.unit == "segments" else [])
        rows = []
        for index, name in enumerate(class_names):
            row = [name, self.images_per_class[index], self.counts[index]]
            rows.append(row + ([self.pixels[index]] if self.unit == "segments" else []))
        return tabulate(rows, headers=headers, tablefmt="github")
