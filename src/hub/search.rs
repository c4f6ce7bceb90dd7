//! `GET /search?q=`: messages by text, sender, recipient or channel, newest
//! first, from the history file (`--data-dir`) or the in-memory log.
//!
//! A query is words (all must appear, in the content, the sender or the
//! recipient; letter case ignored), `"quoted phrases"`, `from:NAME`,
//! `to:NAME` and `#channel` (the recipient, exactly).
//!
//! The history is read backwards in blocks, so the newest matches come
//! first and a search stops once it has `limit` of them. Within a block a
//! byte search finds the lines that may match (the longest ASCII word in a
//! lowercased copy of the block, else the `"sender":"NAME"` or
//! `"recipient":"NAME"` text the encoder writes), and only those are parsed
//! and checked in full, so a rare word among 100,000 messages costs a scan
//! of the bytes, not 100,000 parses.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use memchr::memmem;
use serde_json::Value;

use super::error::HubError;
use super::state::Hub;

/// Searches answered at once; past this, 409 until one is done.
const MAX_SEARCHES: usize = 4;

/// `GET /search`: operator or observer (as `/export`), `q` and `limit`.
/// The answer comes with its slot among the searches allowed at once, for
/// the caller to hold until the answer is written.
pub fn handle(
    hub: &Hub,
    bearer: Option<&str>,
    q: Option<&str>,
    limit: Option<&str>,
) -> Result<(Value, super::answers::Slot), HubError> {
    if hub.access.enabled() && hub.access.role_for(bearer).is_none() {
        return Err(HubError::Unauthorized("operator/observer token required"));
    }
    let query = Query::parse(q.unwrap_or_default())?;
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| HubError::invalid(format!("limit: 1..{MAX_LIMIT}")))?,
    };
    // Held until the answer is written, not only while it is built: a
    // client that never reads cannot stack searches past the cap.
    let slot = super::answers::Slot::take(&hub.searches, MAX_SEARCHES)
        .ok_or(HubError::Limit("too many searches at once: retry shortly"))?;
    // The log (the last 500, in memory) first: what the history writer
    // has not written yet is there. Then the history, past what the log
    // already gave.
    let log: Vec<Value> = hub
        .room()
        .log()
        .into_iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    let mut found = in_messages(&query, &log, limit);
    let mut source = "log";
    if let Some(dir) = &hub.history {
        source = "history";
        let in_log: std::collections::HashSet<&str> =
            log.iter().filter_map(|m| m["id"].as_str()).collect();
        let want = limit + found.messages.len();
        let older = in_files(&query, &super::history::files(dir), want).map_err(|e| {
            log::error!("search: cannot read the history: {e}");
            HubError::Limit("the history cannot be read now: see the hub's log")
        })?;
        found.checked += older.checked;
        let mut older: Vec<Value> = older
            .messages
            .into_iter()
            .filter(|m| !m["id"].as_str().is_some_and(|id| in_log.contains(id)))
            .collect();
        let room_left = limit - found.messages.len();
        found.more = older.len() > room_left || (older.len() == room_left && found.more);
        older.truncate(room_left);
        found.messages.extend(older);
    }
    Ok((
        serde_json::json!({"messages": found.messages, "more": found.more,
                          "checked": found.checked, "source": source}),
        slot,
    ))
}

/// The longest query, and the most words in one.
pub const MAX_QUERY_CHARS: usize = 256;
const MAX_TERMS: usize = 16;
/// Matches a search returns at most, and by default.
pub const MAX_LIMIT: usize = 500;
pub const DEFAULT_LIMIT: usize = 100;
/// How much of the history is read at a time.
const BLOCK: usize = 4 << 20;

/// A parsed query.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    /// Lowercased words and phrases, each in content, sender or recipient.
    terms: Vec<String>,
    from: Option<String>,
    to: Option<String>,
}

/// What a search found.
#[derive(Debug)]
pub struct Found {
    /// Newest first.
    pub messages: Vec<Value>,
    /// Stopped at `limit`: older matches may exist.
    pub more: bool,
    /// Lines parsed and checked in full.
    pub checked: usize,
}

impl Query {
    pub fn parse(q: &str) -> Result<Query, HubError> {
        let q = q.trim();
        if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
            return Err(HubError::invalid(format!(
                "q: must be 1..{MAX_QUERY_CHARS} characters"
            )));
        }
        let mut query = Query::default();
        let mut words = Vec::new();
        let mut rest = q;
        while !rest.is_empty() {
            rest = rest.trim_start();
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                words.push(quoted[..end].to_string());
                rest = quoted.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                words.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
        for w in words.into_iter().filter(|w| !w.is_empty()) {
            if let Some(name) = w.strip_prefix("from:").filter(|n| !n.is_empty()) {
                query.from = Some(name.to_string());
            } else if let Some(name) = w.strip_prefix("to:").filter(|n| !n.is_empty()) {
                query.to = Some(name.to_string());
            } else if w.starts_with('#') && w.len() > 1 && !w.contains(char::is_whitespace) {
                query.to = Some(w);
            } else {
                query.terms.push(w.to_lowercase());
            }
        }
        if query.terms.len() > MAX_TERMS {
            return Err(HubError::invalid(format!("q: at most {MAX_TERMS} words")));
        }
        if query == Query::default() {
            return Err(HubError::invalid("q: nothing to search for"));
        }
        Ok(query)
    }

