//! Broker addresses. The URL scheme picks the transport a driver opens:
//! `mqtt://` (TCP, default port 1883), `mqtts://` (TLS, 8883), `ws://`
//! (WebSocket, 80) and `wss://` (WebSocket over TLS, 443). WebSocket URLs
//! keep their path (default `/`); the others take none.
//!
//! ```
//! use midge_core::server::{ServerAddress, Transport};
//!
//! let server: ServerAddress = "wss://broker.example/mqtt".parse().unwrap();
//! assert_eq!(server.transport, Transport::WebSocketTls);
//! assert_eq!((server.host.as_str(), server.port, server.path.as_str()), ("broker.example", 443, "/mqtt"));
//! assert_eq!(server.to_string(), "wss://broker.example:443/mqtt");
//!
//! let err = "http://broker.example".parse::<ServerAddress>().unwrap_err();
//! assert!(err.to_string().contains("mqtt://, mqtts://, ws:// or wss://"));
//! ```

use std::fmt;
use std::str::FromStr;

/// How to reach the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `mqtt://`: plain TCP.
    Tcp,
    /// `mqtts://`: TCP with TLS.
    Tls,
    /// `ws://`: WebSocket (subprotocol `mqtt`).
    WebSocket,
    /// `wss://`: WebSocket over TLS.
    WebSocketTls,
}

impl Transport {
    /// The URL scheme, without `://`.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Tcp => "mqtt",
            Transport::Tls => "mqtts",
            Transport::WebSocket => "ws",
            Transport::WebSocketTls => "wss",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tcp => 1883,
            Transport::Tls => 8883,
            Transport::WebSocket => 80,
            Transport::WebSocketTls => 443,
        }
    }

    /// True for `mqtts://` and `wss://`.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::WebSocketTls)
    }

    /// True for `ws://` and `wss://`.
    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::WebSocket | Transport::WebSocketTls)
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    /// TCP, TLS, WebSocket or secure WebSocket, from the URL's scheme.
    pub transport: Transport,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The URL's port, or the scheme's default (1883, 8883, 80, 443).
    pub port: u16,
    /// The WebSocket path with its query (`/` by default); empty for TCP and TLS.
    pub path: String,
}

/// Why a broker URL was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddressError {
    /// The URL has no `scheme://`; holds the URL.
    MissingScheme(String),
    /// The scheme is not `mqtt`, `mqtts`, `ws` or `wss`; holds the scheme.
    UnsupportedScheme(String),
    /// The URL has no host.
    MissingHost,
    /// The port is not a number in 1..=65535; holds the port text.
    InvalidPort(String),
    /// The host is not a valid name or IP address; holds the host text.
    InvalidHost(String),
    /// A `mqtt://` or `mqtts://` URL has a path; only WebSocket URLs take one.
    UnexpectedPath {
        /// The scheme (`mqtt` or `mqtts`).
        scheme: &'static str,
        /// The path it should not have.
        path: String,
    },
    /// The URL carries `user:password@`: pass credentials as options instead.
    CredentialsInUrl,
}

// `Display` by hand rather than with `thiserror` (see `text`).
impl fmt::Display for ServerAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl ServerAddressError {
    /// What is wrong, as `Display` prints it (built without `core::fmt`,
    /// which `to_string` would link into the browser package).
    pub(crate) fn message(&self) -> String {
        use crate::text::cat;
        match self {
            ServerAddressError::MissingScheme(url) => cat(
                &[
                    "`",
                    url,
                    "` has no scheme: write mqtt://, mqtts://, ws:// or wss:// before the host",
                ],
            ),
            ServerAddressError::UnsupportedScheme(scheme) => cat(
                &[
                    "unsupported scheme `",
                    scheme,
                    "://`: use mqtt://, mqtts://, ws:// or wss://",
                ],
            ),
            ServerAddressError::MissingHost => "the URL has no host".into(),
            ServerAddressError::InvalidPort(port) => {
                cat(&["`", port, "` is not a port number (1 to 65535)"])
            }
            ServerAddressError::InvalidHost(host) => {
                cat(&["`", host, "` is not a valid host"])
            }
            ServerAddressError::UnexpectedPath { scheme, path } => cat(
                &[
                    scheme,
                    ":// URLs take no path (`",
                    path,
                    "`); only ws:// and wss:// do",
                ],
            ),
            ServerAddressError::CredentialsInUrl => String::from(
                "credentials in the URL are not accepted (they would leak into logs): pass username and password as options",
            ),
        }
    }
}

