//! Log globs: parsing, and expansion to the paths that exist now.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::LogError;
use crate::fsread::vanished;

#[derive(Debug, Clone)]
pub(super) struct Glob {
    /// "/" or "" (relative to the working directory).
    root: PathBuf,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Pattern(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub(super) fn parse(pattern: &str) -> Result<Glob, LogError> {
        let bad = |reason| LogError::BadGlob {
            pattern: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("empty pattern"));
        }
        let root = if pattern.starts_with('/') { "/" } else { "" };
        let mut parts = Vec::new();
        for component in pattern.split('/').filter(|c| !c.is_empty()) {
            parts.push(if component.contains(['*', '?', '[']) {
                Part::Pattern(parse_component(component).map_err(bad)?)
            } else {
                Part::Literal(component.to_owned())
            });
        }
        if parts.is_empty() {
            return Err(bad("no file name"));
        }
        Ok(Glob {
            root: root.into(),
            parts,
        })
    }

    /// Adds the paths that match now to `out`; unreadable directories go to `problems`.
    pub(super) fn expand(
        &self,
        out: &mut BTreeSet<PathBuf>,
        problems: &mut BTreeMap<PathBuf, String>,
    ) {
        walk(self.root.clone(), &self.parts, out, problems);
    }
}

fn parse_component(component: &str) -> Result<Vec<Tok>, &'static str> {
    let cs: Vec<char> = component.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let tok = match cs[i] {
            '*' if cs.get(i + 1) == Some(&'*') => return Err("'**' is not supported"),
            '*' => Tok::Star,
            '?' => Tok::Any,
            '[' => {
                i += 1;
                let negated = matches!(cs.get(i), Some('!' | '^'));
                i += usize::from(negated);
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(&lo) = cs.get(i) else {
                        return Err("unclosed '['");
                    };
                    // A ']' right after '[' (or '[!') is a member, not the end.
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    match (cs.get(i + 1), cs.get(i + 2)) {
                        (Some('-'), Some(&hi)) if hi != ']' => {
                            if hi < lo {
                                return Err("reversed range in '[...]'");
                            }
                            ranges.push((lo, hi));
                            i += 3;
                        }
                        _ => {
                            ranges.push((lo, lo));
                            i += 1;
                        }
                    }
                }
                Tok::Class { negated, ranges }
            }
            c => Tok::Char(c),
        };
        toks.push(tok);
        i += 1;
    }
    Ok(toks)
}

fn tok_matches(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Char(t) => *t == c,
        Tok::Any => true,
        Tok::Star => false,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

/// Wildcard matching with backtracking to the last '*' only, which is enough because a
/// '*' can absorb anything an earlier '*' could.
fn glob_matches(toks: &[Tok], name: &str) -> bool {
    if name.starts_with('.') && toks.first() != Some(&Tok::Char('.')) {
        return false;
    }
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(t) {
            if *tok == Tok::Star {
                star = Some((t + 1, n));
                t += 1;
                continue;
            }
            if let Some(c) = name[n..].chars().next()
                && tok_matches(tok, c)
            {
                t += 1;
                n += c.len_utf8();
                continue;
            }
        } else if n == name.len() {
            return true;
        }
        // Mismatch: let the last '*' absorb one more character.
        match star {
            Some((st, sn)) if sn < name.len() => {
                let next = sn + name[sn..].chars().next().map_or(1, char::len_utf8);
                star = Some((st, next));
                t = st;
                n = next;
            }
            _ => return false,
        }
    }
}

fn walk(
    path: PathBuf,
    parts: &[Part],
    out: &mut BTreeSet<PathBuf>,
    problems: &mut BTreeMap<PathBuf, String>,
) {
    let Some((part, rest)) = parts.split_first() else {
        out.insert(path);
        return;
    };
    match part {
        Part::Literal(name) => walk(path.join(name), rest, out, problems),
        Part::Pattern(toks) => {
            let dir = if path.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &path
            };
            let entries = match fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if vanished(&e) || e.kind() == io::ErrorKind::NotADirectory => return,
                Err(e) => {
                    problems.insert(dir.to_path_buf(), e.to_string());
                    return;
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some(name) = name.to_str()
                    && glob_matches(toks, name)
                {
                    walk(path.join(name), rest, out, problems);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (CONTRIBUTING.md)
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        glob_matches(&parse_component(pattern).unwrap(), name)
    }

    #[test]
    fn glob_matching() {
        assert!(m("*.log", "app.log"));
        assert!(!m("*.log", ".hidden.log"));
        assert!(m(".*.log", ".hidden.log"));
        assert!(!m("*.log", "app.log.1"));
        assert!(m("app.log*", "app.log.1"));
        assert!(m("a*b*c", "aXXbYYbZc"));
        assert!(!m("a*b*c", "aXXbYYbZ"));
        assert!(m("?.log", "x.log"));
        assert!(!m("?.log", "xy.log"));
        assert!(m("é?.log", "éü.log"));
        assert!(m("app-[0-9][0-9].log", "app-42.log"));
        assert!(!m("app-[0-9].log", "app-x.log"));
        assert!(m("app-[!0-9].log", "app-x.log"));
        assert!(m("app-[^0-9].log", "app-x.log"));
        assert!(m("[]x]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("*", "anything"));
        assert!(m("*x", "abx"));
    }

    #[test]
    fn bad_globs_are_named() {
        for (p, why) in [
            ("/var/log/[a.log", "unclosed"),
            ("/var/**/x.log", "'**'"),
            ("", "empty"),
            ("/", "no file name"),
            ("[z-a]", "reversed"),
        ] {
            let e = Glob::parse(p).unwrap_err().to_string();
            assert!(e.contains(&format!("'{p}'")) && e.contains(why), "{e}");
        }
    }

    #[test]
    fn glob_parts() {
        let g = Glob::parse("/var//log/*.log").unwrap();
        assert_eq!(g.root, PathBuf::from("/"));
        assert!(
            matches!(&g.parts[..], [Part::Literal(a), Part::Literal(b), Part::Pattern(_)] if a == "var" && b == "log")
        );
        assert_eq!(Glob::parse("logs/x").unwrap().root, PathBuf::new());
    }
}