    /// Whether a message (as the log and the history hold it) matches.
    pub fn matches(&self, m: &Value) -> bool {
        let field = |k: &str| m[k].as_str().unwrap_or_default();
        if self.from.as_deref().is_some_and(|f| f != field("sender")) {
            return false;
        }
        if self.to.as_deref().is_some_and(|t| t != field("recipient")) {
            return false;
        }
        if self.terms.is_empty() {
            return true;
        }
        let (content, sender, recipient) = (
            field("content").to_lowercase(),
            field("sender").to_lowercase(),
            field("recipient").to_lowercase(),
        );
        self.terms
            .iter()
            .all(|t| content.contains(t) || sender.contains(t) || recipient.contains(t))
    }

    /// The bytes every matching line must contain, and whether to look for
    /// them in a lowercased copy of the line; `None`: every line is a
    /// candidate. Only text the encoder writes as is can serve (no quote,
    /// backslash or control character, which JSON escapes), and for the
    /// lowercased copy only ASCII, whose case an ASCII fold gets right.
    fn anchor(&self) -> Option<(Vec<u8>, bool)> {
        let plain = |s: &str| !s.chars().any(|c| c == '"' || c == '\\' || c.is_control());
        if let Some(t) = self
            .terms
            .iter()
            .filter(|t| t.is_ascii() && plain(t))
            .max_by_key(|t| t.len())
        {
            return Some((t.as_bytes().to_vec(), true));
        }
        // A word in another script: its longest run of letters that have
        // no case (CJK, kana…) is written as is, so it anchors unfolded.
        if let Some(run) = self
            .terms
            .iter()
            .filter(|t| plain(t))
            .filter_map(|t| caseless_run(t))
            .max_by_key(String::len)
        {
            return Some((run.into_bytes(), false));
        }
        if let Some(f) = self.from.as_deref().filter(|f| plain(f)) {
            return Some((format!("\"sender\":\"{f}\"").into_bytes(), false));
        }
        if let Some(t) = self.to.as_deref().filter(|t| plain(t)) {
            return Some((format!("\"recipient\":\"{t}\"").into_bytes(), false));
        }
        None
    }
}

/// The longest run (of 2 characters or more, not ASCII) in `term` of
/// characters that have no case, which every spelling of the word holds
/// byte for byte.
fn caseless_run(term: &str) -> Option<String> {
    let caseless = |c: char| !c.is_ascii() && !c.is_lowercase() && !c.is_uppercase();
    term.split(|c: char| !caseless(c))
        .filter(|run| run.chars().count() >= 2)
        .max_by_key(|run| run.len())
        .map(str::to_string)
}

/// Searches messages already in memory (the log), newest first.
pub fn in_messages(query: &Query, log: &[Value], limit: usize) -> Found {
    let mut found = Found {
        messages: Vec::new(),
        more: false,
        checked: log.len(),
    };
    for m in log.iter().rev() {
        if query.matches(m) {
            if found.messages.len() == limit {
                found.more = true;
                break;
            }
            found.messages.push(m.clone());
        }
    }
    found
}

/// Searches history files (oldest first in `paths`; a missing one is
/// empty), newest match first.
pub fn in_files(query: &Query, paths: &[PathBuf], limit: usize) -> std::io::Result<Found> {
    let mut found = Found {
        messages: Vec::new(),
        more: false,
        checked: 0,
    };
    let mut finder = Finder::new(query);
    for path in paths.iter().rev() {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut end = file.metadata()?.len();
        // The head of a line that began before the block read last.
        let mut carry: Vec<u8> = Vec::new();
        let mut block = Vec::new();
        while end > 0 || !carry.is_empty() {
            let start = end.saturating_sub(BLOCK as u64);
            block.clear();
            block.resize((end - start) as usize, 0);
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut block)?;
            block.extend_from_slice(&carry);
            carry.clear();
            end = start;
            // Unless this is the file's start, the bytes before the first
            // newline belong to a line that began earlier.
            let first = if start > 0 {
                match memchr::memchr(b'\n', &block) {
                    Some(nl) => {
                        carry.extend_from_slice(&block[..nl]);
                        nl + 1
                    }
                    None => {
                        carry = std::mem::take(&mut block);
                        continue;
                    }
                }
            } else {
                0
            };
            if finder.scan(query, &block[first..], limit, &mut found) {
                return Ok(found);
            }
            if start == 0 {
                break;
            }
        }
    }
    Ok(found)
}

/// Searches whole lines of history held in memory, newest (last) first.
pub fn in_block(query: &Query, lines: &[u8], limit: usize) -> Found {
    let mut found = Found {
        messages: Vec::new(),
        more: false,
        checked: 0,
    };
    Finder::new(query).scan(query, lines, limit, &mut found);
    found
}

/// The byte search for a query's anchor, and the buffer for lowercasing.
struct Finder {
    rev: Option<memmem::FinderRev<'static>>,
    lower: bool,
    folded: Vec<u8>,
}

