//! How the graph's records hold units, references, edges and symbols: JSON
//! arrays rather than objects, because a full index writes every one of
//! them (field names were about a third of the 200 MB a 2,015-file index
//! wrote). Only `store::graph` reads and writes these.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::graph::resolve::{Confidence, Edge, EdgeKind, Symbol};
use crate::graph::{Diagnostic, Import, ParsedFile, Ref, RefKind, Unit, UnitKind};

pub(crate) fn corrupt(what: &'static str) -> impl Fn(serde_json::Error) -> Error {
    move |e| Error::Corrupt(format!("stored {what}: {e}"))
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("graph records serialise")
}

type StoredUnit = (
    String,
    UnitKind,
    String,
    String,
    Option<String>,
    u32,
    u32,
    u32,
    u32,
    String,
    String,
    String,
    u32,
    bool,
    bool,
    // Fields, return type, closure arguments (serde's tuples stop at 16).
    (Vec<(String, String)>, String, Vec<String>),
);

pub fn encode_units(units: &[Unit]) -> String {
    let rows: Vec<_> = units
        .iter()
        .map(|u| {
            (
                &u.id,
                u.kind,
                &u.name,
                &u.qname,
                &u.parent,
                u.start_byte,
                u.end_byte,
                u.start_line,
                u.end_line,
                &u.signature,
                &u.doc,
                &u.body_hash,
                u.complexity,
                u.is_test,
                u.exported,
                (&u.fields, &u.returns, &u.closure_args),
            )
        })
        .collect();
    to_json(&rows)
}

pub fn decode_units(s: &str) -> Result<Vec<Unit>> {
    let rows: Vec<StoredUnit> = serde_json::from_str(s).map_err(corrupt("units"))?;
    Ok(rows
        .into_iter()
        .map(|r| Unit {
            id: r.0,
            kind: r.1,
            name: r.2,
            qname: r.3,
            parent: r.4,
            start_byte: r.5,
            end_byte: r.6,
            start_line: r.7,
            end_line: r.8,
            signature: r.9,
            doc: r.10,
            body_hash: r.11,
            complexity: r.12,
            is_test: r.13,
            exported: r.14,
            fields: r.15.0,
            returns: r.15.1,
            closure_args: r.15.2,
        })
        .collect())
}

type StoredRef = (usize, RefKind, String, Vec<String>, Option<String>, Option<String>, u32);

/// A parse without its units (stored apart: they are read more often).
pub fn encode_rest(p: &ParsedFile) -> String {
    let refs: Vec<_> = p
        .refs
        .iter()
        .map(|r| (r.from, r.kind, &r.name, &r.path, &r.receiver, &r.receiver_type, r.line))
        .collect();
    to_json(&(refs, &p.imports, &p.diagnostics, &p.skipped))
}

pub fn decode_parse(units: &str, rest: &str) -> Result<ParsedFile> {
    type Rest = (Vec<StoredRef>, Vec<Import>, Vec<Diagnostic>, Option<String>);
    let (refs, imports, diagnostics, skipped): Rest =
        serde_json::from_str(rest).map_err(corrupt("parse"))?;
    let refs = refs
        .into_iter()
        .map(|(from, kind, name, path, receiver, receiver_type, line)| Ref {
            from,
            kind,
            name,
            path,
            receiver,
            receiver_type,
            line,
        })
        .collect();
    Ok(ParsedFile { units: decode_units(units)?, refs, imports, diagnostics, skipped })
}

pub fn encode_edges(edges: &[Edge]) -> String {
    let rows: Vec<_> =
        edges.iter().map(|e| (&e.from, &e.to, e.kind, e.confidence, e.line)).collect();
    to_json(&rows)
}

/// A string of a stored record, borrowed from it unless it holds escapes.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

/// The edges `keep` wants (by from, to and kind), the others never copied
/// out of `s`: a caller asks for a few edges of files with thousands, and
/// decoding them all was a sixth of the daemon's time under eight agents'
/// graph calls (perf).
pub fn decode_edges_where(
    s: &str,
    keep: impl Fn(&str, &str, EdgeKind) -> bool,
) -> Result<Vec<Edge>> {
    let rows: Vec<(Text, Text, EdgeKind, Confidence, u32)> =
        serde_json::from_str(s).map_err(corrupt("edges"))?;
    Ok(rows
        .into_iter()
        .filter(|(from, to, kind, _, _)| keep(&from.0, &to.0, *kind))
        .map(|(from, to, kind, confidence, line)| Edge {
            from: from.0.into_owned(),
            to: to.0.into_owned(),
            kind,
            confidence,
            line,
        })
        .collect())
}

