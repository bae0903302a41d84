//! The baselines search is measured against, on the same trees and
//! questions (issue 18): BM25 over whole unit bodies (a plain full-text
//! index, with the keyword side's analyzer), and ripgrep over the
//! question's words (files ranked by matches, mapped to the units that hold
//! the matching lines).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use cortex::graph::{Language, parse_file};
use cortex::store::search::query_words;
use cortex::store::terms::term_parts;

/// A unit as the baselines see it.
pub struct Unit {
    pub id: String,
    pub file: String,
    pub start_line: u32,
    pub end_line: u32,
    /// Stem -> occurrences in the unit's whole text.
    terms: HashMap<String, u32>,
    len: u32,
}

/// Every unit of the code files under `dir` (what `cortex init` indexes:
/// the same walk, the same parser).
pub fn units(dir: &Path) -> Vec<Unit> {
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(dir).build().flatten() {
        let path = entry.path();
        let Some(language) = Language::of_path(path.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(path) else { continue };
        let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let parsed = parse_file(&rel, &bytes, language);
        for u in parsed.units.iter().skip(1) {
            let end = (u.end_byte as usize).min(bytes.len());
            let text = String::from_utf8_lossy(&bytes[u.start_byte as usize..end]);
            let mut terms: HashMap<String, u32> = HashMap::new();
            let mut len = 0;
            for (stem, _) in term_parts(&text) {
                *terms.entry(stem).or_default() += 1;
                len += 1;
            }
            out.push(Unit {
                id: u.id.clone(),
                file: rel.clone(),
                start_line: u.start_line,
                end_line: u.end_line,
                terms,
                len,
            });
        }
    }
    out
}

/// Units by BM25 (k1 1.2, b 0.75) of the question's words over their
/// whole text, best first.
pub fn bm25_bodies(units: &[Unit], question: &str, limit: usize) -> Vec<String> {
    let stems: Vec<String> = {
        let mut s: Vec<String> =
            term_parts(&query_words(question)).into_iter().map(|(stem, _)| stem).collect();
        s.sort();
        s.dedup();
        s
    };
    let n = units.len() as f64;
    let avg = units.iter().map(|u| u.len as f64).sum::<f64>() / n.max(1.0);
    let mut scored: Vec<(f64, &str)> = Vec::new();
    let df: Vec<f64> = stems
        .iter()
        .map(|s| units.iter().filter(|u| u.terms.contains_key(s)).count() as f64)
        .collect();
    for u in units {
        let mut score = 0.0;
        for (s, df) in stems.iter().zip(&df) {
            let Some(&tf) = u.terms.get(s) else { continue };
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            let tf = tf as f64;
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * u.len as f64 / avg));
        }
        if score > 0.0 {
            scored.push((score, &u.id));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(limit).map(|(_, id)| id.to_owned()).collect()
}

/// ripgrep over the question's words (any of them, whole words, case
/// ignored): files by their number of matching lines, and in each file
/// its innermost units holding matches, by their number of matching lines.
pub fn ripgrep(dir: &Path, units: &[Unit], question: &str, limit: usize) -> Vec<String> {
    let words = query_words(question);
    let mut cmd = Command::new("rg");
    cmd.args(["--no-heading", "--line-number", "--ignore-case", "--word-regexp", "--no-messages"]);
    for w in words.split_whitespace() {
        cmd.arg("-e").arg(w);
    }
    cmd.arg("--glob").arg("!.cortex").arg(".").current_dir(dir);
    let out = cmd.output().expect("ripgrep runs");
    let mut lines: HashMap<String, Vec<u32>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(file), Some(n)) = (parts.next(), parts.next()) else { continue };
        let Ok(n) = n.parse() else { continue };
        lines.entry(file.trim_start_matches("./").to_owned()).or_default().push(n);
    }
    let mut files: Vec<(&String, &Vec<u32>)> = lines.iter().collect();
    files.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    let mut ranked = Vec::new();
    for (file, hits) in files {
        let in_file: Vec<&Unit> = units.iter().filter(|u| &u.file == file).collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &n in hits {
            // The innermost unit holding the line: the one that starts last.
            let inner = in_file
                .iter()
                .filter(|u| u.start_line <= n && n <= u.end_line)
                .max_by_key(|u| u.start_line);
            if let Some(u) = inner {
                *counts.entry(&u.id).or_default() += 1;
            }
        }
        let mut in_order: Vec<(&str, usize)> = counts.into_iter().collect();
        in_order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.extend(in_order.into_iter().map(|(id, _)| id.to_owned()));
        if ranked.len() >= limit {
            break;
        }
    }
    ranked.truncate(limit);
    ranked
}
