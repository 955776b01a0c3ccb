//! `cargo xtask circles`: no import circles between the modules of a crate.
//!
//! Every library crate of the workspace is read file by file. A file is a
//! module (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`); it depends on
//! every other file-module it names through `crate::`, `super::` or
//! `self::` paths, in `use` declarations or inline. A name a module
//! imports (`use x::Name`, re-exported or not) is followed to the module
//! that defines it, so re-exports and a parent's imports seen by its
//! children create no edge of their own. Two modules that reach each other, directly or through
//! others, form a circle: the check prints each circle and fails.
//!
//! Inline `mod name { ... }` blocks (test modules) belong to their file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose modules are checked (the published libraries).
const CRATES: [&str; 10] = [
    "dm-types",
    "dm-codec",
    "dm-ddf",
    "dm-tree",
    "dm-session",
    "dm-client",
    "dm-server",
    "dm-files",
    "dm-cli",
    "dm-store-postgres",
];

/// Checks every crate of [`CRATES`] that exists under `root`.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let mut report = Vec::new();
    let mut modules = 0usize;
    for name in CRATES {
        let src = root.join(name).join("src");
        if !src.is_dir() {
            continue;
        }
        let files = read_crate(&src)?;
        modules += files.len();
        for circle in circles(&files) {
            report.push(format!("{name}: {}", circle.join(" -> ")));
        }
    }
    if report.is_empty() {
        println!(
            "circles: {modules} modules in {} crates, no import circle",
            CRATES.len()
        );
        Ok(())
    } else {
        Err(format!(
            "{} import circle(s) between modules:\n  {}",
            report.len(),
            report.join("\n  ")
        ))
    }
}

/// A module path: segments below the crate root (empty for the root).
type ModulePath = Vec<String>;

/// Reads every `.rs` file below `src` as `(module path, text)`.
fn read_crate(src: &Path) -> Result<BTreeMap<ModulePath, String>, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if let Some(module) = module_of(src, &path) {
                    out.insert(module, text);
                }
            }
        }
    }
    Ok(out)
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`; `src/lib.rs` and
/// `src/main.rs` are the root. Binaries under `src/bin` are not modules.
fn module_of(src: &Path, file: &Path) -> Option<ModulePath> {
    let relative: PathBuf = file.strip_prefix(src).ok()?.with_extension("");
    let mut segments: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segments.first().is_some_and(|s| s == "bin") {
        return None;
    }
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    if segments.len() == 1 && (segments[0] == "lib" || segments[0] == "main") {
        segments.clear();
    }
    Some(segments)
}

/// Removes comments and the contents of string and character literals, so
/// that only code is scanned.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(text.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(text.len(), |n| i + n + 2);
            i = end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let open = 2 + hashes;
            let end = rest[open..]
                .find(&close)
                .map_or(text.len(), |n| i + open + n + close.len());
            out.push_str("\"\"");
            i = end;
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = (j + 1).min(bytes.len());
        } else if bytes[i] == b'\'' && is_char_literal(rest) {
            let end = rest[1..].find('\'').map_or(text.len(), |n| i + n + 2);
            out.push_str("' '");
            i = end;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`...: the number of `#`.
fn raw_string_start(rest: &str) -> Option<usize> {
    let after = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'))?;
    let hashes = after.bytes().take_while(|&b| b == b'#').count();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// A character literal (`'a'`, `'\n'`, `'\''`) rather than a lifetime.
fn is_char_literal(rest: &str) -> bool {
    let b = rest.as_bytes();
    match b.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            let c = rest[1..].chars().next().map_or(1, char::len_utf8);
            b.get(1 + c) == Some(&b'\'')
        }
        None => false,
    }
}

