//! One connection, from its first byte to its close: read a head, read its
//! body, call the handler, write the answer, and again while the client
//! keeps the connection alive.
//!
//! Every read has a deadline: a head must be whole within the read
//! deadline of the connection going idle, and a body within the read
//! deadline of its head. The socket's read timeout is set to what is left
//! before each read, so a client that trickles a byte at a time gains
//! nothing.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::head::{self, Framing, Head, Refusal};
use super::{BodyError, Method, Outcome, Request, Response, Server, WRITE_DEADLINE, write_all_by};

/// After an answer that closes the connection early (a refused head, a
/// body not read), unread bytes the client sent are taken for at most
/// this long and this much, so the answer is not lost to a reset.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;

/// The socket and the bytes read from it but not used yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a read for more bytes ended.
enum Fill {
    /// Some bytes came.
    More,
    /// The client closed its side.
    Closed,
    /// The deadline passed.
    Late,
}

impl Conn {
    /// Reads more bytes into `buf`, waiting no later than `deadline`.
    fn fill(&mut self, deadline: Instant) -> Fill {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Fill::Late;
        }
        if self.stream.set_read_timeout(Some(left)).is_err() {
            return Fill::Closed;
        }
        let mut chunk = [0u8; 8192];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => Fill::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Fill::More
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    Fill::Late
                }
                Err(_) => Fill::Closed,
            };
        }
    }

    /// Reads until `buf` holds at least `n` bytes.
    fn fill_to(&mut self, n: usize, deadline: Instant) -> Result<(), BodyError> {
        while self.buf.len() < n {
            match self.fill(deadline) {
                Fill::More => {}
                Fill::Closed | Fill::Late => return Err(BodyError::Incomplete),
            }
        }
        Ok(())
    }
}

/// What waiting for a head came to.
enum Next {
    Head(Head),
    /// The client closed, or sent nothing (or half a head) in time: the
    /// connection ends without an answer.
    End {
        late: bool,
    },
    Refused(Refusal),
}

fn read_head(conn: &mut Conn, deadline: Instant) -> Next {
    let mut scanned = 0;
    loop {
        // Parse again only once a line ends: a trickled head costs one
        // scan per line, not one per byte.
        if conn.buf[scanned..].contains(&b'\n') || conn.buf.len() > head::MAX_HEAD {
            match head::parse(&conn.buf) {
                Ok(Some((h, len))) => {
                    conn.buf.drain(..len);
                    return Next::Head(h);
                }
                Ok(None) => {}
                Err(r) => return Next::Refused(r),
            }
        }
        scanned = conn.buf.len();
        match conn.fill(deadline) {
            Fill::More => {}
            Fill::Closed => return Next::End { late: false },
            Fill::Late => return Next::End { late: true },
        }
    }
}

/// Reads the body `framing` announces, leaving what follows it in `buf`.
fn read_body(
    conn: &mut Conn,
    framing: &Framing,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    match *framing {
        Framing::None => Ok(Vec::new()),
        Framing::Length(n) if n > max as u64 => Err(BodyError::TooLarge),
        Framing::Length(n) => {
            let n = n as usize;
            conn.fill_to(n, deadline)?;
            Ok(conn.buf.drain(..n).collect())
        }
        Framing::Chunked => read_chunked(conn, max, deadline),
    }
}

