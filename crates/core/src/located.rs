//! Where each value of a YAML document is: the document read once more, on the error path only, into
//! a tree whose nodes carry serde-saphyr's locations, so that a problem found by path
//! (`spec.workloadGroups[0].workloads[0].contents`) can name its line in the file.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML node with the locations of its children.
enum Node {
    /// Each entry with the location of its key (a block scalar's value starts on the next line).
    Map(Vec<(Spanned<String>, Node)>),
    Seq(Vec<Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML node")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Node>()?));
                }
                Ok(Node::Map(entries))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// The 1-based line, within `body`, of the value at `path` (`a.b[2].c`); `None` when the document does
/// not read as a tree or the path is not in it.
pub fn line_of(body: &str, path: &str) -> Option<usize> {
    let root: Node = serde_saphyr::from_str(body).ok()?;
    let mut node = &root;
    let mut line = None;
    for (key, indices) in segments(path) {
        if !key.is_empty() {
            let Node::Map(entries) = node else { return None };
            let (k, child) = entries.iter().find(|(k, _)| k.value == key)?;
            line = Some(k.referenced.line() as usize);
            node = child;
        }
        for index in indices {
            let Node::Seq(items) = node else { return None };
            let child = items.get(index?)?;
            line = Some(child.referenced.line() as usize);
            node = &child.value;
        }
    }
    line
}

/// A field path (`a.b[2][0].c`) as its keys, each with the list indices that follow it (`None` for an
/// index that is not a number).
pub(crate) fn segments(path: &str) -> Vec<(&str, Vec<Option<usize>>)> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (key, indices) = part.find('[').map_or((part, ""), |i| (&part[..i], &part[i..]));
            let indices = indices.split(']').filter_map(|s| s.strip_prefix('[')).map(|i| i.parse().ok()).collect();
            (key, indices)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_names_the_line_of_its_value() {
        let body = "kind: Work\nspec:\n  workloadGroups:\n  - workloads:\n    - filepath: a\n      content: x\n    - {filepath: b, contents: y}\n    - filepath: c\n      content: |\n        block\n";
        for (path, want) in [
            ("kind", Some(1)),
            ("spec.workloadGroups[0].workloads[0].content", Some(6)),
            ("spec.workloadGroups[0].workloads[1].contents", Some(7)),
            ("spec.workloadGroups[0].workloads[1]", Some(7)),
            ("spec.workloadGroups[0].workloads[2].content", Some(9)),
            ("spec.missing", None),
            ("spec.workloadGroups[3]", None),
            ("kind.deeper", None),
        ] {
            assert_eq!(line_of(body, path), want, "{path}");
        }
        assert_eq!(line_of("a: [unclosed", "a"), None);
    }
}
