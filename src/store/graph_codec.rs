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
    let extra = (&s.returns[..], s.in_trait, &s.closure_args[..], &s.bases[..]);
    (&s.id, s.kind, &s.qname, &s.path, &s.fields, &s.reexport, extra)
}

pub type StoredSymbolRef<'a> = (
    &'a str,
    UnitKind,
    &'a str,
    &'a str,
    &'a [(String, String)],
    &'a [String],
    (&'a str, bool, &'a [String], &'a [Vec<String>]),
);

/// A symbol as stored: its id, kind, qname, path, fields, re-export, and
/// (return type, declared in a trait, closure arguments, bases).
pub type StoredSymbol = (
    String,
    UnitKind,
    String,
    String,
    Vec<(String, String)>,
    Vec<String>,
    (String, bool, Vec<String>, Vec<Vec<String>>),
);

pub fn symbol_of(name: &str, stored: StoredSymbol) -> Symbol {
    let (id, kind, qname, path, fields, reexport, (returns, in_trait, closure_args, bases)) =
        stored;
    let name = name.to_owned();
    Symbol { id, kind, name, qname, path, fields, reexport, returns, in_trait, closure_args, bases }
}

pub fn json<T: serde::de::DeserializeOwned>(s: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(s).map_err(corrupt(what))
}

pub fn to_string(value: &impl Serialize) -> String {
    to_json(value)
}
