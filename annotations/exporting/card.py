"""The dataset card (``README.md``): YAML front matter in the Hugging Face style and a body.

Everything on the card comes from the export's own facts; no date or time is written, so
the card of a re-export is byte-identical too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from .splitting import SPLIT_NAMES

# A label with fewer positives than this in validation or test gives unreliable scores.
FEW_POSITIVES = 10


@dataclass(frozen=True, slots=True)
class CardFacts:
    project_name: str
    project_description: str
    multi_label: bool
    language: str
    columns: list[str]
    labels: list[dict[str, Any]]
    options: dict[str, Any]
    split_rows: dict[str, int]  # split name -> rows, in file order
    split_label_counts: dict[str, dict[str, int]]
    skipped: dict[str, int]
    agreement: dict[str, Any]


def size_category(rows: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if rows < limit:
            return name
    return "n>10M"


def front_matter(facts: CardFacts) -> dict[str, Any]:
    total = sum(facts.split_rows.values())
    slugs = [label["slug"] for label in facts.labels]
    return {
        "pretty_name": facts.project_name,
        "language": [facts.language],
        "task_categories": ["text-classification"],
        "task_ids": [
            "multi-label-classification" if facts.multi_label else "multi-class-classification"
        ],
        "size_categories": [size_category(total)],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": name, "path": f"{name}.jsonl"} for name in facts.split_rows
                ],
            }
        ],
        "annotation_agreement": _agreement_summary(facts.agreement),
        "dataset_info": {
            "features": [
                {"name": "text", "dtype": "string"},
                {
                    "name": "labels",
                    "sequence": {
                        "class_label": {"names": dict(enumerate(slugs))},
                    },
                },
            ],
            "splits": [
                {"name": name, "num_examples": rows} for name, rows in facts.split_rows.items()
            ],
        },
    }


def _agreement_summary(agreement: dict[str, Any]) -> dict[str, Any]:
    """The overall figures for the front matter: rounded, null where undefined."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "krippendorff_alpha_masi": rounded(agreement["alpha_masi"]),
        "exact_set_agreement": rounded(agreement["exact_agreement"]),
        "segments_with_two_or_more_answers": agreement["segments_with_two_or_more_answers"],
        "submitted_answers": agreement["submitted_answers"],
    }


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _figure(value: float | None, why: str) -> str:
    return "n/a (" + why + ")" if value is None else f"{value:.3f}"


def _percent(value: float | None, why: str) -> str:
    return "n/a (" + why + ")" if value is None else f"{value:.1%}"


def agreement_section(agreement: dict[str, Any]) -> list[str]:
    """The card's agreement figures (``services.agreement``, as ``project_report`` computes
    them), each undefined one written "n/a" with the reason."""
    units = agreement["segments_with_two_or_more_answers"]
    parts = [
        f"Over the {agreement['submitted_answers']:,} submitted answers in the export's snapshot"
        " (skipped answers are missing values; unsure answers count like any other), on the"
        f" {units:,} segments with two or more of them ({agreement['pairs_of_answers']:,}"
        " pairs of answers on the same segment); the figures `manage.py project_report` gives."
    ]
    if not units:
        parts.append(
            "No segment has two or more submitted answers, so every agreement figure is n/a"
            " (agreement needs two answers to the same segment)."
        )
    else:
        same = agreement["segments_where_all_answers_agree"]
        parts.append(
            "\n".join(
                [
                    "- Krippendorff's alpha with the MASI distance on label sets: "
                    + _figure(
                        agreement["alpha_masi"],
                        "no variation: every answer has the same label set, so no"
                        " disagreement is expected by chance and alpha divides by zero",
                    ),
                    "- Exact-set agreement (pairs of answers with the same label set): "
                    + _percent(agreement["exact_agreement"], "no pairs of answers"),
                    f"- Segments where every answer has the same label set: {same:,} of"
                    f" {units:,} ({same / units:.1%})",
                ]
            )
        )
        no_variation = "no variation: every answer has it, or none has"
        rows = [
            [
                f"`{slug}`",
                _figure(figures["alpha"], no_variation),
                _percent(figures["percent_agreement"], "no pairs of answers"),
            ]
            for slug, figures in agreement["labels"].items()
        ]
        parts.append(
            "Per label (has it or not, per answer):\n\n"
            + _table(["label", "Krippendorff's alpha (nominal)", "percent agreement"], rows)
        )
        if agreement["kappa"]:
            rows = [
                [
                    ", ".join(pair["annotators"]),
                    _figure(pair["kappa"], "no variation in their decisions"),
                    f"{pair['segments']:,}",
                ]
                for pair in agreement["kappa"]
            ]
            parts.append(
                "Cohen's kappa for each pair of annotators, over the segments both answered"
                " (one yes/no decision per label and segment where several labels are"
                " allowed, the label itself where one is):\n\n"
                + _table(["annotators", "Cohen's kappa", "segments both answered"], rows)
            )
    if agreement.get("gold_sources"):
        parts.append(
            "Gold labels by how they were reached: "
            + ", ".join(f"{k}: {v:,}" for k, v in agreement["gold_sources"].items())
            + "."
        )
    return parts


