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

/// The names of the sections.
pub fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|(name, _)| *name).collect()
}

/// A section's text, by name.
pub fn section(name: &str) -> Option<&'static str> {
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
        for name in section_names() {
            assert!(TEXT.contains(&format!("`{name}`")), "{name}");
        }
        assert!(section("floor").unwrap().contains("raise_hand"));
        assert!(section("nope").is_none());
    }
}
