//! Merging: three versions of a file into one (`lines` for any text,
//! `code` by unit for Rust and JavaScript). Pure: no store, no I/O.

pub mod code;
pub mod lines;