impl Finder {
    fn new(query: &Query) -> Finder {
        let anchor = query.anchor();
        Finder {
            lower: anchor.as_ref().is_some_and(|(_, l)| *l),
            rev: anchor.map(|(needle, _)| memmem::FinderRev::new(&needle).into_owned()),
            folded: Vec::new(),
        }
    }

    /// Checks the lines of one block from the last; true once `limit` is
    /// reached.
    fn scan(&mut self, query: &Query, lines: &[u8], limit: usize, found: &mut Found) -> bool {
        let hay: &[u8] = if self.lower {
            self.folded.clear();
            self.folded.extend_from_slice(lines);
            self.folded.make_ascii_lowercase();
            &self.folded
        } else {
            lines
        };
        scan(query, lines, hay, self.rev.as_ref(), limit, found)
    }
}

/// Checks the lines of one block from the last; true once `limit` is
/// reached.
fn scan(
    query: &Query,
    lines: &[u8],
    hay: &[u8],
    finder: Option<&memmem::FinderRev>,
    limit: usize,
    found: &mut Found,
) -> bool {
    let mut end = lines.len();
    while end > 0 {
        // The next candidate: the last line before `end` holding the
        // anchor, or simply the last line.
        let at = match finder {
            Some(f) => match f.rfind(&hay[..end]) {
                Some(at) => at,
                None => return false,
            },
            None => end - 1,
        };
        let line_start = memchr::memrchr(b'\n', &lines[..at]).map_or(0, |i| i + 1);
        let line_end = memchr::memchr(b'\n', &lines[at..end]).map_or(end, |i| at + i);
        let line = &lines[line_start..line_end];
        end = line_start.saturating_sub(1);
        if line.is_empty() {
            continue;
        }
        found.checked += 1;
        // A line cut short by a crash mid-write is not a message.
        let Ok(m) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if query.matches(&m) {
            if found.messages.len() == limit {
                found.more = true;
                return true;
            }
            found.messages.push(m);
        }
        if line_start == 0 {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(sender: &str, to: &str, content: &str) -> Value {
        json!({"id": "x", "sender": sender, "recipient": to, "content": content,
               "kind": "message", "ts": 1.0, "seq": 1, "origin": "agent"})
    }

    #[test]
    fn queries_parse_into_words_phrases_and_filters() {
        let q = Query::parse(r#"Schema "event v2" from:alice #api"#).unwrap();
        assert_eq!(q.terms, ["schema", "event v2"]);
        assert_eq!(q.from.as_deref(), Some("alice"));
        assert_eq!(q.to.as_deref(), Some("#api"));
        assert!(Query::parse("   ").is_err());
        assert!(Query::parse(&"x".repeat(300)).is_err());
        assert!(Query::parse("from:").is_ok(), "a bare from: is a word");
    }

    #[test]
    fn every_word_must_match_in_some_field_case_ignored() {
        let q = Query::parse("ÉQUIPE bob").unwrap();
        assert!(q.matches(&msg("alice", "bob", "the équipe meets")));
        assert!(!q.matches(&msg("alice", "carol", "the équipe meets")));
        let q = Query::parse("to:#api").unwrap();
        assert!(q.matches(&msg("a", "#api", "x")));
        assert!(!q.matches(&msg("a", "#apis", "x")));
    }

    #[test]
    fn files_are_searched_newest_first_across_blocks_and_rotation() {
        let dir = std::env::temp_dir().join(format!("caucus-search-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let [old, new] = crate::hub::history::files(&dir);
        let big = "y".repeat(3000);
        let mut text = String::new();
        for i in 0..3000 {
            let content = if i % 1000 == 7 {
                format!("needle {i}")
            } else {
                format!("{big} {i}")
            };
            text.push_str(&msg("alice", "all", &content).to_string());
            text.push('\n');
        }
        std::fs::write(&old, &text).unwrap();
        std::fs::write(
            &new,
            format!("{}\n{{\"cut", msg("bob", "#api", "NEEDLE last")),
        )
        .unwrap();
        let q = Query::parse("needle").unwrap();
        let found = in_files(&q, &[old.clone(), new.clone()], 10).unwrap();
        let said: Vec<&str> = found
            .messages
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            said,
            ["NEEDLE last", "needle 2007", "needle 1007", "needle 7"]
        );
        assert!(!found.more);
        assert!(
            found.checked < 10,
            "only candidates are parsed: {}",
            found.checked
        );
        let found = in_files(&q, &[old.clone(), new.clone()], 2).unwrap();
        assert_eq!(found.messages.len(), 2);
        assert!(found.more);
        // A phrase and a sender together.
        let q = Query::parse("\"needle 1007\" from:alice").unwrap();
        let found = in_files(&q, &[old, new], 10).unwrap();
        assert_eq!(found.messages.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_word_in_a_caseless_script_anchors_the_history_scan() {
        assert_eq!(caseless_run("データ"), Some("データ".to_string()));
        assert_eq!(caseless_run("équipe"), None);
        assert_eq!(caseless_run("a"), None);
    }
}
