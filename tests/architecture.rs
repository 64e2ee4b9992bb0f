//! ARCHITECTURE.md's layer table is the code's: every top-level module of `src/` is listed
//! once, and every `crate::` import goes to a module of the same layer or a lower one.

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

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
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
    let mut names = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
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
