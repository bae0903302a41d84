//! The keyword index's posting lists and BM25, as pure functions: how a
//! unit's keyword text becomes terms, how the lists of a `search_post`
//! record are encoded, and how matches are scored. `store::search` reads
//! and writes the records.
//!
//! Each unit of the view has a number (`doc`, from a counter: a replaced
//! unit gets a new one). A term's list is split by a hash of the term into
//! `BUCKETS` and by the doc number into blocks of `BLOCK` numbers; a
//! record holds one bucket's lists for one block. So a changed file
//! rewrites the records of its terms in the blocks its old and new units
//! are in, a first build writes each record about once, and a search reads
//! a term's records across the blocks there are.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};

/// Doc numbers per block.
pub const BLOCK: u64 = 1 << 14;

/// Buckets of terms per block.
pub const BUCKETS: u64 = 1024;

/// Doc numbers per `search_doc` record (a doc's unit and what filters
/// read): a search looks up its best units' numbers, a few hundred, so a
/// record is small; a first build writes one record per this many units.
pub const DOC_CHUNK: u64 = 32;

/// BM25's term-frequency saturation and length normalisation (the usual
/// values, SurrealDB's defaults too).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// One unit in a term's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub doc: u64,
    /// How often the term is in the unit's text.
    pub tf: u32,
    /// The text's length in terms.
    pub len: u32,
}

/// The lists of one record: term → postings, ordered by doc.
pub type Lists = BTreeMap<String, Vec<Posting>>;

/// The record holding `term`'s list for the block of `doc`.
pub fn record_key(term: &str, doc: u64) -> i64 {
    key(bucket_of(term), doc / BLOCK)
}

/// Every record that may hold `term`'s list, with `blocks` blocks in use.
pub fn record_keys(term: &str, blocks: u64) -> impl Iterator<Item = i64> {
    let bucket = bucket_of(term);
    (0..blocks).map(move |block| key(bucket, block))
}

fn key(bucket: u64, block: u64) -> i64 {
    (block * BUCKETS + bucket) as i64
}

