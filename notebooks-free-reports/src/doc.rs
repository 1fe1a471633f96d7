//! One document, two renderings: the report is built once as blocks, then written as a
//! self-contained HTML page (charts inline) and as Markdown (charts as files beside it),
//! so the twins cannot drift apart.

use std::fmt::Write;

use crate::svg::escape;

/// How a callout reads: a regression is red, a warning amber, a note plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Note,
    Warning,
    Bad,
}

#[derive(Debug, Clone)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    /// First row is the header; numeric-looking cells align right.
    Table(Vec<Vec<String>>),
    /// `name` is the file stem under `charts/` in the Markdown rendering.
    Chart {
        name: String,
        svg: String,
        caption: String,
    },
    Callout(Tone, String),
    /// Preformatted text (commands).
    Code(String),
}

#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }
    pub fn para(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para(text.into()));
    }
    pub fn table(&mut self, rows: Vec<Vec<String>>) {
        if rows.len() > 1 {
            self.blocks.push(Block::Table(rows));
        }
    }
    pub fn chart(&mut self, name: &str, svg: String, caption: impl Into<String>) {
        self.blocks.push(Block::Chart {
            name: name.into(),
            svg,
            caption: caption.into(),
        });
    }
    pub fn callout(&mut self, tone: Tone, text: impl Into<String>) {
        self.blocks.push(Block::Callout(tone, text.into()));
    }
    pub fn code(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Code(text.into()));
    }

    /// Every chart, for writing beside the Markdown.
    pub fn charts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Chart { name, svg, .. } => Some((name.as_str(), svg.as_str())),
            _ => None,
        })
    }
}

fn numeric(cell: &str) -> bool {
    let t = cell.trim_end_matches(['%', 'x', 's']).trim();
    !t.is_empty() && t.trim_start_matches(['-', '+']).parse::<f64>().is_ok()
}

fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
table{border-collapse:collapse;margin:0.8em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1em 1em 1em 0;display:inline-block;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:640px}\
.callout{padding:6px 10px;margin:0.6em 0;border-left:4px solid #888;background:#f6f6f6}\
.good{border-color:#009E73}.warning{border-color:#E69F00;background:#fff8e6}.bad{border-color:#D55E00;background:#fdecea}\
pre{background:#f6f6f6;padding:8px;overflow-x:auto}nav li{margin:0}";

/// The page: a table of contents from the level-2 headings, then the blocks.
pub fn html(doc: &Doc) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<nav><ul>",
        escape(&doc.title),
        escape(&doc.title)
    );
    for b in &doc.blocks {
        if let Block::Heading(2, t) = b {
            let _ = write!(out, "<li><a href=\"#{}\">{}</a></li>", anchor(t), escape(t));
        }
    }
    out.push_str("</ul></nav>\n");
    for b in &doc.blocks {
        match b {
            Block::Heading(level, t) => {
                let _ = writeln!(
                    out,
                    "<h{level} id=\"{}\">{}</h{level}>",
                    anchor(t),
                    escape(t)
                );
            }
            Block::Para(t) => {
                let _ = writeln!(out, "<p>{}</p>", escape(t));
            }
            Block::Table(rows) => {
                out.push_str("<table>");
                for (i, row) in rows.iter().enumerate() {
                    out.push_str("<tr>");
                    for cell in row {
                        if i == 0 {
                            let _ = write!(out, "<th>{}</th>", escape(cell));
                        } else if numeric(cell) {
                            let _ = write!(out, "<td class=\"num\">{}</td>", escape(cell));
                        } else {
                            let _ = write!(out, "<td>{}</td>", escape(cell));
                        }
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</table>\n");
            }
            Block::Chart { name, svg, caption } => {
                let _ = writeln!(
                    out,
                    "<figure id=\"chart-{name}\">{svg}<figcaption>{}</figcaption></figure>",
                    escape(caption)
                );
            }
            Block::Callout(tone, t) => {
                let class = match tone {
                    Tone::Good => "good",
                    Tone::Note => "note",
                    Tone::Warning => "warning",
                    Tone::Bad => "bad",
                };
                let _ = writeln!(out, "<div class=\"callout {class}\">{}</div>", escape(t));
            }
            Block::Code(t) => {
                let _ = writeln!(out, "<pre>{}</pre>", escape(t));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn md_cell(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown twin; charts are `charts/<name>.svg` beside it.
pub fn markdown(doc: &Doc) -> String {
    let mut out = format!("# {}\n\n", doc.title);
    for b in &doc.blocks {
        match b {
            Block::Heading(level, t) => {
                let _ = writeln!(out, "{} {t}\n", "#".repeat(usize::from(*level)));
            }
            Block::Para(t) => {
                let _ = writeln!(out, "{t}\n");
            }
            Block::Table(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                    if i == 0 {
                        let rule: Vec<&str> = row
                            .iter()
                            .enumerate()
                            .map(|(j, _)| {
                                let num = rows
                                    .get(1)
                                    .and_then(|r| r.get(j))
                                    .is_some_and(|c| numeric(c));
                                if num { "---:" } else { "---" }
                            })
                            .collect();
                        let _ = writeln!(out, "| {} |", rule.join(" | "));
                    }
                }
                out.push('\n');
            }
            Block::Chart { name, caption, .. } => {
                let _ = writeln!(
                    out,
                    "![{}](charts/{name}.svg)\n\n*{caption}*\n",
                    md_cell(caption)
                );
            }
            Block::Callout(tone, t) => {
                let word = match tone {
                    Tone::Good => "OK",
                    Tone::Note => "Note",
                    Tone::Warning => "Warning",
                    Tone::Bad => "Regression",
                };
                let _ = writeln!(out, "> **{word}:** {t}\n");
            }
            Block::Code(t) => {
                let _ = writeln!(out, "```\n{t}\n```\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Doc {
        let mut d = Doc {
            title: "Run <1>".into(),
            ..Doc::default()
        };
        d.heading(2, "Scenario suite");
        d.para("a & b");
        d.table(vec![
            vec!["gadget".into(), "F1".into()],
            vec!["oracle|x".into(), "0.95".into()],
        ]);
        d.chart("f1", "<svg class=\"chart\"></svg>".into(), "F1 per gadget");
        d.callout(Tone::Bad, "F1 fell");
        d
    }

    #[test]
    fn html_is_escaped_and_links_sections() {
        let h = html(&sample());
        assert!(h.contains("<title>Run &lt;1&gt;</title>"));
        assert!(h.contains("<a href=\"#scenario-suite\">Scenario suite</a>"));
        assert!(h.contains("<td class=\"num\">0.95</td>"));
        assert!(h.contains("<p>a &amp; b</p>"));
        assert!(h.contains("<figure id=\"chart-f1\"><svg"));
        assert!(h.contains("callout bad"));
        assert!(!h.contains("<script"), "no JavaScript");
    }

    #[test]
    fn markdown_twin_has_the_same_content() {
        let m = markdown(&sample());
        assert!(m.starts_with("# Run <1>\n"));
        assert!(m.contains("| gadget | F1 |\n| --- | ---: |\n| oracle\\|x | 0.95 |"));
        assert!(m.contains("![F1 per gadget](charts/f1.svg)"));
        assert!(m.contains("> **Regression:** F1 fell"));
    }

    #[test]
    fn a_table_without_rows_is_left_out() {
        let mut d = Doc::default();
        d.table(vec![vec!["only a header".into()]]);
        assert!(d.blocks.is_empty());
    }
}
