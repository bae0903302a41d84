//! Replays real merges (one JSON object a line on stdin, the format of
//! `../shared/merge-cases/README.md`) through Cortex's merge and through
//! `git merge-file`, and judges both against what the person committed.
//! Used by scripts/bench-merge.sh.
//!
//! Usage: bench_merge OUT.jsonl < cases.jsonl
//! Writes one line per case to OUT.jsonl (project, merge, path, git's and
//! cortex's verdicts, cortex's conflicts, and cortex's text where it is
//! clean) and prints one JSON line per project and one for the total.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::Command;

use cortex::merge::code::{Merged, Settled};
use cortex::merge::{Rule, merge_file};
use serde_json::{Value, json};

/// How a tool's result compares with the person's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// Clean, and the bytes the person committed.
    Equal,
    /// Clean, other bytes.
    Different,
    Conflict,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Equal => "equal",
            Verdict::Different => "different",
            Verdict::Conflict => "conflict",
        }
    }
}

/// A tool's answer: clean text (`None` text: the file deleted) or a conflict.
type Answer = Option<Option<String>>;

fn judge(answer: &Answer, human: Option<&str>) -> Verdict {
    match answer {
        None => Verdict::Conflict,
        Some(text) if text.as_deref() == human => Verdict::Equal,
        Some(_) => Verdict::Different,
    }
}

/// Where a side is absent: the other side's deletion stands when the
/// remaining side left the file as it was, else it is a conflict (git's
/// modify/delete). Both tools share this.
fn absent_side(base: Option<&str>, ours: Option<&str>, theirs: Option<&str>) -> Option<Answer> {
    match (ours, theirs) {
        (Some(_), Some(_)) => None,
        (None, None) => Some(Some(None)),
        (Some(x), None) | (None, Some(x)) => Some(if Some(x) == base { Some(None) } else { None }),
    }
}

fn git_merge(dir: &std::path::Path, base: &str, ours: &str, theirs: &str) -> Answer {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("a temporary file is written");
        p
    };
    let (b, o, t) = (write("base", base), write("ours", ours), write("theirs", theirs));
    let out = Command::new("git")
        .arg("merge-file")
        .arg("-p")
        .args([&o, &b, &t])
        .output()
        .expect("git runs");
    match out.status.code() {
        Some(0) => {
            Some(Some(String::from_utf8(out.stdout).expect("git's merge of UTF-8 is UTF-8")))
        }
        Some(n) if n > 0 => None,
        _ => panic!("git merge-file failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Cortex's answer, the rule that merged it, and the conflicts' units.
fn cortex_merge(path: &str, base: &str, ours: &str, theirs: &str) -> (Answer, Rule, Vec<String>) {
    match merge_file(path, base, ours, theirs, &Settled::new()) {
        (Merged::Clean(text), rule) => (Some(Some(text)), rule, Vec::new()),
        (Merged::Conflicts { conflicts, .. }, rule) => {
            (None, rule, conflicts.into_iter().map(|c| c.unit).collect())
        }
    }
}

#[derive(Default)]
struct Tally {
    files: usize,
    git: BTreeMap<&'static str, usize>,
    cortex: BTreeMap<&'static str, usize>,
    wins: usize,
    regressions: usize,
    /// Cortex clean but not the person's bytes: git gave the same bytes,
    /// or not.
    different_as_git: usize,
    different_not_git: usize,
    /// Clean merges that took a rule beyond lines, by rule and verdict.
    rules: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, git: Verdict, cortex: Verdict, same_as_git: bool) {
        self.files += 1;
        *self.git.entry(git.name()).or_default() += 1;
        *self.cortex.entry(cortex.name()).or_default() += 1;
        if git == Verdict::Conflict && cortex == Verdict::Equal {
            self.wins += 1;
        }
        if git == Verdict::Equal && cortex != Verdict::Equal {
            self.regressions += 1;
        }
        if cortex == Verdict::Different {
            if same_as_git {
                self.different_as_git += 1;
            } else {
                self.different_not_git += 1;
            }
        }
    }

    fn json(&self, project: &str) -> Value {
        json!({
            "project": project,
            "files": self.files,
            "git": self.git,
            "cortex": self.cortex,
            "wins": self.wins,
            "regressions": self.regressions,
            "different_as_git": self.different_as_git,
            "different_not_git": self.different_not_git,
            "rules": self.rules,
        })
    }
}

fn main() {
    let out_path = std::env::args().nth(1).expect("usage: bench_merge OUT.jsonl < cases.jsonl");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(&out_path).expect("OUT is created"));
    let tmp = std::env::temp_dir().join(format!("cortex-bench-merge-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("a temporary directory");
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin reads");
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(&line).expect("a case is JSON");
        let field = |k: &str| case[k].as_str();
        let (base, ours, theirs, human) =
            (field("base"), field("ours"), field("theirs"), field("human"));
        let project = field("repo").unwrap_or("?").to_owned();
        let path = field("path").expect("a case has a path");
        let (git, cortex, rule, units) = match absent_side(base, ours, theirs) {
            Some(answer) => (answer.clone(), answer, None, Vec::new()),
            None => {
                let (o, t, b) = (ours.unwrap(), theirs.unwrap(), base.unwrap_or(""));
                let (cortex, rule, units) = cortex_merge(path, b, o, t);
                (git_merge(&tmp, b, o, t), cortex, Some(rule), units)
            }
        };
        let (gv, cv) = (judge(&git, human), judge(&cortex, human));
        let same_as_git = git.is_some() && git == cortex;
        // The rules beyond lines, by how their merges were judged.
        let beyond = rule.filter(|r| *r != Rule::Lines && cortex.is_some());
        for tally in [tallies.entry(project.clone()).or_default(), &mut total] {
            tally.add(gv, cv, same_as_git);
            if let Some(r) = beyond {
                *tally.rules.entry(format!("{r} {}", cv.name())).or_default() += 1;
            }
        }
        let record = json!({
            "repo": project,
            "merge": field("merge"),
            "path": path,
            "git": gv.name(),
            "cortex": cv.name(),
            "same_as_git": same_as_git,
            "rule": rule.map(|r| r.as_str()),
            "conflicts": units,
            "text": cortex.flatten(),
        });
        writeln!(out, "{record}").expect("OUT is written");
    }
    std::fs::remove_dir_all(&tmp).ok();
    for (project, tally) in &tallies {
        println!("{}", tally.json(project));
    }
    println!("{}", total.json("total"));
}
