//! The rules for names a human reads: peer names and channel names.
//!
//! A name must mean one thing to the operator who reads it in the console
//! and to the model that reads it in a message. So it may not hold
//! characters that do not show (zero-width and other format characters,
//! bidirectional overrides, variation selectors, tags), whitespace other
//! than the plain space, or control characters; and a peer may not take a
//! name that *looks like* a reserved one (`human`, `hub`, `system`, `all`)
//! or like a name already on record once confusable letters are folded
//! (Cyrillic `а` for Latin `a`, fullwidth and mathematical letters, `1`
//! for `l`...). Ordinary non-ASCII names (`équipe`, `データ`) stay valid.
//!
//! The fold is a small table of the letters that can spell the reserved
//! names and common Latin words, not Unicode's whole confusables list: it
//! is there to stop a name passing for another, not to transliterate.

use crate::hub::error::HubError;
use crate::shared::wire::{MAX_NAME_CHARS, is_channel};

/// Names no agent may take: the operator's, the hub's, and the broadcast address.
const RESERVED: [&str; 4] = ["human", "hub", "system", "all"];

/// Whether `c` shows nothing, or shows as something else, in a name:
/// controls, whitespace other than U+0020, and the format, joiner,
/// direction, filler, variation-selector and tag characters.
fn is_hidden(c: char) -> bool {
    if c == ' ' {
        return false;
    }
    if c.is_control() || c.is_whitespace() {
        return true;
    }
    matches!(
        c as u32,
        0x00AD              // soft hyphen
        | 0x034F            // combining grapheme joiner
        | 0x061C            // Arabic letter mark
        | 0x115F..=0x1160   // Hangul fillers
        | 0x17B4..=0x17B5   // Khmer inherent vowels
        | 0x180B..=0x180F   // Mongolian variation selectors and vowel separator
        | 0x200B..=0x200F   // zero-width space, joiners, LRM, RLM
        | 0x2028..=0x202E   // separators, embeddings and overrides
        | 0x2060..=0x206F   // word joiner, invisible operators, isolates
        | 0x3164            // Hangul filler
        | 0xFE00..=0xFE0F   // variation selectors
        | 0xFEFF            // zero-width no-break space
        | 0xFFA0            // halfwidth Hangul filler
        | 0xFFF9..=0xFFFB   // interlinear annotations
        | 0x1D173..=0x1D17A // musical formatting
        | 0xE0000..=0xE007F // tags
        | 0xE0100..=0xE01EF // variation selectors supplement
    )
}

/// The letter a confusable character passes for, if it is one.
fn fold_char(c: char) -> Option<char> {
    let u = c as u32;
    // Fullwidth ASCII.
    if (0xFF01..=0xFF5E).contains(&u) {
        return char::from_u32(u - 0xFEE0).map(|a| a.to_ascii_lowercase());
    }
    // Mathematical alphanumerics: runs of A-Z a-z in many styles.
    if (0x1D400..=0x1D6A3).contains(&u) {
        let i = ((u - 0x1D400) % 52) as u8;
        return Some(char::from(b'a' + i % 26));
    }
    let folded = match c {
        // Latin look-alikes: digit one passes for l, zero for o.
        '1' | '|' | 'ǀ' | 'ɩ' | 'ʟ' => 'l',
        '0' => 'o',
        '5' => 's',
        'ı' => 'i',
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴇ' => 'e',
        'ʜ' => 'h',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴛ' => 't',
        'ᴜ' | 'ʋ' => 'u',
        'ʏ' => 'y',
        'ꜱ' => 's',
        // Precomposed accented Latin letters read as their base letter.
        'à'..='å' | 'À'..='Å' | 'ā' | 'Ā' => 'a',
        'ç' | 'Ç' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'Ē' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' | 'ī' | 'Ī' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò'..='ö' | 'ø' | 'Ò'..='Ö' | 'Ø' | 'ō' | 'Ō' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ū' | 'Ū' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        // Cyrillic.
        'а' | 'А' => 'a',
        'в' | 'В' | 'Ь' | 'ь' => 'b',
        'с' | 'С' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ё' | 'Ё' => 'e',
        'һ' | 'Һ' | 'н' | 'Н' => 'h',
        'і' | 'І' | 'ї' | 'Ї' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' => 'k',
        'ӏ' | 'Ӏ' => 'l',
        'м' | 'М' => 'm',
        'п' | 'П' => 'n',
        'о' | 'О' => 'o',
        'р' | 'Р' => 'p',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' => 't',
        'у' | 'У' | 'Ү' | 'ү' => 'y',
        'х' | 'Х' => 'x',
        // Armenian.
        'ո' => 'n',
        'հ' => 'h',
        'ս' => 'u',
        'օ' => 'o',
        // Greek.
        'α' | 'Α' => 'a',
        'Β' | 'β' => 'b',
        'Ε' | 'ε' => 'e',
        'Η' => 'h',
        'ι' | 'Ι' => 'i',
        'κ' | 'Κ' => 'k',
        'Μ' => 'm',
        'Ν' | 'η' => 'n',
        'ο' | 'Ο' | 'σ' => 'o',
        'ρ' | 'Ρ' => 'p',
        'τ' | 'Τ' => 't',
        'υ' | 'μ' => 'u',
        'ν' => 'v',
        'Υ' | 'γ' => 'y',
        'Χ' | 'χ' => 'x',
        'Ζ' => 'z',
        _ => return None,
    };
    Some(folded)
}

