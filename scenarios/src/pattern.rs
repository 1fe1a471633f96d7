//! Trial name filters (`qbranch replay --run`): a small regular-expression subset,
//! enough for `^oracle/.*_leak/seed-1000.$` or `deadlock|livelock`: literals, `.`, `*`,
//! `+`, `?`, `^`, `$`, `\` escapes and top-level `|` (no groups or classes). Unanchored,
//! like `go test -run`. (The workspace has one external dependency budget for this crate's
//! harness; a full regex engine is not worth a second one for a name filter.)

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    alternatives: Vec<Branch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Branch {
    start: bool,
    end: bool,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    /// None: any character.
    atom: Option<char>,
    min: usize,
    many: bool,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let alternatives = text
            .split('|')
            .map(|alt| branch(alt).map_err(|e| format!("pattern {text:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Pattern { alternatives })
    }

    pub fn is_match(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        self.alternatives.iter().any(|b| {
            let starts = if b.start { 0..=0 } else { 0..=chars.len() };
            starts
                .into_iter()
                .any(|i| here(&b.nodes, &chars[i..], b.end))
        })
    }
}

fn branch(text: &str) -> Result<Branch, String> {
    let mut chars = text.chars().peekable();
    let start = chars.next_if_eq(&'^').is_some();
    let mut nodes: Vec<Node> = Vec::new();
    let mut end = false;
    while let Some(c) = chars.next() {
        if end {
            return Err("`$` must end the pattern (or an alternative)".into());
        }
        let atom = match c {
            '\\' => Some(chars.next().ok_or("a trailing `\\`")?),
            '.' => None,
            '$' => {
                end = true;
                continue;
            }
            '*' | '+' | '?' => {
                let last = nodes
                    .last_mut()
                    .filter(|n| n.min == 1 && !n.many)
                    .ok_or(format!("`{c}` repeats nothing"))?;
                match c {
                    '*' => (last.min, last.many) = (0, true),
                    '+' => last.many = true,
                    _ => last.min = 0,
                }
                continue;
            }
            '(' | ')' | '[' | ']' | '{' | '}' => {
                return Err(format!(
                    "`{c}` is not supported (literals, ., *, +, ?, ^, $, \\ and |)"
                ));
            }
            c => Some(c),
        };
        nodes.push(Node {
            atom,
            min: 1,
            many: false,
        });
    }
    Ok(Branch { start, end, nodes })
}

/// Whether `nodes` match at the start of `text` (to its end when `end`).
fn here(nodes: &[Node], text: &[char], end: bool) -> bool {
    let Some((node, rest)) = nodes.split_first() else {
        return !end || text.is_empty();
    };
    let fits = |c: &char| node.atom.is_none_or(|a| a == *c);
    let max = if node.many || node.min == 0 {
        let run = text.iter().take_while(|c| fits(c)).count();
        if node.many { run } else { run.min(1) }
    } else {
        usize::from(text.first().is_some_and(fits))
    };
    if max < node.min {
        return false;
    }
    // Greedy, backing off one character at a time.
    (node.min..=max).rev().any(|n| here(rest, &text[n..], end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_matches_like_a_regex() {
        let m = |p: &str, s: &str| Pattern::parse(p).unwrap().is_match(s);
        assert!(m("oracle/", "oracle/linear_leak/seed-10001"));
        assert!(!m("^leak", "oracle/linear_leak/seed-10001"));
        assert!(m(
            "^oracle/.*_leak/seed-1000.$",
            "oracle/linear_leak/seed-10001"
        ));
        assert!(m("seed-10001$", "a/b/seed-10001"));
        assert!(!m("seed-1000$", "a/b/seed-10001"));
        assert!(m("deadlock|livelock", "pathologist/livelock/seed-1"));
        assert!(m("^a.+c$", "abbc"));
        assert!(!m("^a.+c$", "ac"));
        assert!(m("^ab?c$", "ac") && m("^ab?c$", "abc") && !m("^ab?c$", "abbc"));
        assert!(m("a\\.b", "a.b") && !m("a\\.b", "axb"));
        assert!(m("", "anything"));
    }

    #[test]
    fn unsupported_syntax_is_refused_by_name() {
        for (p, needle) in [
            ("(a|b)", "`(` is not supported"),
            ("*a", "repeats nothing"),
            ("a**", "repeats nothing"),
            ("a\\", "trailing"),
            ("a$b", "must end"),
        ] {
            let e = Pattern::parse(p).unwrap_err();
            assert!(e.contains(needle), "{p}: {e}");
        }
    }
}