/// Expands one `use` tree (`crate::a::{b, c::{D, E}}`) into full paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn split_top(text: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        parts
    }
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = tree[open + 1..].trim_end().trim_end_matches('}');
            let mut base = prefix.to_vec();
            base.extend(head);
            for part in split_top(inner) {
                walk(&base, part, out);
            }
        } else {
            let plain = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.to_vec();
            path.extend(
                plain
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// What one file says: the paths it names, and the names it re-exports.
#[derive(Default)]
struct Scan {
    /// Every `crate::` / `super::` / `self::` path (use trees expanded).
    paths: Vec<Vec<String>>,
    /// Names a `use` brings into the module (re-exported or not: child
    /// modules see both) -> the path it names.
    exports: Vec<(String, Vec<String>)>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Removes inline `mod name { ... }` blocks (test modules): their `super::`
/// is the file's own module, and what they use is not the file's
/// dependency.
fn without_inline_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_word(rest, "mod") {
        let after = &rest[at + 3..];
        let name_len = after
            .trim_start()
            .chars()
            .take_while(|&c| is_ident(c))
            .map(char::len_utf8)
            .sum::<usize>();
        let skipped = after.len() - after.trim_start().len();
        let tail = after[skipped + name_len..].trim_start();
        if name_len > 0 && tail.starts_with('{') {
            out.push_str(&rest[..at]);
            let mut depth = 0usize;
            let mut end = tail.len();
            for (i, c) in tail.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &tail[end..];
        } else {
            out.push_str(&rest[..at + 3]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn scan(text: &str) -> Scan {
    let code = without_inline_modules(&code_only(text));
    let mut result = Scan::default();
    // `use` declarations, re-exports included; the code without them is
    // scanned for inline paths below.
    let mut inline = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(at) = find_word(rest, "use") {
        inline.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        let children = declared_children(&code);
        for mut path in expand_use(tree) {
            if path.first().is_some_and(|first| children.contains(first)) {
                path.insert(0, "self".to_owned());
            }
            // Private imports count too: a child module sees them.
            if let Some(last) = path.last() {
                let name = tree_alias(tree, last);
                result.exports.push((name, path.clone()));
            }
            result.paths.push(path);
        }
        rest = &after[end..];
    }
    inline.push_str(rest);
    let code = inline;
    // Relative paths through a child module declared here (`mod x;` then
    // `x::item`) name that child: written as `self::x::item`.
    for child in declared_children(&code) {
        let needle = format!("{child}::");
        let mut from = 0;
        while let Some(found) = code[from..].find(&needle) {
            let at = from + found;
            from = at + needle.len();
            let before = code[..at].trim_end();
            if before.ends_with("::") || code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            result.paths.push(vec!["self".to_owned(), child.clone()]);
        }
    }
    // Inline paths: `crate::a::b(...)`, `super::X`.
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(start) {
            let at = from + found;
            from = at + start.len();
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let text: String = code[at..]
                .chars()
                .take_while(|&c| is_ident(c) || c == ':')
                .collect();
            let path: Vec<String> = text
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            result.paths.push(path);
        }
    }
    result
}

/// The modules a file declares with `mod name;` (not inline blocks).
fn declared_children(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = find_word(&code[from..], "mod") {
        let at = from + found + 3;
        from = at;
        let name: String = code[at..]
            .trim_start()
            .chars()
            .take_while(|&c| is_ident(c))
            .collect();
        let after = code[at..].trim_start()[name.len()..].trim_start();
        if !name.is_empty() && after.starts_with(';') {
            out.push(name);
        }
    }
    out
}

/// The name a `use` brings in for a path ending in `last` (its alias when
/// `last as alias` appears in the tree).
fn tree_alias(tree: &str, last: &str) -> String {
    let needle = format!("{last} as ");
    tree.find(&needle).map_or_else(
        || last.to_owned(),
        |at| {
            tree[at + needle.len()..]
                .chars()
                .take_while(|&c| is_ident(c))
                .collect()
        },
    )
}

/// The position of `word` as a whole word in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Makes `path` (as written in module `current`) absolute; `None` for
/// paths that leave the crate (external crates, `std`).
fn absolute(current: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = current.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            out.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                out.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    out.extend(rest.iter().cloned());
    Some(out)
}

/// The file-module a path names: the longest module prefix, following
/// re-exported names to the module that defines them.
fn target(
    path: &[String],
    modules: &BTreeSet<ModulePath>,
    exports: &BTreeMap<ModulePath, Vec<(String, Vec<String>)>>,
    depth: usize,
) -> Option<ModulePath> {
    let mut best = 0;
    for n in 0..=path.len() {
        if modules.contains(&path[..n].to_vec()) {
            best = n;
        }
    }
    let module = path[..best].to_vec();
    if depth < 8
        && let Some(name) = path.get(best)
        && let Some(list) = exports.get(&module)
        && let Some((_, via)) = list.iter().find(|(exported, _)| exported == name)
        && let Some(full) = absolute(&module, via)
    {
        let mut followed = full;
        followed.extend(path[best + 1..].iter().cloned());
        if followed != path {
            return target(&followed, modules, exports, depth + 1);
        }
    }
    Some(module)
}

/// The circles (strongly connected groups of two or more modules), each as
/// file names in a cycle order.
fn circles(files: &BTreeMap<ModulePath, String>) -> Vec<Vec<String>> {
    let modules: BTreeSet<ModulePath> = files.keys().cloned().collect();
    let scans: BTreeMap<&ModulePath, Scan> = files.iter().map(|(m, t)| (m, scan(t))).collect();
    let exports: BTreeMap<ModulePath, Vec<(String, Vec<String>)>> = scans
        .iter()
        .map(|(m, s)| ((*m).clone(), s.exports.clone()))
        .collect();
    let mut edges: BTreeMap<ModulePath, BTreeSet<ModulePath>> = BTreeMap::new();
    for (module, scan) in &scans {
        let entry = edges.entry((*module).clone()).or_default();
        for path in &scan.paths {
            let Some(full) = absolute(module, path) else {
                continue;
            };
            if let Some(to) = target(&full, &modules, &exports, 0)
                && to != **module
                && !to.is_empty()
            {
                entry.insert(to);
            }
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|group| group.len() > 1)
        .map(|group| {
            let mut names: Vec<String> = group.iter().map(|m| display(m)).collect();
            names.push(names[0].clone());
            names
        })
        .collect()
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

/// Strongly connected components (Tarjan), each sorted.
fn strongly_connected(edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<ModulePath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        index: BTreeMap<&'a ModulePath, usize>,
        low: BTreeMap<&'a ModulePath, usize>,
        stack: Vec<&'a ModulePath>,
        on_stack: BTreeSet<&'a ModulePath>,
        groups: Vec<Vec<ModulePath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a ModulePath) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            if let Some(next) = self.edges.get(node) {
                for to in next {
                    let Some((key, _)) = self.edges.get_key_value(to) else {
                        continue;
                    };
                    if !self.index.contains_key(key) {
                        self.visit(key);
                        let low = self.low[key].min(self.low[node]);
                        self.low.insert(node, low);
                    } else if self.on_stack.contains(key) {
                        let low = self.index[key].min(self.low[node]);
                        self.low.insert(node, low);
                    }
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    group.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                group.sort();
                self.groups.push(group);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> BTreeMap<ModulePath, String> {
        files
            .iter()
            .map(|(path, text)| {
                let module =
                    module_of(Path::new("src"), &Path::new("src").join(path)).expect("a module");
                (module, (*text).to_owned())
            })
            .collect()
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            expand_use(" crate::a::{b, c::{D, E as F}, self}"),
            vec![
                vec!["crate", "a", "b"],
                vec!["crate", "a", "c", "D"],
                vec!["crate", "a", "c", "E"],
                vec!["crate", "a", "self"],
            ]
        );
    }

    #[test]
    fn a_two_file_circle_is_found_and_named() {
        let files = crate_of(&[
            ("lib.rs", "mod a; mod b; pub use a::A;"),
            ("a.rs", "use crate::b::B; pub struct A(B);"),
            ("b.rs", "pub struct B; fn f() { let _ = crate::a::A(B); }"),
        ]);
        assert_eq!(circles(&files), vec![vec!["a", "b", "a"]]);
    }

    #[test]
    fn a_circle_through_a_parent_and_its_child_is_found() {
        let files = crate_of(&[
            ("lib.rs", "mod http;"),
            (
                "http/mod.rs",
                "mod session; fn route() { session::handle(); }",
            ),
            ("http/session.rs", "use super::refuse; pub fn handle() {}"),
        ]);
        // The parent routes to its child, which uses the parent's helper.
        assert_eq!(circles(&files), vec![vec!["http", "http::session", "http"]]);
        // With the helper moved down into a module of its own, no circle.
        let files = crate_of(&[
            ("lib.rs", "mod http;"),
            (
                "http/mod.rs",
                "mod refusal; mod session; fn route() { session::handle(); }",
            ),
            ("http/refusal.rs", "pub fn refuse() {}"),
            (
                "http/session.rs",
                "use super::refusal::refuse; pub fn handle() {}",
            ),
        ]);
        assert!(circles(&files).is_empty());
    }

    #[test]
    fn re_exports_of_the_root_create_no_edge() {
        let files = crate_of(&[
            (
                "lib.rs",
                "mod error; mod tree; pub use error::Error; pub use tree::Tree;",
            ),
            ("error.rs", "pub enum Error {}"),
            ("tree.rs", "use crate::Error; pub struct Tree;"),
        ]);
        assert!(circles(&files).is_empty());
    }

    #[test]
    fn inline_test_modules_are_not_dependencies() {
        let files = crate_of(&[
            ("lib.rs", "mod json;"),
            ("json/mod.rs", "mod path; use self::path::Path;"),
            (
                "json/path.rs",
                "pub struct Path; #[cfg(test)] mod tests { use super::*; fn t() { let _ = crate::json::x; } }",
            ),
        ]);
        assert!(circles(&files).is_empty());
    }

    #[test]
    fn comments_and_strings_are_not_code() {
        let files = crate_of(&[
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "use crate::b::B; pub struct A;"),
            (
                "b.rs",
                "// crate::a::A\n/* crate::a::A */ pub struct B; const S: &str = \"crate::a::A\"; const R: &str = r#\"crate::a::A\"#;",
            ),
        ]);
        assert!(circles(&files).is_empty());
    }
}