impl std::error::Error for ServerAddressError {}

impl FromStr for ServerAddress {
    type Err = ServerAddressError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim_ascii();
        // `split_once("://")` without the two-way string searcher (a
        // kilobyte of wasm): the first `://`.
        let Some(i) = url.as_bytes().windows(3).position(|w| w == b"://") else {
            return Err(ServerAddressError::MissingScheme(url.to_owned()));
        };
        let (scheme, rest) = (&url[..i], &url[i + 3..]);
        // `eq_ignore_ascii_case` rather than a lower-cased copy and string
        // matching: less code in the wasm, which resolves Server References.
        let is = |name: &str| scheme.eq_ignore_ascii_case(name);
        let transport = if is("mqtt") || is("tcp") {
            Transport::Tcp
        } else if is("mqtts") || is("ssl") || is("tls") {
            Transport::Tls
        } else if is("ws") {
            Transport::WebSocket
        } else if is("wss") {
            Transport::WebSocketTls
        } else {
            return Err(ServerAddressError::UnsupportedScheme(scheme.to_owned()));
        };
        // Byte searches (the delimiters are ASCII): `str::find` with char
        // patterns instantiates a searcher per pattern type in the wasm.
        let (authority, path) = match rest.bytes().position(|b| b == b'/' || b == b'?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.as_bytes().contains(&b'@') {
            return Err(ServerAddressError::CredentialsInUrl);
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(ServerAddressError::MissingHost);
        }
        // Control characters, spaces and the URL delimiters never belong in
        // a host name or address ("mqtt://h\0" used to be accepted).
        if host
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'#' | b'\\' | b'<' | b'>'))
        {
            return Err(ServerAddressError::InvalidHost(host.to_owned()));
        }
        let port = match port {
            None => transport.default_port(),
            Some(p) => match parse_port(p) {
                Some(port) => port,
                None => return Err(ServerAddressError::InvalidPort(p.to_owned())),
            },
        };
        let path = if transport.is_websocket() {
            if path.is_empty() || path.starts_with("?") {
                let mut with_slash = String::from("/");
                with_slash.push_str(path);
                with_slash
            } else {
                path.to_owned()
            }
        } else if path.is_empty() || path == "/" {
            String::new()
        } else {
            return Err(ServerAddressError::UnexpectedPath {
                scheme: transport.scheme(),
                path: path.to_owned(),
            });
        };
        Ok(ServerAddress {
            transport,
            host: host.to_owned(),
            port,
            path,
        })
    }
}

impl ServerAddress {
    /// Where an MQTT 5.0 Server Reference (sent with Use Another Server
    /// 0x9C or Server Moved 0x9D) points, seen from a connection to `self`.
    ///
    /// The specification leaves the format open: a space-separated list of
    /// references. The first usable one wins. A full URL (`mqtts://b:8883`)
    /// is taken as written; a bare `host`, `host:port` or `[v6]:port` keeps
    /// this connection's scheme and WebSocket path, and its port when none
    /// is given (a cluster runs the same listener on every node). A
    /// reference that would drop TLS (`mqtt://` from an `mqtts://`
    /// connection) is not usable: following it would send the credentials
    /// in the clear.
    ///
    /// ```
    /// use midge_core::server::ServerAddress;
    ///
    /// let here: ServerAddress = "mqtts://a.example:8883".parse().unwrap();
    /// let there = here.resolve_reference("b.example").unwrap();
    /// assert_eq!(there.to_string(), "mqtts://b.example:8883");
    /// assert_eq!(here.resolve_reference("mqtt://c:1883 d:9000").unwrap().to_string(),
    ///            "mqtts://d:9000"); // the first one would drop TLS
    /// assert_eq!(here.resolve_reference("b:0 u:p@c"), None); // a bad port, credentials
    /// ```
    pub fn resolve_reference(&self, reference: &str) -> Option<ServerAddress> {
        reference
            .split_ascii_whitespace()
            .find_map(|one| self.resolve_one(one))
    }