fn read_chunked(conn: &mut Conn, max: usize, deadline: Instant) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let (size, line) = loop {
            match head::chunk_size(&conn.buf) {
                Ok(Some(found)) => break found,
                Ok(None) => conn.fill_to(conn.buf.len() + 1, deadline)?,
                // A chunk header nobody can read: the rest of the stream
                // is not a request either.
                Err(_) => return Err(BodyError::Incomplete),
            }
        };
        conn.buf.drain(..line);
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > max as u64 {
            return Err(BodyError::TooLarge);
        }
        let size = size as usize;
        conn.fill_to(size + 2, deadline)?;
        body.extend_from_slice(&conn.buf[..size]);
        if &conn.buf[size..size + 2] != b"\r\n" {
            return Err(BodyError::Incomplete);
        }
        conn.buf.drain(..size + 2);
    }
    // Trailer lines, up to the empty line that ends the body.
    loop {
        let end = loop {
            if let Some(i) = conn.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if conn.buf.len() > 8192 {
                return Err(BodyError::Incomplete);
            }
            conn.fill_to(conn.buf.len() + 1, deadline)?;
        };
        conn.buf.drain(..end + 2);
        if end == 0 {
            return Ok(body);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        423 => "Locked",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// Writes `r` whole, within the write deadline. `keep_alive` false adds `Connection: close`; `head`
/// (a HEAD request) leaves the body out but keeps its length.
pub(super) fn write_response(
    stream: &mut TcpStream,
    r: &Response,
    keep_alive: bool,
    head: bool,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (name, value) in &r.headers {
        // Values are ours, but a line break in one would split the answer.
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            log::error!("not sending a {name} header with a line break");
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if r.status >= 200 {
        out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    if !keep_alive && r.status != 101 {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let deadline = Instant::now() + WRITE_DEADLINE;
    write_all_by(stream, out.as_bytes(), deadline)?;
    if !head && r.status >= 200 {
        write_all_by(stream, &r.body, deadline)?;
    }
    stream.flush()
}

/// Closes after an early answer: the write side first, then whatever the
/// client still sends is read and dropped, briefly and boundedly, so the
/// close does not reset the connection before the answer is read.
pub(super) fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut taken = 0;
    let mut chunk = [0u8; 8192];
    while taken < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => taken += n,
        }
    }
}

fn refusal_response(r: &Refusal) -> Response {
    let body = serde_json::json!({"detail": r.detail()}).to_string();
    Response::new(r.status(), body.into_bytes()).with_header("Content-Type", "application/json")
}

/// Serves connection `id` until it closes.
pub(super) fn serve(server: &Server, id: u64, stream: TcpStream) {
    let remote = stream.peer_addr().ok();
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    // Idle since it was accepted (the registry says when); after each
    // answer, idle again from then.
    loop {
        let deadline = Instant::now() + server.limits.read_deadline;
        let head = match read_head(&mut conn, deadline) {
            Next::Head(h) => h,
            Next::End { late } => {
                if late {
                    log::debug!("closed a connection that sent no whole request in time");
                }
                return;
            }
            Next::Refused(r) => {
                log::debug!("refused a request head: {}", r.detail());
                let _ = write_response(&mut conn.stream, &refusal_response(&r), false, false);
                return linger_close(conn.stream);
            }
        };
        // Still evictable while its body comes in (as while its head did):
        // at the connection cap, bodies that trickle make way for
        // newcomers instead of holding every slot.
        let checked = head
            .framing()
            .and_then(|f| head.expects_continue().map(|c| (f, c)));
        let (framing, expects_continue) = match checked {
            Ok(found) => found,
            Err(r) => {
                let _ = write_response(&mut conn.stream, &refusal_response(&r), false, false);
                return linger_close(conn.stream);
            }
        };
        let max_body = server.limits.max_body;
        let too_large = matches!(framing, Framing::Length(n) if n > max_body as u64);
        if expects_continue && framing != Framing::None && !too_large {
            let _ = conn.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body_deadline = Instant::now() + server.limits.read_deadline;
        let body = read_body(&mut conn, &framing, max_body, body_deadline);
        server.set_idle(id, false);
        let keep_alive = head.keep_alive() && body.is_ok();
        let is_head = head.method == Method::Head;
        let request = Request {
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
            remote,
        };
        let reply = catch_unwind(AssertUnwindSafe(|| (server.handler)(request)));
        match reply {
            Ok(Outcome::Respond(r)) => {
                let written = write_response(&mut conn.stream, &r, keep_alive, is_head);
                // Written (or failed): what the answer kept alive goes now,
                // not after a linger.
                drop(r);
                if written.is_err() {
                    return;
                }
                if !keep_alive {
                    return linger_close(conn.stream);
                }
                server.set_idle(id, true);
            }
            Ok(Outcome::Upgrade(r, takeover)) => {
                let mut r = r;
                r.status = 101;
                if write_response(&mut conn.stream, &r, false, false).is_ok() {
                    let _ = conn.stream.set_read_timeout(None);
                    takeover(conn.stream, conn.buf);
                }
                return;
            }
            Err(_) => {
                log::error!("a request handler panicked; answered 500");
                let body = br#"{"detail": "internal error"}"#.to_vec();
                let _ = write_response(
                    &mut conn.stream,
                    &Response::new(500, body).with_header("Content-Type", "application/json"),
                    false,
                    is_head,
                );
                return linger_close(conn.stream);
            }
        }
    }
}
