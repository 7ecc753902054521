//! Topic names and topic filters: the rules of MQTT 3.1.1 section 4.7 and
//! 5.0 section 4.7, shared subscriptions (`$share/group/filter`, 5.0 section
//! 4.8.2) and matching a topic name against a filter.
//!
//! ```
//! use midge_core::topic::{topic_matches, validate_topic_filter, validate_topic_name};
//!
//! assert!(validate_topic_name("greenhouse/1/temp").is_ok());
//! assert!(validate_topic_name("greenhouse/+/temp").is_err()); // no wildcards in names
//! assert!(validate_topic_filter("greenhouse/+/temp").is_ok());
//! assert!(validate_topic_filter("greenhouse/#/temp").is_err()); // `#` only last
//!
//! assert!(topic_matches("greenhouse/+/temp", "greenhouse/1/temp"));
//! assert!(topic_matches("#", "greenhouse/1/temp"));
//! assert!(!topic_matches("#", "$SYS/broker/uptime")); // `$` topics need an explicit `$` level
//! assert!(topic_matches("$share/workers/jobs/#", "jobs/42"));
//! ```

/// Longest topic name or filter: a UTF-8 string field holds at most 65,535 bytes.
pub const MAX_TOPIC_LEN: usize = u16::MAX as usize;

/// Why a topic name or topic filter is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// Topic names and filters must be at least one character long.
    Empty,
    /// Longer than a UTF-8 string field can hold.
    TooLong {
        /// The length in bytes.
        len: usize,
    },
    /// U+0000 is forbidden in every MQTT string.
    NullCharacter,
    /// `+` and `#` are for filters only.
    WildcardInName,
    /// `#` stands for the rest of the levels, so it must be the last level.
    MultiLevelWildcardMisplaced,
    /// `+` stands for exactly one level.
    SingleLevelWildcardMisplaced,
    /// `$share/` needs a share name: `$share/<group>/<filter>`.
    SharedGroupMissing,
    /// The share name must not contain `+` or `#` (5.0 section 4.8.2).
    SharedGroupInvalid,
    /// `$share/<group>` needs a filter after the share name.
    SharedFilterMissing,
}

// `Display` by hand rather than with `thiserror`: `{len}` linked
// `core::fmt`'s integer printing into the browser package (see `text`).
// The client builds its messages with `message` (not `to_string`, which
// links `core::fmt::write` into the browser package).
impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl TopicError {
    /// The rule broken, as `Display` prints it.
    pub(crate) fn message(&self) -> String {
        String::from(match self {
            TopicError::Empty => "must not be empty",
            TopicError::TooLong { len } => {
                return crate::text::cat(&[
                    "is ",
                    &crate::text::dec(*len as u64),
                    " bytes long; at most 65,535 bytes are allowed",
                ])
            }
            TopicError::NullCharacter => "must not contain the null character U+0000",
            TopicError::WildcardInName => {
                "must not contain the wildcards '+' or '#' (a topic name is not a filter)"
            }
            TopicError::MultiLevelWildcardMisplaced => {
                "'#' must be the last character and take a whole level (e.g. `a/#`)"
            }
            TopicError::SingleLevelWildcardMisplaced => {
                "'+' must take a whole level (e.g. `a/+/b`, not `a/b+`)"
            }
            TopicError::SharedGroupMissing => {
                "a shared subscription needs a share name: `$share/<group>/<filter>`"
            }
            TopicError::SharedGroupInvalid => {
                "the share name of a shared subscription must not contain '+' or '#'"
            }
            TopicError::SharedFilterMissing => {
                "a shared subscription needs a filter after the share name: `$share/<group>/<filter>`"
            }
        })
    }
}

impl std::error::Error for TopicError {}

/// A shared subscription's parts: `$share/<group>/<filter>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name.
    pub group: &'a str,
    /// The filter that topics are matched against.
    pub filter: &'a str,
}

/// Whether `bytes` holds `byte`. A byte loop rather than `<[u8]>::contains`,
/// which links a word-at-a-time memchr (0.4 KB of the browser package) that
/// the short strings of MQTT fields do not need.
#[allow(clippy::manual_contains)]
pub(crate) fn has_byte(bytes: &[u8], byte: u8) -> bool {
    bytes.iter().any(|&b| b == byte)
}

fn check_string(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong { len: s.len() });
    }
    if has_byte(s.as_bytes(), 0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Check a topic name (what PUBLISH carries): non-empty, at most 65,535
/// bytes, no U+0000, no `+` or `#`.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong { len: topic.len() });
    }
    // One pass over the bytes: this runs on every publish. The three bytes
    // are ASCII, so they never occur inside a multi-byte UTF-8 sequence.
    for &b in topic.as_bytes() {
        match b {
            0 => return Err(TopicError::NullCharacter),
            b'+' | b'#' => return Err(TopicError::WildcardInName),
            _ => {}
        }
    }
    Ok(())
}

