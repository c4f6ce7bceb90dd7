//! Secrets both sides mint or compare: bytes from the operating system's
//! generator, tokens made of them, and a comparison that leaks no timing.
//! Used by the hub (peer tokens, tickets, session ids) and by its clients
//! (private file names); it knows nothing of either.
//!
//! Invariant: every secret comparison goes through [`same_secret`], which
//! takes the same time whatever the inputs share.

/// `n` bytes from the operating system's generator (`getrandom` on Linux,
/// `getentropy` on macOS, `ProcessPrng` on Windows, through the
/// `getrandom` crate that `tungstenite` already links).
///
/// A failure means the machine is unusable for secrets: the hub refuses to
/// mint a token it cannot trust rather than fall back to something weak.
pub fn os_random(n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(buf)
}

/// A fresh peer token: 32 random bytes, hex-encoded.
pub fn new_token() -> std::io::Result<String> {
    Ok(hex(&os_random(32)?))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_characters_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
