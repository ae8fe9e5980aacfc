//! The configuration file as a tree of scalars that keep their source text.
//!
//! A YAML library that resolves scalars (serde_yaml behind figment did) turns an unquoted
//! password `0x1F` into the number 31 and `007` into 7 before the program sees it. This tree
//! keeps every scalar exactly as written, with its style (plain or quoted) and its line, so
//! that the deserializer in [`super::de`] gives string keys the exact text and resolves plain
//! scalars by the YAML 1.2 core schema (YAML 1.2.2 §10.3) only where a key is typed as a
//! number, a bool or a duration. It also refuses what YAML loaders otherwise let through
//! silently: a key given twice in one mapping (YAML 1.2.2 §3.2.1.1 says keys are unique;
//! loaders keep the last), aliases, tags, and more than one document.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Nesting deeper than this is refused: the configuration is at most four levels deep, and a
/// bound keeps a hostile `[[[[…` from exhausting the stack in the recursive deserializer.
pub(crate) const MAX_DEPTH: usize = 32;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// 1-based line and column in the configuration file.
    File { line: usize, col: usize },
    /// An environment variable (its name).
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { line, col } => write!(f, "line {line} column {col}"),
            Origin::Env(var) => write!(f, "from {var}"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `plain` is false for quoted and block scalars: those are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub at: Origin,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_at: Origin,
    pub value: Node,
}

impl Node {
    pub fn scalar(text: String, plain: bool, at: Origin) -> Node {
        Node {
            kind: Kind::Scalar { text, plain },
            at,
        }
    }

    pub fn empty_map(at: Origin) -> Node {
        Node {
            kind: Kind::Map(Vec::new()),
            at,
        }
    }

    /// Where the value of `key` (`inputs[0].port`, as errors name keys) was given, if it was.
    pub fn origin_of(&self, key: &str) -> Option<&Origin> {
        let mut node = self;
        for part in key.split('.') {
            let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
            if !name.is_empty() {
                let Kind::Map(entries) = &node.kind else {
                    return None;
                };
                node = &entries.iter().find(|e| e.key == name)?.value;
            }
            for index in indexes.split('[').filter(|i| !i.is_empty()) {
                let i: usize = index.trim_end_matches(']').parse().ok()?;
                let Kind::Seq(items) = &node.kind else {
                    return None;
                };
                node = items.get(i)?;
            }
        }
        Some(&node.at)
    }

    /// A plain empty scalar, `~` or `null` (YAML 1.2.2 §10.3.2, the core schema's null).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// A syntax problem: the message and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub at: Origin,
}

fn origin(m: &Marker, env: Option<&str>) -> Origin {
    match env {
        Some(var) => Origin::Env(var.to_string()),
        None => Origin::File {
            line: m.line(),
            col: m.col() + 1,
        },
    }
}

enum Open {
    Seq(Vec<Node>, Origin),
    /// Entries so far, a key waiting for its value, and where each key is (duplicates are
    /// found by hashing: a long mapping must not cost quadratic time).
    Map(
        Vec<Entry>,
        Option<(String, Origin)>,
        Origin,
        HashMap<String, usize>,
    ),
}

struct Builder<'e> {
    env: Option<&'e str>,
    stack: Vec<Open>,
    root: Option<Node>,
    documents: usize,
    error: Option<SyntaxError>,
}

impl Builder<'_> {
    fn fail(&mut self, message: String, at: Origin) {
        if self.error.is_none() {
            self.error = Some(SyntaxError { message, at });
        }
    }

    /// A finished node goes into the open container, or becomes the document.
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(entries, pending, _, index)) => match pending.take() {
                Some((key, key_at)) => {
                    if let Some(&first) = index.get(&key) {
                        let message = format!(
                            "key `{key}` is given twice in one mapping (first at {}): remove one",
                            entries[first].key_at
                        );
                        self.fail(message, key_at);
                        return;
                    }
                    index.insert(key.clone(), entries.len());
                    entries.push(Entry {
                        key,
                        key_at,
                        value: node,
                    });
                }
                None => match node.kind {
                    Kind::Scalar { text, .. } => *pending = Some((text, node.at)),
                    _ => {
                        self.fail("a mapping key must be a plain name".into(), node.at);
                    }
                },
            },
        }
    }
}