    fn resolve_one(&self, reference: &str) -> Option<ServerAddress> {
        let has_scheme = reference.as_bytes().windows(3).any(|w| w == b"://");
        let target = if has_scheme {
            reference.parse::<ServerAddress>().ok()?
        } else {
            let (_, port) = split_host_port(reference).ok()?;
            let url = crate::text::cat(&[self.transport.scheme(), "://", reference, &self.path]);
            let mut target = url.parse::<ServerAddress>().ok()?;
            if port.is_none() {
                target.port = self.port;
            }
            target
        };
        if self.transport.is_tls() && !target.transport.is_tls() {
            return None;
        }
        Some(target)
    }
}

/// A port number, 1 to 65535, in decimal digits only (`str::parse` links
/// the generic integer parser and its error type into the wasm).
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 {
        return None;
    }
    let mut port: u32 = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        port = port * 10 + u32::from(b - b'0');
    }
    u16::try_from(port).ok().filter(|p| *p != 0)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), ServerAddressError> {
    if let Some(rest) = authority.strip_prefix("[") {
        let Some(i) = rest.bytes().position(|b| b == b']') else {
            return Err(ServerAddressError::InvalidHost(authority.to_owned()));
        };
        let (host, after) = (&rest[..i], &rest[i + 1..]);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(":") {
                Some(port) => Ok((host, Some(port))),
                None => Err(ServerAddressError::InvalidHost(authority.to_owned())),
            },
        };
    }
    let (host, port) = match authority.bytes().rposition(|b| b == b':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    if host.bytes().any(|b| matches!(b, b':' | b' ' | b'[' | b']')) {
        return Err(ServerAddressError::InvalidHost(authority.to_owned()));
    }
    Ok((host, port))
}

