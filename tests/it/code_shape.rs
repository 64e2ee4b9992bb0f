//! ARCHITECTURE.md's rules on the code's shape, checked: no function in `src/` runs over 80
//! lines unless its body is one `match` (a table), and the `Stutter` builder keeps to 30
//! public methods (the old names, deprecated and hidden for one release, aside).

use std::path::Path;

use crate::architecture::collect;

/// The longest a function may be, its signature and closing brace counted.
const MOST_LINES: usize = 80;

/// The most public methods `Stutter` may have.
const MOST_METHODS: usize = 30;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Each line of Rust source with its comments, strings and character literals blanked out,
/// so that only the code's own braces are left to count.
fn code_of(text: &str) -> Vec<String> {
    let mut in_string = false;
    text.lines()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let mut out = String::new();
            let mut i = 0;
            while i < chars.len() {
                let c = chars[i];
                if in_string {
                    match c {
                        '\\' => i += 1,
                        '"' => in_string = false,
                        _ => {}
                    }
                } else if c == '/' && chars.get(i + 1) == Some(&'/') {
                    break;
                } else if c == '"' {
                    in_string = true;
                } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
                    i += 2;
                } else if c == '\'' && chars.get(i + 1) == Some(&'\\') {
                    // '\n', '\'', '\u{..}': up to the closing quote.
                    let close = chars[i + 2..].iter().position(|&c| c == '\'');
                    i += close.map_or(1, |at| at + 2);
                } else {
                    out.push(c);
                }
                i += 1;
            }
            out
        })
        .collect()
}

/// The functions in `code` (as [`code_of`] gives it) longer than `most` lines, each with its
/// first line's number and its name, unless its body is one `match`.
fn long_functions(code: &[String], most: usize) -> Vec<(usize, String, usize)> {
    let mut found = Vec::new();
    for (start, line) in code.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let (mut depth, mut opened) = (0i32, false);
        for (at, line) in code.iter().enumerate().skip(start) {
            if !opened && line.contains(';') && !line.contains('{') {
                break; // a declaration without a body
            }
            for c in line.chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                let lines = at - start + 1;
                let body = code.get(start + 1..at).unwrap_or_default();
                let one_match = body.first().is_some_and(|l| l.trim().starts_with("match "))
                    && body.last().is_some_and(|l| l.trim() == "}");
                if lines > most && !one_match {
                    found.push((start + 1, name, lines));
                }
                break;
            }
        }
    }
    found
}

/// The name a line declares as a function (`fn`, with any of `pub`, `async`, `const`).
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "pub" | "async" | "const" | "unsafe" => {}
            w if w.starts_with("pub(") => {}
            "fn" => {
                let name: String = words
                    .next()?
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return Some(name);
            }
            _ => return None,
        }
    }
    None
}

#[test]
fn no_function_in_src_is_over_80_lines_unless_it_is_one_match() {
    let mut files = Vec::new();
    collect(&root().join("src"), &mut files);
    let mut long = Vec::new();
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (line, name, lines) in long_functions(&code, MOST_LINES) {
            let file = file.strip_prefix(root()).unwrap().display();
            long.push(format!("{file}:{line} {name}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "split these along their jobs:\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_function_is_found_and_a_long_match_is_not() {
    let body = |n: usize| {
        (0..n)
            .map(|i| format!("    let x{i} = \"}}\";"))
            .collect::<Vec<_>>()
    };
    let mut long = vec!["pub(crate) async fn long() {".to_owned()];
    long.extend(body(80));
    long.push("}".to_owned());
    let mut table = vec![
        "fn table(k: u8) -> u8 {".to_owned(),
        "    match k {".to_owned(),
    ];
    table.extend((0..90).map(|i| format!("        {i} => '{{' as u8,")));
    table.extend([
        "        _ => 0,".to_owned(),
        "    }".to_owned(),
        "}".to_owned(),
    ]);
    let text = [long, table].concat().join("\n");
    let found = long_functions(&code_of(&text), MOST_LINES);
    assert_eq!(found, vec![(1, "long".to_owned(), 82)]);
}

#[test]
fn stutter_keeps_to_30_public_methods() {
    let mut methods = Vec::new();
    for file in ["src/stutter/mod.rs", "src/stutter/entry.rs"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let mut in_stutter = false;
        for line in text.lines() {
            if line.starts_with("impl ") {
                in_stutter = line.starts_with("impl Stutter {");
            }
            let trimmed = line.trim_start();
            if in_stutter
                && (trimmed.starts_with("pub fn ") || trimmed.starts_with("pub async fn "))
            {
                methods.push(fn_name(trimmed).unwrap());
            }
        }
    }
    assert!(
        methods.len() <= MOST_METHODS && methods.len() >= 20,
        "{} public methods on Stutter: {methods:?}",
        methods.len()
    );
}