def dataset_card(facts: CardFacts) -> str:
    options = facts.options
    splits = list(facts.split_rows)
    total = sum(facts.split_rows.values())
    parts = [
        "---\n" + yaml.safe_dump(front_matter(facts), sort_keys=False, allow_unicode=True) + "---",
        f"# {facts.project_name}",
    ]
    if facts.project_description.strip():
        parts.append(facts.project_description.strip())
    mode = {
        "raw": "one row per answer (submitted and skipped), annotators as pseudonyms"
        if not options.get("real_names")
        else "one row per answer (submitted and skipped), annotators by user name",
        "majority": (
            "one row per segment with at least {n} submitted answers; a label is kept when"
            " more than half of those answers have it".format(n=options.get("min_answers"))
        ),
        "gold": "one row per segment with a gold label (`gold_source` says how it was reached)",
    }[options["labels"]]
    parts.append(
        f"Segments of news articles labelled with {len(facts.labels)} themes"
        f" ({'several per segment' if facts.multi_label else 'one per segment'}): {mode}."
        " `start` and `end` are offsets into the article body in Unicode code points"
        " (`text == body[start:end]`)."
    )

    parts.append("## Splits and labels")
    if splits == ["data"]:
        parts.append(f"One file, `data.jsonl`, with {total:,} rows.")
    else:
        parts.append(
            "Whole articles go to one split (near copies of an article stay with it), and"
            " labels are stratified across splits by iterative stratification (Sechidis et"
            f" al., 2011) with seed {options.get('seed')}. Ratios asked:"
            f" {', '.join(f'{n} {r}' for n, r in zip(SPLIT_NAMES, options['split'], strict=True))}."
        )
    header = ["label", *(f"{name} ({facts.split_rows[name]:,} rows)" for name in splits)]
    rows = []
    warnings = []
    for label in facts.labels:
        slug = label["slug"]
        cells = [f"`{slug}`"]
        few = []
        for name in splits:
            count = facts.split_label_counts[name].get(slug, 0)
            share = count / facts.split_rows[name] if facts.split_rows[name] else 0
            cells.append(f"{count:,} ({share:.1%})")
            if name in ("validation", "test") and count < FEW_POSITIVES:
                few.append(f"{count} in {name}")
        rows.append(cells)
        if few:
            warnings.append(
                f"- `{slug}`: only {' and '.join(few)} (fewer than {FEW_POSITIVES} positive"
                " rows); scores there will be unreliable."
            )
    parts.append(_table(header, rows))
    if warnings:
        parts.append("**Warnings**\n\n" + "\n".join(warnings))
    if facts.skipped:
        parts.append(
            "Segments left out: "
            + ", ".join(f"{reason.replace('_', ' ')}: {n:,}" for reason, n in facts.skipped.items())
            + "."
        )

    parts.append("## Agreement")
    parts.extend(agreement_section(facts.agreement))

    parts.append("## Guidelines")
    parts.append(
        "\n".join(
            f"- **{_cell(label['name'])}** (`{label['slug']}`"
            f"{'' if label['active'] else ', no longer offered'}):"
            f" {_cell(label['guideline']) or 'no guideline written.'}"
            for label in facts.labels
        )
        or "No labels."
    )

    parts.append("## Export options")
    parts.append(
        "\n".join(f"- `{key}`: `{value}`" for key, value in options.items() if key != "format")
    )
    parts.append("Columns: " + ", ".join(f"`{c}`" for c in facts.columns) + ".")

    files = ", ".join(f'"{name}": "{name}.jsonl"' for name in splits)
    parts.append("## How to load")
    parts.append(
        "```python\n"
        "from datasets import load_dataset\n\n"
        f'dataset = load_dataset("json", data_files={{{files}}})\n'
        "```\n\n"
        f'or with pandas: `pandas.read_json("{splits[0]}.jsonl", lines=True)`;'
        " `labels.json` lists the label set (slug, name, colour, guideline)."
    )
    return "\n\n".join(parts) + "\n"
