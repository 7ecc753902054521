//! Routes inbound messages to the handlers that asked for them, so that many
//! subscriptions (one per screen, per component, per `async for`) share one
//! connection.
//!
//! A binding registers a handler id under a filter when the user subscribes
//! and asks [`Router::route`] for the handlers of each message's topic. The
//! router is a trie over topic levels, so routing costs the depth of the
//! topic, not the number of subscriptions.
//!
//! ```
//! use midge_core::router::Router;
//!
//! let mut router = Router::new();
//! router.insert("greenhouse/+/temp", 1).unwrap();
//! router.insert("greenhouse/#", 2).unwrap();
//! router.insert("$share/dashboards/greenhouse/1/temp", 3).unwrap();
//! router.insert("#", 4).unwrap();
//!
//! assert_eq!(router.route("greenhouse/1/temp"), vec![1, 2, 3, 4]);
//! assert_eq!(router.route("greenhouse/roof"), vec![2, 4]);
//! assert_eq!(router.route("$SYS/broker/uptime"), Vec::<u32>::new()); // `#` skips `$` topics
//!
//! router.remove("greenhouse/#", 2);
//! assert_eq!(router.route("greenhouse/roof"), vec![4]);
//! ```

use std::collections::HashMap;

use crate::topic::{matching_filter, validate_topic_filter, TopicError};

#[derive(Debug)]
struct Node<H> {
    /// Handlers whose filter ends at this level.
    exact: Vec<H>,
    /// Handlers of a `#` at this level (match this level's parent and below).
    rest: Vec<H>,
    /// The `+` child.
    any: Option<Box<Node<H>>>,
    /// Named children.
    children: HashMap<String, Node<H>>,
}

impl<H> Default for Node<H> {
    fn default() -> Self {
        Node {
            exact: Vec::new(),
            rest: Vec::new(),
            any: None,
            children: HashMap::new(),
        }
    }
}

impl<H> Node<H> {
    fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.rest.is_empty()
            && self.any.is_none()
            && self.children.is_empty()
    }
}