/// Check a topic filter (what SUBSCRIBE carries): the string rules, `+` a
/// whole level, `#` a whole last level, and for `$share/<group>/<filter>` a
/// valid share name followed by a valid filter.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_string(filter)?;
    let filter = match filter.strip_prefix("$share/") {
        Some(rest) => {
            let (group, inner) = match split_at_slash(rest) {
                Some(parts) => parts,
                None if rest.is_empty() => return Err(TopicError::SharedGroupMissing),
                None => return Err(TopicError::SharedFilterMissing),
            };
            if group.is_empty() {
                return Err(TopicError::SharedGroupMissing);
            }
            if group.bytes().any(|b| b == b'+' || b == b'#') {
                return Err(TopicError::SharedGroupInvalid);
            }
            if inner.is_empty() {
                return Err(TopicError::SharedFilterMissing);
            }
            inner
        }
        None => filter,
    };
    // Level by level, as `split('/')` would give them, over the bytes (the
    // delimiters are ASCII): char patterns link `core`'s char searcher into
    // the browser package.
    let bytes = filter.as_bytes();
    let mut start = 0;
    loop {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |i| start + i);
        let level = &bytes[start..end];
        let last = end == bytes.len();
        if has_byte(level, b'#') && (level != b"#" || !last) {
            return Err(TopicError::MultiLevelWildcardMisplaced);
        }
        if has_byte(level, b'+') && level != b"+" {
            return Err(TopicError::SingleLevelWildcardMisplaced);
        }
        if last {
            return Ok(());
        }
        start = end + 1;
    }
}

/// `s.split_once('/')` over the bytes.
fn split_at_slash(s: &str) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == b'/')?;
    Some((&s[..i], &s[i + 1..]))
}

/// Split a shared subscription into share name and filter; `None` for a
/// filter that is not shared. Assumes a filter that passed
/// [`validate_topic_filter`].
pub fn parse_shared(filter: &str) -> Option<SharedFilter<'_>> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, filter) = split_at_slash(rest)?;
    Some(SharedFilter { group, filter })
}

/// The filter that topics are matched against: the part after the share name
/// for a shared subscription, the filter itself otherwise.
pub fn matching_filter(filter: &str) -> &str {
    parse_shared(filter).map_or(filter, |shared| shared.filter)
}

/// Does `topic` (a topic name) match `filter` (a topic filter)?
///
/// Follows the spec: `+` matches exactly one level (possibly empty), `#`
/// matches the parent level and any number of levels below, and a topic
/// starting with `$` is not matched by a filter whose first level is a
/// wildcard. A shared filter matches what its inner filter matches.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let filter = matching_filter(filter);
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            exact => {
                if topic_levels.next() != Some(exact) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "/", "a/b", "a//b", "$SYS/x", " ", "ünïcode/☃"] {
            assert_eq!(validate_topic_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
        let long = "x".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(
            validate_topic_name(&long),
            Err(TopicError::TooLong {
                len: MAX_TOPIC_LEN + 1
            })
        );
        assert_eq!(validate_topic_name(&long[1..]), Ok(()));
    }

    #[test]
    fn filters() {
        for ok in [
            "#",
            "+",
            "+/+",
            "a/#",
            "/#",
            "+/b/#",
            "a//+",
            "$share/g/a/#",
            "$share/g/#",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
        }
        use TopicError::*;
        for (bad, why) in [
            ("a/#/b", MultiLevelWildcardMisplaced),
            ("a#", MultiLevelWildcardMisplaced),
            ("a/b#", MultiLevelWildcardMisplaced),
            ("##", MultiLevelWildcardMisplaced),
            ("a+", SingleLevelWildcardMisplaced),
            ("a/+b/c", SingleLevelWildcardMisplaced),
            ("$share/", SharedGroupMissing),
            ("$share//a", SharedGroupMissing),
            ("$share/g", SharedFilterMissing),
            ("$share/g/", SharedFilterMissing),
            ("$share/g+/a", SharedGroupInvalid),
            ("$share/g/a#", MultiLevelWildcardMisplaced),
            ("", Empty),
            ("a\0", NullCharacter),
        ] {
            assert_eq!(validate_topic_filter(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn shared() {
        assert_eq!(
            parse_shared("$share/workers/jobs/+"),
            Some(SharedFilter {
                group: "workers",
                filter: "jobs/+"
            })
        );
        assert_eq!(parse_shared("jobs/+"), None);
        assert_eq!(parse_shared("$shared/x/y"), None);
    }

    #[test]
    fn matching() {
        let cases = [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+", "a/", true),
            ("a/+", "a", false),
            ("+/+", "/x", true),
            ("+", "/x", false),
            ("/+", "/x", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("#", "a/b", true),
            ("#", "/", true),
            ("+/b/#", "a/b", true),
            ("+/b/#", "a/c", false),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("$SYS/+", "$SYS/x", true),
            ("a/b/c", "a/b", false),
            ("$share/g/a/+", "a/b", true),
            ("$share/g/#", "$SYS/x", false),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(
                topic_matches(filter, topic),
                expected,
                "{filter} vs {topic}"
            );
        }
    }
}
