//! Three-way merge of lines, as `git merge-file` does it: the changes each
//! side made to the base are taken where they do not meet; where they
//! overlap or touch, identical changes are taken once and different ones
//! are a conflict. Each side's changes are found as git finds them (Myers,
//! then each hunk slid as far down as it goes, git's compaction without the
//! indent heuristic): where a hunk sits decides whether two sides touch.

use std::ops::Range;

use imara_diff::{Algorithm, Diff, InternedInput};

use super::Merge;

/// A piece of a merge: lines both sides agree on, or the three versions of
/// lines they do not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Clean(Vec<&'a str>),
    /// The three versions, and the index of the base's first line of them
    /// (where in the base they meet).
    Conflict(Merge<Vec<&'a str>>, usize),
}

/// Lines with their line ends, so that joining them gives the text back.
pub fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// One side's change: base lines `base` became that side's lines `side`.
#[derive(Clone, Debug)]
struct Hunk {
    base: Range<usize>,
    side: Range<usize>,
    ours: bool,
}

fn hunks(base: &str, side: &str, ours: bool) -> Vec<Hunk> {
    let input = InternedInput::new(base, side);
    let mut diff = Diff::compute(Algorithm::Myers, &input);
    diff.postprocess_no_heuristic(&input);
    diff.hunks()
        .map(|h| Hunk {
            base: h.before.start as usize..h.before.end as usize,
            side: h.after.start as usize..h.after.end as usize,
            ours,
        })
        .collect()
}

/// Merges `ours` and `theirs`, both changed from `base`.
pub fn merge<'a>(base: &'a str, ours: &'a str, theirs: &'a str) -> Vec<Chunk<'a>> {
    let (b, o, t) = (lines(base), lines(ours), lines(theirs));
    let mut all: Vec<Hunk> = hunks(base, ours, true);
    all.extend(hunks(base, theirs, false));
    all.sort_by_key(|h| (h.base.start, h.base.end));
    let mut out: Vec<Chunk<'a>> = Vec::new();
    let mut clean: Vec<&'a str> = Vec::new();
    let mut at = 0; // base lines before this are done
    let mut i = 0;
    while i < all.len() {
        // A group: hunks whose base ranges overlap or touch.
        let start = all[i].base.start;
        let mut end = all[i].base.end;
        let mut j = i + 1;
        while j < all.len() && all[j].base.start <= end {
            end = end.max(all[j].base.end);
            j += 1;
        }
        let group = &all[i..j];
        clean.extend(&b[at..start]);
        // A side's version of base[start..end]: its hunks applied.
        let side_text = |is_ours: bool, lines: &[&'a str]| -> Vec<&'a str> {
            let mine: Vec<&Hunk> = group.iter().filter(|h| h.ours == is_ours).collect();
            let mut text = Vec::new();
            let mut pos = start;
            for h in mine {
                text.extend(&b[pos..h.base.start]);
                text.extend(&lines[h.side.clone()]);
                pos = h.base.end;
            }
            text.extend(&b[pos..end]);
            text
        };
        let sides = Merge {
            base: b[start..end].to_vec(),
            ours: side_text(true, &o),
            theirs: side_text(false, &t),
        };
        match sides.resolve_trivial() {
            Some(lines) => clean.extend(lines),
            None => {
                if !clean.is_empty() {
                    out.push(Chunk::Clean(std::mem::take(&mut clean)));
                }
                out.push(Chunk::Conflict(sides, start));
            }
        }
        at = end;
        i = j;
    }
    clean.extend(&b[at..]);
    if !clean.is_empty() {
        out.push(Chunk::Clean(clean));
    }
    out
}

/// The merged text if there was no conflict.
pub fn clean_text(chunks: &[Chunk]) -> Option<String> {
    let mut out = String::new();
    for c in chunks {
        match c {
            Chunk::Clean(lines) => out.extend(lines.iter().copied()),
            Chunk::Conflict(..) => return None,
        }
    }
    Some(out)
}

/// The merged text with git-style conflict markers around each conflict.
pub fn with_markers(chunks: &[Chunk], ours: &str, theirs: &str) -> String {
    let mut out = String::new();
    let push_lines = |out: &mut String, lines: &[&str]| {
        for l in lines {
            out.push_str(l);
            if !l.ends_with('\n') {
                out.push('\n');
            }
        }
    };
    for c in chunks {
        match c {
            Chunk::Clean(lines) => out.extend(lines.iter().copied()),
            Chunk::Conflict(sides, _) => {
                out.push_str(&format!("<<<<<<< {ours}\n"));
                push_lines(&mut out, &sides.ours);
                out.push_str("=======\n");
                push_lines(&mut out, &sides.theirs);
                out.push_str(&format!(">>>>>>> {theirs}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(base: &str, ours: &str, theirs: &str) -> Option<String> {
        clean_text(&merge(base, ours, theirs))
    }

    #[test]
    fn separate_changes_merge_and_touching_ones_conflict() {
        let base = "a\nb\nc\nd\ne\n";
        assert_eq!(m(base, "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n").unwrap(), "A\nb\nc\nd\nE\n");
        // Adjacent lines changed on both sides: a conflict, as in git.
        assert_eq!(m(base, "A\nb\nc\nd\ne\n", "a\nB\nc\nd\ne\n"), None);
        // The same change on both sides is taken once.
        assert_eq!(m(base, "a\nX\nc\nd\ne\n", "a\nX\nc\nd\ne\n").unwrap(), "a\nX\nc\nd\ne\n");
        // One side only.
        assert_eq!(m(base, base, "a\nc\n").unwrap(), "a\nc\n");
        // No final newline is kept as it is.
        assert_eq!(m("x\ny", "x\ny", "X\ny").unwrap(), "X\ny");
    }

    #[test]
    fn conflicts_carry_all_three_versions() {
        let chunks = merge("a\nb\nc\n", "a\nO\nc\n", "a\nT\nc\n");
        assert_eq!(
            chunks,
            vec![
                Chunk::Clean(vec!["a\n"]),
                Chunk::Conflict(
                    Merge { base: vec!["b\n"], ours: vec!["O\n"], theirs: vec!["T\n"] },
                    1
                ),
                Chunk::Clean(vec!["c\n"]),
            ]
        );
        let marked = with_markers(&chunks, "main", "session");
        assert_eq!(marked, "a\n<<<<<<< main\nO\n=======\nT\n>>>>>>> session\nc\n");
    }
}