/// Filter -> handler ids. `H` is whatever the binding uses to name a
/// consumer (a channel index, a callback id).
///
/// One handler may sit under several filters and one filter may hold several
/// handlers; a message is routed to each matching handler once, in ascending
/// order, however many of its filters overlap.
#[derive(Debug)]
pub struct Router<H> {
    root: Node<H>,
    len: usize,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<H: Copy + Ord> Router<H> {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Number of (filter, handler) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Register `handler` under `filter` (shared filters route by the part
    /// after the share name). Registering the same pair twice is a no-op.
    pub fn insert(&mut self, filter: &str, handler: H) -> Result<(), TopicError> {
        validate_topic_filter(filter)?;
        let mut node = &mut self.root;
        let mut levels = matching_filter(filter).split('/').peekable();
        while let Some(level) = levels.next() {
            let last = levels.peek().is_none();
            let slot = match level {
                "#" => &mut node.rest,
                _ => {
                    node = match level {
                        "+" => node.any.get_or_insert_with(Default::default),
                        name => node.children.entry(name.to_owned()).or_default(),
                    };
                    if !last {
                        continue;
                    }
                    &mut node.exact
                }
            };
            if !slot.contains(&handler) {
                slot.push(handler);
                self.len += 1;
            }
            return Ok(());
        }
        Ok(())
    }

    /// Unregister `handler` from `filter`; returns whether it was there.
    pub fn remove(&mut self, filter: &str, handler: H) -> bool {
        if validate_topic_filter(filter).is_err() {
            return false;
        }
        let levels: Vec<&str> = matching_filter(filter).split('/').collect();
        let removed = remove_in(&mut self.root, &levels, handler);
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Unregister `handler` from every filter; returns how many entries went.
    pub fn remove_handler(&mut self, handler: H) -> usize {
        let removed = remove_everywhere(&mut self.root, handler);
        self.len -= removed;
        removed
    }

    /// The handlers whose filters match `topic`, each once, ascending.
    pub fn route(&self, topic: &str) -> Vec<H> {
        let mut out = Vec::new();
        self.route_into(topic, &mut out);
        out
    }

    /// Like [`route`](Self::route), appending to a buffer the caller reuses.
    pub fn route_into(&self, topic: &str, out: &mut Vec<H>) {
        let start = out.len();
        let levels: Vec<&str> = topic.split('/').collect();
        // 4.7.2: a leading wildcard never matches a topic starting with `$`.
        let dollar = topic.starts_with('$');
        collect(&self.root, &levels, dollar, out);
        out[start..].sort_unstable();
        let mut kept = start;
        for i in start..out.len() {
            if kept == start || out[kept - 1] != out[i] {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

fn collect<H: Copy>(node: &Node<H>, levels: &[&str], skip_wildcards: bool, out: &mut Vec<H>) {
    if !skip_wildcards {
        out.extend_from_slice(&node.rest);
    }
    let Some((level, below)) = levels.split_first() else {
        return;
    };
    let mut visit = |child: &Node<H>| {
        if below.is_empty() {
            out.extend_from_slice(&child.exact);
            // `a/#` also matches `a`.
            out.extend_from_slice(&child.rest);
        } else {
            collect(child, below, false, out);
        }
    };
    if let Some(child) = node.children.get(*level) {
        visit(child);
    }
    if !skip_wildcards {
        if let Some(child) = node.any.as_deref() {
            visit(child);
        }
    }
}

fn remove_in<H: Copy + Eq>(node: &mut Node<H>, levels: &[&str], handler: H) -> bool {
    let Some((level, below)) = levels.split_first() else {
        return false;
    };
    if *level == "#" {
        return take(&mut node.rest, handler);
    }
    let removed = if *level == "+" {
        let Some(child) = node.any.as_deref_mut() else {
            return false;
        };
        let removed = if below.is_empty() {
            take(&mut child.exact, handler)
        } else {
            remove_in(child, below, handler)
        };
        if child.is_empty() {
            node.any = None;
        }
        removed
    } else {
        let Some(child) = node.children.get_mut(*level) else {
            return false;
        };
        let removed = if below.is_empty() {
            take(&mut child.exact, handler)
        } else {
            remove_in(child, below, handler)
        };
        if child.is_empty() {
            node.children.remove(*level);
        }
        removed
    };
    removed
}

fn remove_everywhere<H: Copy + Eq>(node: &mut Node<H>, handler: H) -> usize {
    let mut removed =
        usize::from(take(&mut node.exact, handler)) + usize::from(take(&mut node.rest, handler));
    if let Some(child) = node.any.as_deref_mut() {
        removed += remove_everywhere(child, handler);
        if child.is_empty() {
            node.any = None;
        }
    }
    node.children.retain(|_, child| {
        removed += remove_everywhere(child, handler);
        !child.is_empty()
    });
    removed
}

fn take<H: Eq>(handlers: &mut Vec<H>, handler: H) -> bool {
    match handlers.iter().position(|h| *h == handler) {
        Some(i) => {
            handlers.swap_remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::topic_matches;

    #[test]
    fn agrees_with_topic_matches() {
        let filters = [
            "#",
            "+",
            "+/+",
            "a",
            "a/b",
            "a/+",
            "a/#",
            "+/b",
            "+/b/#",
            "/#",
            "/+",
            "a//b",
            "$SYS/#",
            "$SYS/+",
            "+/#",
            "a/+/c",
            "$share/g/a/+",
            "$share/h/#",
        ];
        let topics = [
            "a", "a/b", "a/c", "a/b/c", "/", "/x", "a//b", "$SYS/x", "$SYS", "b", "x/b", "x/b/c",
            "",
        ];
        let mut router = Router::new();
        for (i, f) in filters.iter().enumerate() {
            router.insert(f, i).unwrap();
        }
        assert_eq!(router.len(), filters.len());
        for topic in topics {
            let expected: Vec<usize> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| topic_matches(f, topic))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(router.route(topic), expected, "topic {topic:?}");
        }
    }

    #[test]
    fn overlapping_filters_route_once() {
        let mut router = Router::new();
        router.insert("a/#", 7).unwrap();
        router.insert("a/+", 7).unwrap();
        router.insert("a/b", 7).unwrap();
        router.insert("a/b", 7).unwrap(); // duplicate: no-op
        assert_eq!(router.len(), 3);
        assert_eq!(router.route("a/b"), vec![7]);
        assert!(router.remove("a/b", 7));
        assert!(!router.remove("a/b", 7));
        assert_eq!(router.route("a/b"), vec![7]);
        assert_eq!(router.remove_handler(7), 2);
        assert!(router.is_empty());
        assert!(router.root.is_empty(), "removal prunes the trie");
    }

    #[test]
    fn rejects_invalid_filters() {
        let mut router = Router::new();
        assert_eq!(
            router.insert("a/#/b", 1),
            Err(TopicError::MultiLevelWildcardMisplaced)
        );
        assert!(!router.remove("a/#/b", 1));
        assert!(router.is_empty());
    }
}
