//! Small pieces of HTTP the endpoints share: a hub error as an answer, and
//! the values of a query string.

use super::error::HubError;
use super::http::Response;

/// A hub error as an HTTP answer.
pub fn error_response(e: &HubError) -> Response {
    Response::new(e.status(), e.body().to_string().into_bytes())
        .with_header("Content-Type", "application/json")
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode(s: &str) -> Result<String, HubError> {
    unescape(s, true)
}

/// Decodes a path segment (`/agents/NAME`): percent-escapes only, a `+`
/// is itself.
pub fn path_segment(s: &str) -> Result<String, HubError> {
    unescape(s, false)
}

fn unescape(s: &str, plus_is_space: bool) -> Result<String, HubError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let pair = bytes
                    .get(i + 1..i + 3)
                    .and_then(|p| Some(hex_value(p[0])? << 4 | hex_value(p[1])?));
                match pair {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => return Err(HubError::invalid("query: bad percent-escape")),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| HubError::invalid("query: not UTF-8"))
}

/// The first value of `key` in a query string.
pub fn query_param(query: &str, key: &str) -> Result<Option<String>, HubError> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k)? == key {
            return decode(v).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let q = "peer=a%20b&timeout=1.5&x=%E2%9C%93+y";
        assert_eq!(query_param(q, "peer").unwrap().as_deref(), Some("a b"));
        assert_eq!(query_param(q, "timeout").unwrap().as_deref(), Some("1.5"));
        assert_eq!(query_param(q, "x").unwrap().as_deref(), Some("✓ y"));
        assert_eq!(query_param(q, "missing").unwrap(), None);
        assert!(query_param("peer=%zz", "peer").is_err());
        assert!(query_param("peer=%ff", "peer").is_err());
    }
}
