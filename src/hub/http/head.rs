//! A request's head: parsed from bytes, and the framing rules that say
//! where its body ends.
//!
//! Pure functions of a byte buffer, so the fuzz target drives them and a
//! test states every rule. The rules are the ones that keep a request from
//! being read two ways (request smuggling): a head with both
//! `Content-Length` and `Transfer-Encoding`, two `Content-Length`s, a
//! `Content-Length` that is not a plain number, or a transfer coding other
//! than `chunked` is refused, and the connection is closed, since nobody
//! can say where the next request would start.

use super::Method;

/// The longest head the hub reads (request line and headers).
pub const MAX_HEAD: usize = 32 * 1024;
/// The most header lines a head may have.
pub const MAX_HEADERS: usize = 64;

/// A parsed head.
#[derive(Debug, PartialEq)]
pub struct Head {
    pub method: Method,
    /// The request target as sent: path and query.
    pub target: String,
    /// `HTTP/1.0` rather than 1.1.
    pub http10: bool,
    pub headers: Vec<(String, String)>,
}

/// How the body that follows a head is framed.
#[derive(Debug, PartialEq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a head is refused. Each ends the connection.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// 400: not HTTP, or ambiguous about its body.
    Bad(&'static str),
    /// 431: the head is larger than [`MAX_HEAD`] or has too many headers.
    TooLarge,
    /// 417: an `Expect` other than `100-continue`.
    Expectation,
    /// 505: a version other than 1.0 and 1.1.
    Version,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Bad(_) => 400,
            Refusal::TooLarge => 431,
            Refusal::Expectation => 417,
            Refusal::Version => 505,
        }
    }

    pub fn detail(&self) -> &'static str {
        match self {
            Refusal::Bad(why) => why,
            Refusal::TooLarge => "request head too large",
            Refusal::Expectation => "only Expect: 100-continue is supported",
            Refusal::Version => "only HTTP/1.0 and HTTP/1.1 are supported",
        }
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is
/// incomplete, else the head and its length in bytes.
pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(Refusal::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(httparse::Error::Version) => return Err(Refusal::Version),
        Err(_) => return Err(Refusal::Bad("malformed request head")),
    };
    if len > MAX_HEAD {
        return Err(Refusal::TooLarge);
    }
    let method = Method::from_token(req.method.unwrap_or_default());
    let target = req.path.unwrap_or_default().to_string();
    let mut list = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| Refusal::Bad("a header value is not UTF-8"))?;
        list.push((h.name.to_string(), value.trim().to_string()));
    }
    let head = Head {
        method,
        target,
        http10: req.version == Some(0),
        headers: list,
    };
    Ok(Some((head, len)))
}

impl Head {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Where the body ends, or why nobody can tell.
    pub fn framing(&self) -> Result<Framing, Refusal> {
        let lengths: Vec<&str> = self.all("Content-Length").collect();
        let codings: Vec<&str> = self.all("Transfer-Encoding").collect();
        if !codings.is_empty() && !lengths.is_empty() {
            return Err(Refusal::Bad(
                "both Content-Length and Transfer-Encoding: ambiguous body",
            ));
        }
        if lengths.len() > 1 {
            return Err(Refusal::Bad("more than one Content-Length"));
        }
        if let Some(len) = lengths.first() {
            if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 18 {
                return Err(Refusal::Bad("Content-Length is not a number"));
            }
            return len
                .parse()
                .map(Framing::Length)
                .map_err(|_| Refusal::Bad("Content-Length is not a number"));
        }
        match codings.as_slice() {
            [] => Ok(Framing::None),
            [one] if one.eq_ignore_ascii_case("chunked") && !self.http10 => Ok(Framing::Chunked),
            _ => Err(Refusal::Bad("only Transfer-Encoding: chunked is supported")),
        }
    }

    /// Whether the client asks for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> Result<bool, Refusal> {
        match self.header("Expect") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("100-continue") => Ok(true),
            Some(_) => Err(Refusal::Expectation),
        }
    }

    /// Whether the connection stays open after this request's answer.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("Connection").unwrap_or_default();
        let says = |word: &str| {
            connection
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(word))
        };
        if self.http10 {
            says("keep-alive")
        } else {
            !says("close")
        }
    }
}

/// One chunk-size line of a chunked body, `Ok(None)` while incomplete:
/// the chunk's size and the line's length.
pub fn chunk_size(buf: &[u8]) -> Result<Option<(u64, usize)>, Refusal> {
    match httparse::parse_chunk_size(buf) {
        Ok(httparse::Status::Complete((len, size))) => Ok(Some((size, len))),
        Ok(httparse::Status::Partial) if buf.len() > 1024 => Err(Refusal::Bad("bad chunk size")),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(Refusal::Bad("bad chunk size")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse(text.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn a_head_parses_once_complete() {
        let text = "POST /send?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(&text.as_bytes()[..20]), Ok(None));
        let (h, len) = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(len, text.len() - 2);
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.target, "/send?x=1");
        assert_eq!(h.header("host"), Some("h"));
        assert_eq!(h.framing(), Ok(Framing::Length(2)));
        assert!(h.keep_alive());
    }

    #[test]
    fn ambiguous_bodies_are_refused() {
        for text in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(head(text).framing().is_err(), "{text:?}");
        }
        let chunked = head("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.framing(), Ok(Framing::Chunked));
    }

    #[test]
    fn heads_past_the_limits_are_refused() {
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()), Err(Refusal::TooLarge));
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(text.as_bytes()), Err(Refusal::TooLarge));
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Err(Refusal::Version));
        assert!(matches!(
            parse(b"\x00\x01garbage\r\n\r\n"),
            Err(Refusal::Bad(_))
        ));
    }

    #[test]
    fn connection_and_expect_are_read() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        let h = head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(h.expects_continue(), Ok(true));
        let h = head("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n");
        assert_eq!(h.expects_continue(), Err(Refusal::Expectation));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a\r\n"), Ok(Some((26, 4))));
        assert_eq!(chunk_size(b"1a;ext=1\r\nrest"), Ok(Some((26, 10))));
        assert_eq!(chunk_size(b"1a"), Ok(None));
        assert!(chunk_size(b"zz\r\n").is_err());
    }
}
