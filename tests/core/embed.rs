//! The embedding is the model's: candle's vectors against an independent
//! forward pass of the same BERT in NumPy (`scripts/embed_ref.py`), over
//! sentences and code, at both windows.
//!
//! Needs the model (`scripts/model.sh`) and the reference's Python
//! (`scripts/pyenv.sh`); the test script installs both and says where
//! (`CORTEX_MODEL_DIR`, `CORTEX_PYTHON`). Without them this test fails: it
//! does not skip.

use std::io::Write;
use std::process::{Command, Stdio};

use cortex::embed::{DIM, Model, cosine, model_dir};

const TEXTS: &[&str] = &[
    "This is an example sentence",
    "Each sentence is converted",
    "where do we retry failed uploads?",
    "fn parse_version(input: &str) -> Result<Version, Error>",
    "function\nfn retry_upload(client: &Client, file: &Path, attempts: u32) -> io::Result<()>\n\
     /// Uploads a file, trying again after a failure.\n\
     for n in 0..attempts {\n    match client.put(file) {\n        Ok(()) => return Ok(()),\n\
     Err(e) if n + 1 < attempts => sleep(backoff(n)),\n        Err(e) => return Err(e),\n    }\n}",
    "class Router {\n  constructor(options) {\n    this.stack = [];\n  }\n  handle(req, res, out) {\n    \
     let idx = 0;\n    const next = (err) => { const layer = this.stack[idx++]; };\n  }\n}",
    "Ünïcödé, emoji 🚀 and CJK 漢字 in one line",
];

fn reference(window: usize) -> Vec<Vec<f32>> {
    let python = std::env::var("CORTEX_PYTHON")
        .unwrap_or_else(|_| format!("{}/.cache/cortex-py/bin/python", env!("HOME")));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/embed_ref.py");
    let mut child = Command::new(&python)
        .arg(script)
        .arg(model_dir())
        .args(["--max-tokens", &window.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} (run scripts/pyenv.sh): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    for t in TEXTS {
        writeln!(stdin, "{}", serde_json::to_string(t).unwrap()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "embed_ref.py failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Vec<f32>>(l).unwrap())
        .collect()
}

#[test]
fn candle_matches_a_numpy_forward_pass_of_the_same_model() {
    for window in [128, 256] {
        let model = Model::load(window).expect("the model (scripts/model.sh)");
        let ours = model.embed(TEXTS, &|_| {}).unwrap();
        let theirs = reference(window);
        assert_eq!(theirs.len(), TEXTS.len());
        for ((text, a), b) in TEXTS.iter().zip(&ours).zip(&theirs) {
            assert_eq!(a.len(), DIM);
            let c = cosine(a, b);
            assert!(c >= 0.9999, "window {window}: cosine {c} for {text:?}");
        }
        // The published output of the model for this sentence.
        let first = &ours[0];
        for (got, want) in first.iter().zip([0.0677, 0.0635, 0.0487, 0.0793, 0.0374]) {
            assert!((got - want).abs() < 5e-4, "{:?}", &first[..5]);
        }
        // One text alone gives what it gave in a batch.
        let alone = model.embed_one(TEXTS[4]).unwrap();
        assert!(cosine(&alone, &ours[4]) > 0.99999);
    }
}

#[test]
fn a_missing_model_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Model::load_from(dir.path(), 128).unwrap_err().to_string();
    assert!(err.contains("scripts/model.sh") && err.contains("keyword search"), "{err}");
}
