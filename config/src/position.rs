//! Where each node of a YAML (or JSON) document is: a map from the node's path
//! (`scrape_configs[2].relabel_configs[0].regex`, the same spelling serde_yaml_ng uses in its
//! messages) to the 1-based line and column of the node and of its mapping key.
//!
//! serde gives positions only for its own errors; validation runs after deserialisation on
//! plain structs, so it asks this map where the offending value was written. The map is
//! built by one pass over the marked event stream of `saphyr-parser`. The same pass rejects
//! duplicate mapping keys, which serde would otherwise resolve silently (last one wins) for
//! label maps.
//!
//! Invariants: paths are built by [`field`] and [`index`] on both sides, so lookups match
//! exactly; a path that is not in the map (a defaulted field) falls back to its nearest
//! present ancestor, and finally to 1:1. Only the first document of a stream is indexed.
//!
//! Cost: one parse of the text and one `String` per node; configs are small and this runs
//! once per load.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

/// A 1-based position in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    const START: Pos = Pos { line: 1, column: 1 };

    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            // saphyr columns are 0-based, lines 1-based; libyaml's (serde_yaml_ng) errors
            // are reported 1-based for both, and so are ours.
            column: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Position of the mapping key, for nodes that are mapping values.
    key: Option<Pos>,
    /// Position of the node itself.
    value: Pos,
}

/// Positions of the nodes of one document.
#[derive(Debug, Default)]
pub struct Positions {
    nodes: HashMap<String, Node>,
}

/// Why the pass failed.
#[derive(Debug)]
pub enum PositionsError {
    /// A mapping has the same key twice.
    DuplicateKey { path: String, at: Pos, first: Pos },
    /// The text is not YAML this parser accepts (the caller lets serde report the syntax
    /// error, so messages come from one parser).
    Syntax,
}

