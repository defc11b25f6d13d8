from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Why one input (a file, or a line/record in it) cannot be imported.

    ``skippable``: the input was read fine but holds no usable article (a page without
    article text, a record without a text or with a bad field); a "keep going" import leaves
    it out and lists it. Anything else (a file that cannot be read, decoded or parsed) still
    refuses the import.
    """

    source: str
    message: str
    line: int | None = None
    skippable: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "message": self.message}


class ImportRejected(Exception):
    """Raised by sources and readers; the importer collects these and refuses the import."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.problem = ImportProblem(source=source, message=message, line=line)
        super().__init__(str(self.problem))
