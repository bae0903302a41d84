//! Embeds `migrations/NNNN_name.surql` into the binary, in order, so that a
//! new migration is just a new file.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read at run time, not with env!(): a build script compiled in one
    // checkout is reused by another that shares the target directory.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut found: Vec<(u64, String)> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read migrations/") {
        let name = entry.expect("read migrations/").file_name().into_string().expect("utf-8 name");
        let Some(stem) = name.strip_suffix(".surql") else { continue };
        let (number, _) = stem.split_once('_').expect("migration names are NNNN_name.surql");
        let number: u64 = number.parse().expect("migration names start with a number");
        found.push((number, name));
    }
    found.sort();
    for (i, (number, name)) in found.iter().enumerate() {
        assert_eq!(
            *number,
            i as u64 + 1,
            "migrations must be numbered 1, 2, 3… without gaps: {name}"
        );
    }
    let mut out = String::from("pub const MIGRATIONS: &[(u64, &str, &str)] = &[\n");
    for (number, name) in &found {
        let path = dir.join(name);
        writeln!(out, "    ({number}, {name:?}, include_str!({:?})),", path.display().to_string())
            .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).expect("write migrations.rs");
}