/// The path of field `key` under `parent`.
pub fn field(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of element `i` of the sequence at `parent`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The parent of a path, `None` for the root.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']')
        && let Some(i) = path.rfind('[')
    {
        return Some(&path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

enum Frame {
    Map {
        path: String,
        /// The pending key and its position, once the key node has been seen.
        key: Option<(String, Pos)>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

impl Positions {
    /// Indexes the first document of `src`.
    pub fn build(src: &str) -> Result<Positions, PositionsError> {
        let mut nodes = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(src);
        let mut in_document = false;
        while let Some(item) = parser.next_event() {
            let (event, span) = item.map_err(|_| PositionsError::Syntax)?;
            let pos = Pos::from_span(&span);
            let (is_node, opens) = match &event {
                Event::DocumentStart(_) => {
                    in_document = true;
                    continue;
                }
                Event::DocumentEnd => break,
                Event::Scalar(..) | Event::Alias(_) => (true, None),
                Event::SequenceStart(..) => (true, Some(false)),
                Event::MappingStart(..) => (true, Some(true)),
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                    continue;
                }
                _ => (false, None),
            };
            if !is_node || !in_document {
                continue;
            }
            // Decide which path this node has, or whether it is a mapping key.
            let path = match stack.last_mut() {
                None => Some(String::new()),
                Some(Frame::Seq { path, next }) => {
                    let p = index(path, *next);
                    *next += 1;
                    Some(p)
                }
                Some(Frame::Map { path, key, seen }) => match key.take() {
                    Some((k, key_pos)) => {
                        let p = field(path, &k);
                        nodes.insert(
                            p.clone(),
                            Node {
                                key: Some(key_pos),
                                value: pos,
                            },
                        );
                        Some(p)
                    }
                    None => {
                        // This node is a key. Complex (non-scalar) keys get a placeholder
                        // name and are not checked for duplicates.
                        let name = match &event {
                            Event::Scalar(v, ..) => {
                                let name = v.to_string();
                                if let Some(first) = seen.insert(name.clone(), pos) {
                                    return Err(PositionsError::DuplicateKey {
                                        path: field(path, &name),
                                        at: pos,
                                        first,
                                    });
                                }
                                name
                            }
                            _ => "?".to_string(),
                        };
                        *key = Some((name, pos));
                        None
                    }
                },
            };
            match path {
                Some(p) => {
                    nodes.entry(p.clone()).or_insert(Node {
                        key: None,
                        value: pos,
                    });
                    match opens {
                        Some(true) => stack.push(Frame::Map {
                            path: p,
                            key: None,
                            seen: HashMap::new(),
                        }),
                        Some(false) => stack.push(Frame::Seq { path: p, next: 0 }),
                        None => {}
                    }
                }
                None => {
                    // A complex key: skip its contents by pushing a frame under a path no
                    // lookup will use.
                    match opens {
                        Some(true) => stack.push(Frame::Map {
                            path: "?".into(),
                            key: None,
                            seen: HashMap::new(),
                        }),
                        Some(false) => stack.push(Frame::Seq {
                            path: "?".into(),
                            next: 0,
                        }),
                        None => {}
                    }
                }
            }
        }
        Ok(Positions { nodes })
    }

    /// Position of the node at `path` (or of its nearest present ancestor).
    pub fn value(&self, path: &str) -> Pos {
        let mut p = Some(path);
        while let Some(cur) = p {
            if let Some(n) = self.nodes.get(cur) {
                return n.value;
            }
            p = parent(cur);
        }
        Pos::START
    }

    /// Position of the mapping key of the node at `path`; the node's own position if it has
    /// no key (sequence elements, the root); else as [`Positions::value`].
    pub fn key(&self, path: &str) -> Pos {
        match self.nodes.get(path) {
            Some(n) => n.key.unwrap_or(n.value),
            None => self.value(path),
        }
    }

    /// Whether the document has a node at exactly `path`.
    pub fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    const DOC: &str = "\
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    static_configs:
      - targets: ['x:1', \"y:2\"]
  - job_name: b
    params: {module: [http_2xx]}
";

    #[test]
    fn indexes_block_and_flow_nodes() {
        let pos = Positions::build(DOC).expect("build");
        assert_eq!(pos.value("global.scrape_interval"), p(2, 20));
        assert_eq!(pos.key("global.scrape_interval"), p(2, 3));
        assert_eq!(pos.value("scrape_configs[0].job_name"), p(4, 15));
        assert_eq!(pos.value("scrape_configs[0]"), p(4, 5));
        assert_eq!(
            pos.value("scrape_configs[0].static_configs[0].targets[0]"),
            p(6, 19)
        );
        assert_eq!(
            pos.value("scrape_configs[0].static_configs[0].targets[1]"),
            p(6, 26)
        );
        assert_eq!(pos.value("scrape_configs[1].job_name"), p(7, 15));
        assert_eq!(pos.value("scrape_configs[1].params.module[0]"), p(8, 23));
    }

    #[test]
    fn missing_paths_fall_back_to_ancestors() {
        let pos = Positions::build(DOC).expect("build");
        assert!(!pos.has("scrape_configs[1].scrape_timeout"));
        assert_eq!(pos.value("scrape_configs[1].scrape_timeout"), p(7, 5));
        assert_eq!(pos.key("scrape_configs[1].tls_config.ca_file"), p(7, 5));
        assert_eq!(pos.value("nothing.here"), p(1, 1));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_positions() {
        let err = Positions::build("a: 1\nb:\n  x: 1\n  x: 2\n").expect_err("dup");
        match err {
            PositionsError::DuplicateKey { path, at, first } => {
                assert_eq!(path, "b.x");
                assert_eq!(at, p(4, 3));
                assert_eq!(first, p(3, 3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn json_documents_are_indexed_too() {
        let src = "[\n  {\"targets\": [\"a:1\"],\n   \"labels\": {\"env\": \"prod\"}}\n]\n";
        let pos = Positions::build(src).expect("json");
        assert_eq!(pos.value("[0].targets[0]"), p(2, 16));
        assert_eq!(pos.key("[0].labels.env"), p(3, 15));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent("[0]"), Some(""));
        assert_eq!(parent(""), None);
    }
}
