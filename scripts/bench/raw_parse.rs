//! The limit indexing is measured against: tree-sitter parsing alone, on
//! every core, of the Rust and JavaScript files below a directory. Used by
//! scripts/bench-index.sh.
//!
//! Usage: cargo run --example raw_parse -- DIR
//! Prints one JSON line: files, lines, bytes, seconds (raw parse), and the
//! same for cortex's own parse (queries, units, references) for comparison.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cortex::graph::{Language, MAX_PARSE_BYTES, parse_file};

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Language)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() && entry.file_name() != ".cortex" && entry.file_name() != ".git" {
            walk(&path, out);
        } else if kind.is_file()
            && let Some(language) = Language::of_path(path.as_os_str().as_encoded_bytes())
        {
            out.push((path, language));
        }
    }
}

/// Runs `f` over the files on every core, each thread taking the next file
/// as it is free; returns the seconds taken.
fn timed(files: &[(PathBuf, Language, Vec<u8>)], f: impl Fn(&Path, Language, &[u8]) + Sync) -> f64 {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (f, next) = (&f, &next);
            scope.spawn(move || {
                while let Some((path, language, bytes)) =
                    files.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    f(path, *language, bytes);
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: raw_parse DIR");
    let mut found = Vec::new();
    walk(Path::new(&dir), &mut found);
    // The same files cortex parses: text, not huge.
    let files: Vec<(PathBuf, Language, Vec<u8>)> = found
        .into_iter()
        .filter_map(|(p, l)| {
            let bytes = std::fs::read(&p).ok()?;
            let text = bytes.len() <= MAX_PARSE_BYTES && std::str::from_utf8(&bytes).is_ok();
            text.then_some((p, l, bytes))
        })
        .collect();
    let lines: usize =
        files.iter().map(|(_, _, b)| b.iter().filter(|&&c| c == b'\n').count()).sum();
    let bytes: usize = files.iter().map(|(_, _, b)| b.len()).sum();
    let raw = timed(&files, |_, language, bytes| {
        thread_local! {
            static PARSERS: std::cell::RefCell<Vec<(Language, tree_sitter::Parser)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        PARSERS.with(|parsers| {
            let mut parsers = parsers.borrow_mut();
            if !parsers.iter().any(|(l, _)| *l == language) {
                let mut p = tree_sitter::Parser::new();
                p.set_language(&language.grammar()).unwrap();
                parsers.push((language, p));
            }
            let parser = &mut parsers.iter_mut().find(|(l, _)| *l == language).unwrap().1;
            std::hint::black_box(parser.parse(bytes, None));
        });
    });
    let ours = timed(&files, |path, language, bytes| {
        std::hint::black_box(parse_file(&path.to_string_lossy(), bytes, language));
    });
    println!(
        "{{\"files\": {}, \"lines\": {lines}, \"bytes\": {bytes}, \"raw_seconds\": {raw:.3}, \"parse_seconds\": {ours:.3}}}",
        files.len()
    );
}
