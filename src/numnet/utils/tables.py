"""Plain-text and markdown tables: one `format_table` for the CLI, History and the benchmark reports."""
from __future__ import annotations


def format_table(rows, headers, markdown: bool = True, align: str = "left") -> str:
    """A table of `rows` (sequences of cells, converted with str) under `headers`.

    markdown=True gives a GitHub markdown table (`| a | b |` with a `|---|` rule); markdown=False gives plain
    text with columns padded to a common width, cells aligned `align` ("left" or "right"). Every row must have as many cells as there are headers.
    """
    headers = [str(h) for h in headers]
    if not headers:
        raise ValueError("a table needs at least one column header")
    body = []
    for i, row in enumerate(rows):
        cells = ["" if c is None else str(c) for c in row]
        if len(cells) != len(headers):
            raise ValueError(f"row {i} has {len(cells)} cells but there are {len(headers)} headers")
        body.append(cells)
    if markdown:
        def line(cells):
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
        return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *map(line, body)])
    if align not in ("left", "right"):
        raise ValueError(f"align must be 'left' or 'right', got {align!r}")
    widths = [max(len(r[j]) for r in [headers, *body]) for j in range(len(headers))]
    pad = str.ljust if align == "left" else str.rjust
    lines = ["  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in [headers, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
