//! The console's files, embedded in the binary and served from `/assets/`.

const JS: &str = "text/javascript; charset=utf-8";

/// Name, media type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../ui/favicon.svg"),
    ),
    ("app.js", JS, include_str!("../../ui/app.js")),
    ("hub.js", JS, include_str!("../../ui/hub.js")),
    ("state.js", JS, include_str!("../../ui/state.js")),
    ("health.js", JS, include_str!("../../ui/health.js")),
    ("flow.js", JS, include_str!("../../ui/flow.js")),
    ("markdown.js", JS, include_str!("../../ui/markdown.js")),
    ("composer.js", JS, include_str!("../../ui/composer.js")),
    ("glance.js", JS, include_str!("../../ui/glance.js")),
    ("channels.js", JS, include_str!("../../ui/channels.js")),
    ("forms.js", JS, include_str!("../../ui/forms.js")),
    ("chair.js", JS, include_str!("../../ui/chair.js")),
];

/// The media type and content of the asset `name`, if there is one.
pub fn find(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, media, text)| (*media, *text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_module_the_page_imports_is_served() {
        for (_, _, text) in super::ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let file = line.split("'./").nth(1).and_then(|r| r.split('\'').next());
                let file = file.expect("a relative import");
                assert!(super::find(file).is_some(), "{file} is not served");
            }
        }
    }
}
