"""A readable report of text attacks: an HTML page and its markdown twin.

:func:`write_report` takes the text benchmark's per-model results (``{model: {"attacks":
{attack: {preset: result}}}}``, each result a :meth:`TextAttackResult.to_dict` with its
``examples``) and writes

* the table of success per attack x constraint preset x model (with 95% intervals);
* for every attack, preset and model, examples drawn at random (seeded) among the successful
  sentences: original and adversarial sentence with the changed words highlighted, the
  prediction and its confidence before and after, and the constraint values of every swap;
  ``n_examples`` (default 3) per model, and for the ``strict`` preset of ``strict_attacks``
  ``n_strict`` (default 20) drawn from the successes of all models (or of ``strict_models``).
"""

from __future__ import annotations

import difflib
import html
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["diff_words", "success_table", "write_report"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ex{border-left:3px solid #ddd;margin:.8em 0;padding:.2em .8em}
del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none;font-weight:bold}
.meta{color:#555;font-size:85%}code{font-size:85%}"""


def diff_words(original: str, adversarial: str) -> list[tuple[str, str]]:
    """Whitespace-word diff: ``[(op, text)]`` with op ``"same"``, ``"del"`` or ``"ins"``."""
    a, b = original.split(), adversarial.split()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", " ".join(b[j1:j2])))
    return out


def _html_diff(original: str, adversarial: str) -> str:
    parts = []
    for op, text in diff_words(original, adversarial):
        esc = html.escape(text)
        parts.append(f"<del>{esc}</del>" if op == "del" else f"<ins>{esc}</ins>" if op == "ins" else esc)
    return " ".join(parts)


def _md_diff(original: str, adversarial: str) -> str:
    parts = []
    for op, text in diff_words(original, adversarial):
        safe = text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
        parts.append(f"~~{safe}~~" if op == "del" else f"**{safe}**" if op == "ins" else safe)
    return " ".join(parts)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}"


def _cell(summary: dict[str, Any]) -> str:
    low, high = summary.get("success_ci95", [None, None])
    return f"{_pct(summary['success_rate'])} [{_pct(low)}, {_pct(high)}] (n={summary['attacked']})"


def success_table(models: dict[str, Any], attacks: Sequence[str], presets: Sequence[str]) -> list[list[str]]:
    """Rows ``[model, clean accuracy, one cell per attack x preset]`` (success %, 95% interval, n)."""
    rows = []
    for name, model in models.items():
        clean = model.get("clean", {})
        low, high = clean.get("ci95", [None, None])
        row = [name, f"{_pct(clean.get('accuracy'))} [{_pct(low)}, {_pct(high)}]"]
        for attack in attacks:
            for preset in presets:
                result = model.get("attacks", {}).get(attack, {}).get(preset)
                row.append(_cell(result["summary"]) if result else "-")
        rows.append(row)
    return rows


def _examples(result: dict[str, Any], k: int, seed: int) -> list[dict[str, Any]]:
    shown = [e for e in result.get("examples", []) if e.get("status") == "success"]
    rng = random.Random(seed)
    return sorted(rng.sample(shown, min(k, len(shown))), key=lambda e: e["index"])


def _values(swap: dict[str, Any]) -> str:
    vals = ", ".join(f"{k}={v}" for k, v in swap.get("values", {}).items() if v is not None)
    return f"{swap['old']} &rarr; {swap['new']} ({vals})" if vals else f"{swap['old']} &rarr; {swap['new']}"


def write_report(out: Path, models: dict[str, Any], attacks: Sequence[str], presets: Sequence[str], *,
                 title: str = "Text attacks", notes: Sequence[str] = (), n_examples: int = 3, n_strict: int = 20,
                 strict_attacks: Sequence[str] = ("hotflip", "wordswap"), strict_models: Sequence[str] | None = None,
                 seed: int = 0, stem: str = "report") -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.md`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    header = ["model", "clean acc. % [95% CI]"] + [f"{a} / {p}" for a in attacks for p in presets]
    rows = success_table(models, attacks, presets)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
         f"<h1>{html.escape(title)}</h1>"]
    h += [f"<p>{html.escape(n)}</p>" for n in notes]
    h.append("<h2>Success rate (%) per attack / constraint preset</h2><table><tr>"
             + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>")
    h += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    h.append("</table>")
    md = [f"# {title}", "", *[f"{n}\n" for n in notes], "## Success rate (%) per attack / constraint preset", "",
          "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    def show(heading: str, constraints: Any, picked: list[tuple[str, dict[str, Any]]]) -> None:
        h.append(f"<h3>{html.escape(heading)}</h3>")
        md.extend(["", f"### {heading}", ""])
        if constraints:
            h.append(f"<p class='meta'>constraints: <code>{html.escape(str(constraints))}</code></p>")
        for name, e in picked:
            before = f"pred {e['original_pred']} ({_pct(e.get('original_confidence'))}%)"
            after = f"pred {e['adversarial_pred']} ({_pct(e.get('adversarial_confidence'))}%)"
            swaps = "; ".join(_values(sw) for sw in e.get("swaps", []))
            h.append(f"<div class='ex'><div>{html.escape(e['original'])}</div><div>{_html_diff(e['original'], e['adversarial'])}</div>"
                     f"<div class='meta'>{html.escape(name)}, label {e['label']}: {before} &rarr; {after}; "
                     f"{e['words_changed']} word(s), {e['queries']} queries; {swaps}</div></div>")
            md.append(f"- {_md_diff(e['original'], e['adversarial'])}  \n  {name}, label {e['label']}: {before} -> {after}; "
                      f"{swaps.replace('&rarr;', '->')}")

    for attack in attacks:
        for preset in presets:
            if preset == "strict" and attack in strict_attacks:
                pool = [(name, e) for name, model in models.items() if (strict_models is None or name in strict_models)
                        for e in model.get("attacks", {}).get(attack, {}).get(preset, {}).get("examples", [])
                        if e.get("status") == "success"]
                picked = random.Random(seed).sample(pool, min(n_strict, len(pool)))
                first: dict[str, Any] = next((m["attacks"][attack][preset] for m in models.values()
                                              if preset in m.get("attacks", {}).get(attack, {})), {})
                show(f"{attack} / {preset}: {len(picked)} random successful examples of {len(pool)} "
                     f"(all models{'' if strict_models is None else ': ' + ', '.join(strict_models)})",
                     first.get("constraints"), picked)
            for name, model in models.items():
                result = model.get("attacks", {}).get(attack, {}).get(preset)
                if not result:
                    continue
                picked_one = _examples(result, n_examples, seed)
                s = result["summary"]
                show(f"{attack} / {preset} / {name}: {_pct(s['success_rate'])}% of {s['attacked']} "
                     f"({len(picked_one)} random successes shown)", result.get("constraints"),
                     [(name, e) for e in picked_one])
    h.append("</body></html>")
    html_path, md_path = out / f"{stem}.html", out / f"{stem}.md"
    html_path.write_text("\n".join(h), encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return html_path, md_path