fn bucket_of(term: &str) -> u64 {
    let h = blake3::hash(term.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % BUCKETS
}

/// A text's terms (`terms::term_parts`' stems) with their counts, and its
/// length in terms.
pub fn term_counts(text: &str) -> (BTreeMap<String, u32>, u32) {
    let mut counts = BTreeMap::new();
    let mut len = 0;
    for (stem, _) in super::terms::term_parts(text) {
        *counts.entry(stem).or_default() += 1;
        len += 1;
    }
    (counts, len)
}

/// Encodes lists: per term its name, its postings' count and byte length,
/// then the postings as varints (doc as the gap from the previous one, tf,
/// len), so that `find` can skip a term without decoding it.
pub fn encode(lists: &Lists) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    for (term, postings) in lists.iter().filter(|(_, p)| !p.is_empty()) {
        body.clear();
        let mut prev = 0;
        for p in postings {
            put(&mut body, p.doc - prev);
            put(&mut body, u64::from(p.tf));
            put(&mut body, u64::from(p.len));
            prev = p.doc;
        }
        put(&mut out, term.len() as u64);
        out.extend_from_slice(term.as_bytes());
        put(&mut out, postings.len() as u64);
        put(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    out
}

/// Every list of a record.
pub fn decode(bytes: &[u8]) -> Result<Lists> {
    let mut lists = Lists::new();
    let mut r = Reader { bytes, at: 0 };
    while !r.done() {
        let (term, n, body) = r.entry()?;
        lists.insert(term.to_owned(), postings_of(body, n)?);
    }
    Ok(lists)
}

/// `term`'s list in a record, empty if it has none.
pub fn find(bytes: &[u8], term: &str) -> Result<Vec<Posting>> {
    let mut r = Reader { bytes, at: 0 };
    while !r.done() {
        let (t, n, body) = r.entry()?;
        if t == term {
            return postings_of(body, n);
        }
    }
    Ok(Vec::new())
}

/// What a doc number stands for: its unit and what search filters read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocEntry {
    pub doc: u64,
    pub unit: String,
    pub file: String,
    pub kind: String,
    pub lang: String,
}

/// The `search_doc` record holding `doc`.
pub fn doc_key(doc: u64) -> i64 {
    (doc / DOC_CHUNK) as i64
}

/// Encodes a record's doc entries (any order).
pub fn encode_docs(entries: &[DocEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        put(&mut out, e.doc);
        for s in [&e.unit, &e.file, &e.kind, &e.lang] {
            put(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// A record's doc entries.
pub fn decode_docs(bytes: &[u8]) -> Result<Vec<DocEntry>> {
    let mut r = Reader { bytes, at: 0 };
    let mut out = Vec::new();
    while !r.done() {
        let doc = r.varint()?;
        let mut text = || -> Result<String> {
            let n = r.varint()? as usize;
            String::from_utf8(r.slice(n)?.to_vec())
                .map_err(|_| Error::Corrupt("search_doc: a name is not UTF-8".into()))
        };
        let (unit, file, kind, lang) = (text()?, text()?, text()?, text()?);
        out.push(DocEntry { doc, unit, file, kind, lang });
    }
    Ok(out)
}

fn postings_of(body: &[u8], n: usize) -> Result<Vec<Posting>> {
    let mut r = Reader { bytes: body, at: 0 };
    let mut out = Vec::with_capacity(n);
    let mut doc = 0;
    for _ in 0..n {
        doc += r.varint()?;
        let tf = r.varint()? as u32;
        let len = r.varint()? as u32;
        out.push(Posting { doc, tf, len });
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or_else(truncated)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(truncated())
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at + n).ok_or_else(truncated)?;
        self.at += n;
        Ok(s)
    }

    /// A term, its postings' count and their bytes.
    fn entry(&mut self) -> Result<(&'a str, usize, &'a [u8])> {
        let len = self.varint()? as usize;
        let term = std::str::from_utf8(self.slice(len)?)
            .map_err(|_| Error::Corrupt("search_post: a term is not UTF-8".into()))?;
        let n = self.varint()? as usize;
        let body_len = self.varint()? as usize;
        Ok((term, n, self.slice(body_len)?))
    }
}

fn truncated() -> Error {
    Error::Corrupt("search_post: a posting list is cut short".into())
}

/// Changes to posting records: postings to add, docs to take out, by
/// record.
#[derive(Debug, Default)]
pub struct Changes {
    pub add: HashMap<i64, Lists>,
    pub remove: HashMap<i64, Vec<u64>>,
}

impl Changes {
    /// Adds a unit's postings.
    pub fn add_doc(&mut self, doc: u64, text: &str) -> u32 {
        let (counts, len) = term_counts(text);
        for (term, tf) in counts {
            let lists = self.add.entry(record_key(&term, doc)).or_default();
            lists.entry(term).or_default().push(Posting { doc, tf, len });
        }
        len
    }

    /// Takes a unit's postings out.
    pub fn remove_doc(&mut self, doc: u64, text: &str) -> u32 {
        let (counts, len) = term_counts(text);
        for term in counts.keys() {
            self.remove.entry(record_key(term, doc)).or_default().push(doc);
        }
        len
    }

    /// Every record these changes touch.
    pub fn keys(&self) -> Vec<i64> {
        let mut keys: Vec<i64> = self.add.keys().chain(self.remove.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Applies the changes for record `key` to its lists as read (`None`:
    /// no record yet); the new lists, empty when nothing is left.
    pub fn apply(&self, key: i64, old: Option<&[u8]>) -> Result<Lists> {
        let mut lists = match old {
            Some(bytes) => decode(bytes)?,
            None => Lists::new(),
        };
        if let Some(docs) = self.remove.get(&key) {
            let gone: std::collections::HashSet<u64> = docs.iter().copied().collect();
            for postings in lists.values_mut() {
                postings.retain(|p| !gone.contains(&p.doc));
            }
        }
        for (term, new) in self.add.get(&key).into_iter().flatten() {
            let postings = lists.entry(term.clone()).or_default();
            postings.extend_from_slice(new);
            postings.sort_unstable_by_key(|p| p.doc);
            postings.dedup_by_key(|p| p.doc);
        }
        lists.retain(|_, p| !p.is_empty());
        Ok(lists)
    }
}

/// BM25 over a view's units: `docs` of them, `total_len` terms in all.
#[derive(Clone, Copy, Debug)]
pub struct Bm25 {
    pub docs: u64,
    pub total_len: u64,
}

impl Bm25 {
    /// A term's weight given the number of units holding it.
    pub fn idf(self, df: usize) -> f64 {
        let (n, df) = (self.docs.max(df as u64) as f64, df as f64);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// One posting's score for a term of weight `idf`.
    pub fn score(self, idf: f64, p: Posting) -> f64 {
        let avg = (self.total_len as f64 / self.docs.max(1) as f64).max(1.0);
        let tf = f64::from(p.tf);
        idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * f64::from(p.len) / avg))
    }
}

/// Units scored by BM25 over the lists of a query's terms (one list per
/// term), best first. Terms are taken rarest first; once matching a term
/// would take the matches past `budget`, it only adds to the units matched
/// already (commoner terms weigh least), and a rarest term in more units
/// than `budget` seeds its best `budget`. So a search scores a bounded
/// number of units whatever its words.
pub fn rank(bm25: Bm25, mut lists: Vec<Vec<Posting>>, budget: usize) -> Vec<(u64, f64)> {
    let budget = budget.max(1);
    lists.retain(|l| !l.is_empty());
    lists.sort_by_key(Vec::len);
    let mut scores: HashMap<u64, f64> = HashMap::new();
    for list in &lists {
        let idf = bm25.idf(list.len());
        if scores.is_empty() && list.len() > budget {
            let mut best: Vec<(u64, f64)> =
                list.iter().map(|p| (p.doc, bm25.score(idf, *p))).collect();
            best.select_nth_unstable_by(budget - 1, |a, b| b.1.total_cmp(&a.1));
            best.truncate(budget);
            scores.extend(best);
            continue;
        }
        let open = scores.is_empty() || scores.len() + list.len() <= budget;
        for p in list {
            let s = bm25.score(idf, *p);
            match scores.get_mut(&p.doc) {
                Some(v) => *v += s,
                None if open => {
                    scores.insert(p.doc, s);
                }
                None => {}
            }
        }
    }
    let mut ranked: Vec<(u64, f64)> = scores.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(doc: u64, tf: u32, len: u32) -> Posting {
        Posting { doc, tf, len }
    }

    #[test]
    fn lists_survive_encoding_and_one_term_is_found_alone() {
        let mut lists = Lists::new();
        lists.insert("pars".into(), vec![p(3, 1, 10), p(700, 2, 4), p(1 << 40, 1, 300)]);
        lists.insert("upload".into(), vec![p(5, 7, 7)]);
        lists.insert("empty".into(), vec![]);
        let bytes = encode(&lists);
        let back = decode(&bytes).unwrap();
        lists.remove("empty");
        assert_eq!(back, lists);
        assert_eq!(find(&bytes, "upload").unwrap(), vec![p(5, 7, 7)]);
        assert!(find(&bytes, "absent").unwrap().is_empty());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "a cut record is refused");
    }

    #[test]
    fn doc_entries_survive_encoding() {
        let e = |doc: u64, unit: &str| DocEntry {
            doc,
            unit: unit.into(),
            file: "src/é.rs".into(),
            kind: "function".into(),
            lang: "rust".into(),
        };
        let entries = vec![e(64, "src/é.rs::f"), e(95, "src/é.rs::g")];
        let bytes = encode_docs(&entries);
        assert_eq!(decode_docs(&bytes).unwrap(), entries);
        assert!(decode_docs(&bytes[..bytes.len() - 2]).is_err());
        assert_eq!((doc_key(63), doc_key(64), doc_key(95)), (1, 2, 2));
    }

    #[test]
    fn changes_take_docs_out_and_put_new_ones_in_order() {
        let mut c = Changes::default();
        let len = c.add_doc(9, "fn parse_header(input: &str)");
        assert_eq!(len, 5); // fn parse header input str
        let key = record_key("pars", 9);
        let lists = c.apply(key, None).unwrap();
        assert_eq!(lists["pars"], vec![p(9, 1, 5)]);
        let old = encode(&lists);
        let mut c = Changes::default();
        c.remove_doc(9, "fn parse_header(input: &str)");
        c.add_doc(2, "parse parse");
        let lists = c.apply(key, Some(&old)).unwrap();
        assert_eq!(lists["pars"], vec![p(2, 2, 2)]);
        assert!(c.keys().contains(&key));
    }

    #[test]
    fn bm25_favours_rare_terms_and_short_texts() {
        let bm = Bm25 { docs: 1000, total_len: 20_000 };
        assert!(bm.idf(3) > bm.idf(300));
        assert!(bm.idf(1000) > 0.0, "a term in every unit still counts a little");
        let idf = bm.idf(10);
        assert!(bm.score(idf, p(0, 1, 5)) > bm.score(idf, p(0, 1, 50)));
        assert!(bm.score(idf, p(0, 3, 20)) > bm.score(idf, p(0, 1, 20)));
    }

    #[test]
    fn ranking_sums_terms_and_keeps_within_its_budget() {
        let bm = Bm25 { docs: 100, total_len: 1000 };
        let rare = vec![p(1, 1, 10), p(2, 1, 10)];
        let common: Vec<Posting> = (0..50).map(|d| p(d, 1, 10)).collect();
        // Unbounded: every unit with either word, the ones with both first.
        let all = rank(bm, vec![common.clone(), rare.clone()], 1000);
        assert_eq!(all.len(), 50);
        assert_eq!([all[0].0, all[1].0], [1, 2]);
        // Bounded: the common word only adds to the rare word's units.
        let few = rank(bm, vec![common.clone(), rare], 10);
        assert_eq!(few.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        assert!(few[0].1 > all[2].1);
        // A lone common word seeds its best units: the shortest texts.
        let mut lone = common;
        lone[7].len = 2;
        let best = rank(bm, vec![lone], 5);
        assert_eq!((best.len(), best[0].0), (5, 7));
    }
}