fn tag_is_str(tag: &Option<Tag>) -> Result<bool, String> {
    match tag {
        None => Ok(false),
        Some(t) if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" => Ok(true),
        Some(t) if t.handle == "!!" && t.suffix == "str" => Ok(true),
        Some(t) => Err(format!(
            "YAML tag `{}{}` is not supported (only !!str; or quote the value)",
            t.handle, t.suffix
        )),
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = origin(&mark, self.env);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        "more than one YAML document (`---`): put everything in one".into(),
                        at,
                    );
                }
            }
            Event::Alias(_) => self.fail(
                "YAML aliases (`*name`) are not supported: write the value out".into(),
                at,
            ),
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 {
                    return self.fail("YAML anchors (`&name`) are not supported".into(), at);
                }
                let forced_str = match tag_is_str(&tag) {
                    Ok(s) => s,
                    Err(m) => return self.fail(m, at),
                };
                let plain = style == TScalarStyle::Plain && !forced_str;
                self.push(Node::scalar(text, plain, at));
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if anchor != 0 || tag.is_some() {
                    return self.fail(
                        "YAML anchors and tags are not supported on a list or section".into(),
                        at,
                    );
                }
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(format!("nested deeper than {MAX_DEPTH} levels"), at);
                }
                if matches!(self.stack.last(), Some(Open::Map(_, None, _, _))) {
                    return self.fail("a mapping key must be a plain name".into(), at);
                }
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Open::Seq(Vec::new(), at)
                } else {
                    Open::Map(Vec::new(), None, at, HashMap::new())
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(items, at)) => Node {
                        kind: Kind::Seq(items),
                        at,
                    },
                    Some(Open::Map(entries, _, at, _)) => Node {
                        kind: Kind::Map(entries),
                        at,
                    },
                    None => return,
                };
                self.push(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parse YAML text into a tree. An empty document is an empty mapping. `env` names the
/// environment variable the text came from (its nodes then say so instead of a line).
pub(crate) fn parse(text: &str, env: Option<&str>) -> Result<Node, SyntaxError> {
    let mut b = Builder {
        env,
        stack: Vec::new(),
        root: None,
        documents: 0,
        error: None,
    };
    let result = Parser::new_from_str(text).load(&mut b, true);
    if let Some(e) = b.error {
        return Err(e);
    }
    if let Err(e) = result {
        let m = e.marker();
        return Err(SyntaxError {
            message: e.info().to_string(),
            at: origin(m, env),
        });
    }
    let start = Origin::File { line: 1, col: 1 };
    Ok(b.root.unwrap_or_else(|| Node::empty_map(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> (&str, bool) {
        match &n.kind {
            Kind::Scalar { text, plain } => (text, *plain),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_text_and_line() {
        let n = parse("a: 0x1F\nb: '007'\nc:\n  - .5\n", None).unwrap();
        let Kind::Map(e) = &n.kind else { panic!() };
        assert_eq!(scalar(&e[0].value), ("0x1F", true));
        assert_eq!(scalar(&e[1].value), ("007", false));
        assert_eq!(e[1].key_at, Origin::File { line: 2, col: 1 });
        let Kind::Seq(items) = &e[2].value.kind else {
            panic!()
        };
        assert_eq!(scalar(&items[0]), (".5", true));
        assert_eq!(items[0].at, Origin::File { line: 4, col: 5 });
    }

    #[test]
    fn refused() {
        let dup = parse("mqtt:\n  url: a\n  url: b\n", None).unwrap_err();
        assert!(dup.message.contains("`url` is given twice"), "{dup:?}");
        assert!(dup.message.contains("line 2"), "{dup:?}");
        assert_eq!(dup.at, Origin::File { line: 3, col: 3 });
        for bad in [
            "a: &x 1\nb: *x\n",
            "a: !!binary aGk=\n",
            "a: 1\n---\nb: 2\n",
            "? [a]\n: 1\n",
            "a: [b\n",
        ] {
            assert!(parse(bad, None).is_err(), "{bad}");
        }
        let n = parse("inputs:\n  - {name: a, port: 1}\n", None).unwrap();
        let at = |k| n.origin_of(k).cloned();
        assert_eq!(
            at("inputs[0].port"),
            Some(Origin::File { line: 2, col: 21 })
        );
        assert_eq!(at("inputs[1].port"), None);
        assert_eq!(at("--config"), None);
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep, None).unwrap_err().message.contains("deeper"));
        assert!(parse("a: !!str 5\n", None).is_ok());
    }
}