/// What `name` looks like to a reader: confusable letters folded to the
/// Latin letter they pass for, case folded, combining accents and hidden
/// characters dropped, surrounding spaces trimmed.
pub fn skeleton(name: &str) -> String {
    // Among lower-case letters a capital I passes for an l ("aIl"); in a
    // name all in capitals it reads as the I it is ("ALI").
    let mixed = name.chars().any(char::is_lowercase);
    name.trim()
        .chars()
        .filter(|&c| !is_hidden(c) && !(0x0300..=0x036F).contains(&(c as u32)))
        .flat_map(|c| match (c, fold_char(c)) {
            ('I', _) if mixed => vec!['l'],
            (_, Some(f)) => vec![f],
            _ => c.to_lowercase().collect(),
        })
        .collect()
}

/// Checks a peer name: 1..64 characters, nothing hidden, no surrounding
/// spaces or leading `#`, and nothing that reads as a reserved name.
pub fn check_name(name: &str) -> Result<(), HubError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(HubError::invalid(format!(
            "project: must be 1..{MAX_NAME_CHARS} characters"
        )));
    }
    if RESERVED.contains(&skeleton(name).as_str()) {
        return Err(HubError::invalid(format!(
            "project: {name:?} is, or looks like, a name reserved for the hub"
        )));
    }
    if name.chars().any(is_hidden) {
        return Err(HubError::invalid(
            "project: no invisible, formatting, direction-changing or non-breaking \
             space characters",
        ));
    }
    if name.trim() != name || name.starts_with('#') {
        return Err(HubError::invalid(
            "project: no leading '#' or surrounding spaces",
        ));
    }
    if let Some(c) = name.chars().find(|&c| !name_char(c)) {
        return Err(HubError::invalid(format!(
            "project: {c:?} is not allowed in a name: letters, digits, spaces and - _ . + @ ' \
             only, so that no name reads as a line's header (\"human -> bob:\", \"[caucus]\")"
        )));
    }
    let folded = skeleton(name);
    if let Some(word) = RESERVED.iter().find(|w| {
        folded
            .strip_prefix(**w)
            .and_then(|rest| rest.chars().next())
            // `hub-leaver`, `human_2` read as one word (and caucus-mcp 5.x's
            // own clients use such names); `human x`, `hub 'ops'` do not.
            .is_some_and(|c| !c.is_alphanumeric() && !matches!(c, '-' | '_' | '.'))
    }) {
        return Err(HubError::invalid(format!(
            "project: {name:?} begins as the reserved name {word:?}: a reader could take \
             the rest for part of a header; choose another name"
        )));
    }
    Ok(())
}

/// What a name may be made of: letters and digits of any script (with
/// their marks), spaces, and `- _ . + @ '`. Nothing that a line format
/// uses as syntax (`->`, `:`, brackets, `|`).
fn name_char(c: char) -> bool {
    c.is_alphanumeric()
        || (0x0300..=0x036F).contains(&(c as u32))
        || matches!(c, ' ' | '-' | '_' | '.' | '+' | '@' | '\'')
}

/// Checks a channel name: `#` then 1..63 characters, no spaces or
/// characters that do not show.
pub fn check_channel(field: &str, channel: &str) -> Result<(), HubError> {
    let n = channel.chars().count();
    if !is_channel(channel) || n > MAX_NAME_CHARS {
        return Err(HubError::invalid(format!(
            "{field}: a channel is '#' followed by 1..{} characters",
            MAX_NAME_CHARS - 1
        )));
    }
    if channel.chars().any(|c| c == ' ' || is_hidden(c)) {
        return Err(HubError::invalid(format!(
            "{field}: a channel name has no spaces or invisible characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "alpha",
            "équipe-2",
            "データ",
            "my agent",
            "Zoë",
            "agent_7",
            "ops.bot",
        ] {
            assert!(check_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn reserved_names_and_their_lookalikes_are_refused() {
        for name in [
            "human",
            " HUB ",
            "System",
            "all",
            "hum\u{0430}n",
            "\u{041D}ub",
            "HUB",
            "hüb",
            "ａｌｌ",
            "aII",
            "a11",
            "\u{1D421}\u{1D42E}\u{1D41B}",
            "ѕуѕtеm",
            "\u{0570}uman",
        ] {
            assert!(check_name(name).is_err(), "{name:?} passed");
        }
    }

    #[test]
    fn names_cannot_read_as_a_lines_header() {
        for name in [
            "human -> codexbot (interrupt)",
            "human:",
            "[caucus] msg human",
            "bob: hi",
            "a -> b",
            "x|y",
            "hub ops",
            "human x",
            "all+bob",
            "<b>",
        ] {
            assert!(check_name(name).is_err(), "{name:?} passed");
        }
        for name in [
            "humanist",
            "hubert",
            "allison",
            "o'neil",
            "a+b@x",
            "hub-leaver",
            "human_2",
        ] {
            assert!(check_name(name).is_ok(), "{name:?} refused");
        }
    }

    #[test]
    fn hidden_characters_are_refused_in_names_and_channels() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2066}',
            '\u{00A0}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{3000}',
            '\u{E0041}',
            '\u{FE0F}',
            '\t',
            '\u{7}',
        ] {
            let name = format!("al{c}ice");
            assert!(check_name(&name).is_err(), "{:?}", name);
            let channel = format!("#op{c}s");
            assert!(check_channel("channel", &channel).is_err(), "{:?}", channel);
        }
        assert!(check_channel("channel", "#ops").is_ok());
        assert!(check_channel("channel", "#équipe").is_ok());
    }

    #[test]
    fn skeletons_match_across_scripts() {
        assert_eq!(skeleton("\u{0430}lice"), skeleton("alice"));
        assert_eq!(skeleton("ALICE"), skeleton("alice"));
        assert_eq!(skeleton("bob\u{200B}"), skeleton("bob"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_eq!(skeleton("ALI"), "ali", "capitals read as they are");
        assert_eq!(skeleton("aIl"), "all");
    }
}
