//! `/export` renderers: the log as JSON, Markdown or plain text.
//!
//! Pure functions of a slice of messages; the handler copies the log out of
//! the room first, so rendering never holds the room's lock.

use serde_json::json;

use crate::shared::clock::display;
use crate::shared::lines;
use crate::shared::wire::{Kind, Message};

/// A rendered export: body, media type, download file name.
pub struct Export {
    pub body: String,
    pub media_type: &'static str,
    pub filename: &'static str,
}

/// Renders `messages` in `format`; unknown formats fall back to JSON.
pub fn render(messages: &[&Message], format: &str) -> Export {
    match format.trim().to_ascii_lowercase().as_str() {
        "markdown" | "md" => Export {
            body: markdown(messages),
            media_type: "text/markdown; charset=utf-8",
            filename: "caucus-chat.md",
        },
        "text" | "txt" | "plain" => Export {
            body: text(messages),
            media_type: "text/plain; charset=utf-8",
            filename: "caucus-chat.txt",
        },
        _ => Export {
            body: as_json(messages),
            media_type: "application/json",
            filename: "caucus-chat.json",
        },
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Message => "message",
        Kind::Control => "control",
        Kind::System => "system",
        Kind::Answer => "answer",
    }
}

fn as_json(messages: &[&Message]) -> String {
    let doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "count": messages.len(),
        "messages": messages,
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn markdown(messages: &[&Message]) -> String {
    let mut out = format!("# caucus transcript\n\n_{} message(s)_\n", messages.len());
    for m in messages {
        let tag = if m.kind == Kind::Message {
            String::new()
        } else {
            format!(" · _{}_", kind_name(m.kind))
        };
        out.push_str(&format!(
            "\n**{}** → {} · {}{tag}\n\n",
            markdown_text(&m.sender),
            markdown_text(&m.recipient),
            display(m.ts)
        ));
        // Every line of the content is quoted: the header above is the
        // only line of an entry a sender cannot write.
        // Raw HTML stays text wherever the file is rendered: `<` and `&`
        // become entities (Markdown keeps the rest of the author's markup).
        for line in lines::split(&m.content) {
            let line = line.replace('&', "&amp;").replace('<', "&lt;");
            out.push_str(&format!("> {line}\n"));
        }
    }
    out
}

/// `s` with Markdown's markup characters escaped, for a name in a header.
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in lines::one_line(s).chars() {
        if "\\`*_{}[]<>()#+-.!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn text(messages: &[&Message]) -> String {
    let mut out = String::new();
    for m in messages {
        let tag = if m.kind == Kind::Message {
            String::new()
        } else {
            format!(" ({})", kind_name(m.kind))
        };
        let head = format!(
            "[{}] {} -> {}{tag}: ",
            display(m.ts),
            lines::one_line(&m.sender),
            lines::one_line(&m.recipient),
        );
        out.push_str(&lines::with_content(&head, &m.content));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::wire::Origin;

    fn msg(kind: Kind, content: &str) -> Message {
        Message {
            id: "abcdefabcdef".into(),
            sender: "a".into(),
            recipient: "#ops".into(),
            content: content.into(),
            kind,
            ts: 0.0,
            seq: 1,
            origin: Origin::Agent,
            meta: None,
        }
    }

    #[test]
    fn formats_and_fallback() {
        let chat = msg(Kind::Message, "two\nlines");
        let note = msg(Kind::System, "a joined");
        let all = [&chat, &note];
        let t = render(&all, "TXT");
        assert_eq!(t.filename, "caucus-chat.txt");
        assert_eq!(
            t.body,
            "[1970-01-01 00:00:00 UTC] a -> #ops: two\n  | lines\n\
             [1970-01-01 00:00:00 UTC] a -> #ops (system): a joined\n"
        );
        let md = render(&all, "md");
        assert!(md.body.contains("> a joined"));
        assert!(md.body.contains("> two\n> lines\n"));
        let j = render(&all, "yaml");
        assert_eq!(j.filename, "caucus-chat.json");
        let doc: serde_json::Value = serde_json::from_str(&j.body).unwrap();
        assert_eq!(doc["count"], 2);
    }

    #[test]
    fn raw_html_in_a_message_stays_text_in_the_markdown_export() {
        let m = msg(
            Kind::Message,
            "<img src=x onerror=alert(1)> & <script>x</script>",
        );
        let md = render(&[&m], "md").body;
        assert!(!md.contains("<img") && !md.contains("<script"), "{md}");
        assert!(
            md.contains("> &lt;img src=x onerror=alert(1)> &amp; &lt;script>x&lt;/script>"),
            "{md}"
        );
    }
}