impl ServerAddress {
    /// The address as a URL (`mqtt://host:1883`, IPv6 hosts in brackets),
    /// as `Display` prints it, without `core::fmt`.
    ///
    /// ```
    /// use midge_core::server::ServerAddress;
    /// let server: ServerAddress = "ws://[::1]:9001/mqtt".parse().unwrap();
    /// assert_eq!(server.url(), "ws://[::1]:9001/mqtt");
    /// ```
    pub fn url(&self) -> String {
        let port = crate::text::dec(self.port.into());
        let (open, close) = if self.host.contains(':') {
            ("[", "]")
        } else {
            ("", "")
        };
        crate::text::cat(&[
            self.transport.scheme(),
            "://",
            open,
            &self.host,
            close,
            ":",
            &port,
            &self.path,
        ])
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ServerAddress, ServerAddressError> {
        url.parse()
    }

    #[test]
    fn schemes_and_default_ports() {
        for (url, transport, port, path) in [
            ("mqtt://h", Transport::Tcp, 1883, ""),
            ("mqtt://h/", Transport::Tcp, 1883, ""),
            ("MQTTS://h", Transport::Tls, 8883, ""),
            ("tcp://h:1", Transport::Tcp, 1, ""),
            ("ws://h", Transport::WebSocket, 80, "/"),
            (
                "ws://h:9001/mqtt?x=1",
                Transport::WebSocket,
                9001,
                "/mqtt?x=1",
            ),
            ("ws://h?x=1", Transport::WebSocket, 80, "/?x=1"),
            ("wss://h", Transport::WebSocketTls, 443, "/"),
        ] {
            let s = parse(url).unwrap();
            assert_eq!(
                (s.transport, s.host.as_str(), s.port, s.path.as_str()),
                (transport, "h", port, path),
                "{url}"
            );
        }
    }

    #[test]
    fn ipv6() {
        let s = parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 1884));
        assert_eq!(s.to_string(), "mqtt://[::1]:1884");
        assert_eq!(parse("mqtt://[::1]").unwrap().port, 1883);
        assert!(matches!(
            parse("mqtt://[::1"),
            Err(ServerAddressError::InvalidHost(_))
        ));
        assert!(matches!(
            parse("mqtt://::1"),
            Err(ServerAddressError::InvalidHost(_))
        ));
    }

    #[test]
    fn control_characters_and_spaces_are_not_a_host() {
        for url in [
            "mqtt://h\0",
            "mqtt://a b:1883",
            "ws://h\t/x",
            "mqtt://h#x",
            "mqtt://h\u{7f}",
        ] {
            assert!(
                matches!(parse(url), Err(ServerAddressError::InvalidHost(_))),
                "{url:?}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for url in ["mqtt://a.b:1883", "wss://x:443/mqtt", "ws://[fe80::1]:80/"] {
            assert_eq!(parse(url).unwrap().to_string(), url);
            assert_eq!(
                parse(&parse(url).unwrap().to_string()).unwrap(),
                parse(url).unwrap()
            );
        }
    }

    #[test]
    fn server_references_resolve_against_the_current_server() {
        let ws = parse("ws://a:9001/mqtt").unwrap();
        let resolve =
            |from: &ServerAddress, r: &str| from.resolve_reference(r).map(|s| s.to_string());
        assert_eq!(resolve(&ws, "b").as_deref(), Some("ws://b:9001/mqtt"));
        assert_eq!(resolve(&ws, "b:80").as_deref(), Some("ws://b:80/mqtt"));
        assert_eq!(
            resolve(&ws, "[::1]:1").as_deref(),
            Some("ws://[::1]:1/mqtt")
        );
        assert_eq!(
            resolve(&ws, "  wss://c/x  ").as_deref(),
            Some("wss://c:443/x")
        );
        let tcp = parse("mqtt://a:1884").unwrap();
        assert_eq!(resolve(&tcp, "b").as_deref(), Some("mqtt://b:1884"));
        assert_eq!(resolve(&tcp, "http://x b:7").as_deref(), Some("mqtt://b:7"));
        for unusable in ["", "   ", "b:0", "b:x", "u:p@b", "b/path", "b\0"] {
            assert_eq!(resolve(&tcp, unusable), None, "{unusable:?}");
        }
        let tls = parse("mqtts://a").unwrap();
        assert_eq!(resolve(&tls, "mqtt://b ws://c"), None);
        assert_eq!(resolve(&tls, "wss://b").as_deref(), Some("wss://b:443/"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        use ServerAddressError::*;
        assert!(matches!(parse("localhost:1883"), Err(MissingScheme(_))));
        assert_eq!(parse("http://h"), Err(UnsupportedScheme("http".into())));
        assert_eq!(parse("mqtt://"), Err(MissingHost));
        assert_eq!(parse("mqtt://:1883"), Err(MissingHost));
        assert_eq!(parse("mqtt://h:0"), Err(InvalidPort("0".into())));
        assert_eq!(parse("mqtt://h:99999"), Err(InvalidPort("99999".into())));
        assert_eq!(parse("mqtt://h:x"), Err(InvalidPort("x".into())));
        assert!(matches!(parse("mqtt://h/path"), Err(UnexpectedPath { .. })));
        assert_eq!(parse("mqtt://u:secret@h"), Err(CredentialsInUrl));
        assert!(!CredentialsInUrl.to_string().contains("secret"));
    }
}