/// A symbol inside its name's entry (the name is the entry's key).
pub fn symbol_row(s: &Symbol) -> StoredSymbolRef<'_> {
    let extra = (&s.returns[..], (s.in_trait, s.in_trait_impl), &s.closure_args[..], &s.bases[..]);
    (&s.id, s.kind, &s.qname, &s.path, &s.fields, &s.reexport, extra)
}

pub type StoredSymbolRef<'a> = (
    &'a str,
    UnitKind,
    &'a str,
    &'a str,
    &'a [(String, String)],
    &'a [String],
    (&'a str, (bool, bool), &'a [String], &'a [Vec<String>]),
);

/// A symbol as stored: its id, kind, qname, path, fields, re-export, and
/// (return type, (declared in a trait, in a trait's impl), closure
/// arguments, bases).
pub type StoredSymbol = (
    String,
    UnitKind,
    String,
    String,
    Vec<(String, String)>,
    Vec<String>,
    (String, (bool, bool), Vec<String>, Vec<Vec<String>>),
);

pub fn symbol_of(name: &str, stored: StoredSymbol) -> Symbol {
    let (id, kind, qname, path, fields, reexport, extra) = stored;
    let (returns, (in_trait, in_trait_impl), closure_args, bases) = extra;
    let name = name.to_owned();
    Symbol {
        id,
        kind,
        name,
        qname,
        path,
        fields,
        reexport,
        returns,
        in_trait,
        in_trait_impl,
        closure_args,
        bases,
    }
}

pub fn json<T: serde::de::DeserializeOwned>(s: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(s).map_err(corrupt(what))
}

pub fn to_string(value: &impl Serialize) -> String {
    to_json(value)
}

/// The entries of a JSON object as `to_string` wrote it: each key, and its
/// value's text as stored (checked for shape, not decoded). A bucket of the
/// name index is updated by the few names that change; the rest of it is
/// copied as it was.
pub fn object_entries<'s>(s: &'s str, what: &'static str) -> Result<Vec<(String, &'s str)>> {
    let b = s.as_bytes();
    let bad = || Error::Corrupt(format!("stored {what}: not a JSON object"));
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(bad());
    }
    i = skip_space(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') && skip_space(b, i + 1) == b.len() {
        return Ok(out);
    }
    loop {
        let key_end = string_end(b, i).ok_or_else(bad)?;
        let key: String = serde_json::from_str(&s[i..key_end]).map_err(corrupt(what))?;
        i = skip_space(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(bad());
        }
        let start = skip_space(b, i + 1);
        let end = value_end(b, start).ok_or_else(bad)?;
        out.push((key, &s[start..end]));
        i = skip_space(b, end);
        match b.get(i) {
            Some(b',') => i = skip_space(b, i + 1),
            Some(b'}') if skip_space(b, i + 1) == b.len() => return Ok(out),
            _ => return Err(bad()),
        }
    }
}

/// An object of `entries` (keys in order, values already JSON), as
/// `to_string` would write it.
pub fn object_of<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (n, (key, value)) in entries.enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&to_json(&key));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Just past the string that starts at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Just past the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => j = string_end(b, j)?,
                    b'{' | b'[' => {
                        depth += 1;
                        j += 1;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        j += 1;
                        if depth == 0 {
                            return Some(j);
                        }
                    }
                    _ => j += 1,
                }
            }
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                .unwrap_or(b.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

#[cfg(test)]
mod object_tests {
    use super::*;

    #[test]
    fn an_object_splits_into_its_entries_and_back() {
        let value = serde_json::json!({
            "a\"b": [["x", 1], {"k": "}]"}],
            "n": -1.5e3,
            "t": true,
            "z": "\\\"",
        });
        let text = to_json(&value);
        let entries = object_entries(&text, "test").unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a\"b", "n", "t", "z"]);
        assert_eq!(entries[2].1, "true");
        let back = object_of(entries.iter().map(|(k, v)| (k.as_str(), *v)));
        assert_eq!(back, text);
        assert!(object_entries("{}", "test").unwrap().is_empty());
        assert_eq!(object_of(std::iter::empty()), "{}");
        for bad in ["", "[]", "{\"a\":1", "{\"a\" 1}", "{\"a\":[1}", "{\"a\":1}x", "{\"a\":}"] {
            assert!(object_entries(bad, "test").is_err(), "{bad:?} was taken for an object");
        }
    }
}
