//! The agents' operating protocol: a short core every agent reads at
//! `setup` (and `/protocol`), and named sections it fetches when it needs
//! them (`/protocol?section=NAME`, the `protocol_section` tool), so a
//! session pays only for what it uses.

/// The revision of the text; bump it whenever the core or a section changes.
pub const VERSION: i64 = 2;
/// The core, served at `/protocol`.
pub const TEXT: &str = include_str!("protocol/core.md");
/// The sections, by name, in the order `/protocol` lists them.
pub const SECTIONS: &[(&str, &str)] = &[
    ("channels", include_str!("protocol/channels.md")),
    ("floor", include_str!("protocol/floor.md")),
    ("operator", include_str!("protocol/operator.md")),
];

/// caucus-mcp 5.x's names for the same matter, which its bridge names in
/// its tool descriptions: each is answered with ours (the core, where we
/// keep listening and formatting).
pub const ALIASES: &[(&str, &str)] = &[
    ("talking-stick", "floor"),
    ("operator-forms", "operator"),
    ("listening-fallbacks", "core"),
    ("formatting", "core"),
];

/// The names of the sections, as the core lists them.
pub fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|(name, _)| *name).collect()
}

/// Every name a section can be asked by: ours, then 5.x's aliases (what
/// an unknown name's refusal lists).
pub fn accepted_names() -> Vec<&'static str> {
    SECTIONS
        .iter()
        .map(|(name, _)| *name)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .collect()
}

/// A section's text, by name or alias.
pub fn section(name: &str) -> Option<&'static str> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, ours)| *ours);
    if name == "core" {
        return Some(TEXT);
    }
    SECTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_names_every_section() {
        for (name, _) in SECTIONS {
            assert!(TEXT.contains(&format!("`{name}`")), "{name}");
        }
        assert!(section("floor").unwrap().contains("raise_hand"));
        assert!(section("nope").is_none());
        assert_eq!(section("talking-stick"), section("floor"));
        assert_eq!(section("operator-forms"), section("operator"));
        assert_eq!(section("formatting"), Some(TEXT));
    }
}
