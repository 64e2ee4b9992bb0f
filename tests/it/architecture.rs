//! ARCHITECTURE.md's layer table is the code's: every top-level module of `src/` is listed
//! once, and every `crate::` import goes to a module of the same layer or a lower one. Inside
//! a folder, no two files import each other in a circle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Module name -> layer, from the table's rows (`| 5 | `engine` | ... |`).
fn layers() -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut layers = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Ok(layer), Some(name)) = (
            cells[1].parse::<u32>(),
            cells[2].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
        ) else {
            continue;
        };
        assert!(
            layers.insert(name.to_owned(), layer).is_none(),
            "{name} is listed twice"
        );
    }
    layers
}

/// The top-level modules of `src/` (the binary and `lib.rs` aside), each with its files.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "bin" {
            continue;
        }
        let mut files = Vec::new();
        collect(&path, &mut files);
        modules.entry(name).or_insert_with(Vec::new).extend(files);
    }
    modules
}

/// Every `.rs` file under `path`, into `files`.
pub(crate) fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            collect(&entry.unwrap().path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_owned());
    }
}

/// The top-level modules a file names after `crate::`, alone or in a `crate::{a, b::c}` list.
fn imports(text: &str) -> Vec<String> {
    imports_after(text, "crate::")
}

/// The names a file gives after `prefix`, alone or in a `prefix{a, b::c}` list.
fn imports_after(text: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            names.push(first_segment(&item));
        } else {
            names.push(first_segment(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_is_in_the_table_once() {
    let layers = layers();
    let modules = modules();
    let listed: Vec<&String> = layers.keys().collect();
    let present: Vec<&String> = modules.keys().collect();
    assert_eq!(listed, present, "ARCHITECTURE.md's table and src/ differ");
}

#[test]
fn imports_only_go_down() {
    let layers = layers();
    let mut upward = Vec::new();
    for (module, files) in modules() {
        let own = layers[&module];
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in imports(&text) {
                // `crate::Stutter` and other re-exports at the root are the facade's names.
                let Some(&layer) = layers.get(&name) else {
                    continue;
                };
                if layer > own {
                    upward.push(format!(
                        "{} ({module}, layer {own}) imports {name} (layer {layer})",
                        file.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports going up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn a_list_of_imports_is_read_as_its_modules() {
    assert_eq!(
        imports("use crate::{engine::{a, b}, report::X};\nlet x = crate::oracle::f();"),
        ["engine", "report", "oracle"]
    );
}

/// For each folder of `src/` with a `mod.rs`: its files (`mod.rs` aside), each with the
/// sibling files it imports (`super::x` or `crate::folder::x`), its unit tests left out.
fn sibling_imports() -> BTreeMap<PathBuf, BTreeMap<String, Vec<String>>> {
    let mut folders = BTreeMap::new();
    let mut files = Vec::new();
    collect(&root().join("src"), &mut files);
    for file in files {
        let folder = file.parent().unwrap().to_owned();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "mod" || !folder.join("mod.rs").is_file() {
            continue;
        }
        let path = folder.strip_prefix(root().join("src")).unwrap();
        let module = path.to_string_lossy().replace('/', "::");
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut named = imports_after(code, "super::");
        named.extend(imports_after(code, &format!("crate::{module}::")));
        named.sort();
        named.dedup();
        named.retain(|n| *n != name);
        folders
            .entry(folder)
            .or_insert_with(BTreeMap::new)
            .insert(name, named);
    }
    // Only the names that are sibling files.
    for siblings in folders.values_mut() {
        let present: Vec<String> = siblings.keys().cloned().collect();
        for named in siblings.values_mut() {
            named.retain(|n| present.contains(n));
        }
    }
    folders
}

/// A circle in `graph`, if it has one: the files along it.
fn circle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_files_of_a_folder_import_each_other_in_a_circle() {
    let mut circles = Vec::new();
    for (folder, graph) in sibling_imports() {
        if let Some(found) = circle(&graph) {
            let folder = folder.strip_prefix(root()).unwrap().display().to_string();
            circles.push(format!("{folder}: {}", found.join(" -> ")));
        }
    }
    assert!(circles.is_empty(), "circles:\n{}", circles.join("\n"));
}

#[test]
fn a_circle_is_found_and_a_chain_is_not() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .push((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    };
    assert_eq!(circle(&graph(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        circle(&graph(&[("a", "b"), ("b", "c"), ("c", "b")])),
        Some(vec!["b".to_owned(), "c".to_owned(), "b".to_owned()])
    );
    assert_eq!(
        imports_after("use super::{pacing::Ends, socket};", "super::"),
        ["pacing", "socket"]
    );
}
