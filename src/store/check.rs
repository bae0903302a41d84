//! What is checked of an embedded store's files before the engine opens
//! them, so that opening a damaged store refuses it and changes nothing.
//!
//! SurrealKV (0.21, as SurrealDB 3.3 opens it) repairs what it finds on its
//! own, and some of its repairs destroy: with its manifest missing it starts
//! an empty store and deletes every table the manifest no longer names; with
//! a bad checksum in the middle of its write-ahead log it cuts the log there
//! and drops every commit after the tear, without a word to the caller
//! (`WalRecoveryMode` is not settable through SurrealDB). Neither is what a
//! user wants from `cortex status`. So before the engine sees the directory
//! this module reads it, writing nothing, and refuses what only a person
//! should decide about:
//!
//! - files of a store, but no manifest (or one that does not decode);
//! - a write-ahead log segment that is damaged before its end: a record
//!   whose checksum fails with intact records after it, in that segment or
//!   in a later one.
//!
//! A damaged *tail* (the newest segment's last record, torn by a crash or a
//! full disk: a commit that never returned) is the one thing changed: it is
//! cut off in place, which needs no free space, where the engine's repair
//! writes a copy of the whole segment (on the full disk that tore it, that
//! fails half-way);
//! - a value log without its header.
//!
//! - a table the manifest names that is missing or has no footer (cut
//!   short).
//!
//! A value log cut short is not
//! looked for here: a crash while the engine writes a table legitimately
//! leaves a partial record at its end, and telling that from damage means
//! reading every value. Reads find it instead (every content read is
//! checked against its hash, so damage is an error, never wrong bytes),
//! and so does `cortex fsck`, which reads everything.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// SurrealKV's write-ahead log: 32 KiB blocks of records, each a 7-byte
/// header (CRC-32 of type and payload, big-endian; payload length, u16
/// big-endian; type) and the payload.
const WAL_BLOCK: usize = 32 * 1024;
const WAL_HEADER: usize = 7;
/// Record types: zero padding, full, first, middle, last, compression.
const WAL_TYPES: [u8; 6] = [0, 1, 2, 3, 4, 9];
/// The manifest's header: version (u16), next table id, log number, last
/// sequence (u64 each), big-endian.
const MANIFEST_HEADER: usize = 2 + 8 + 8 + 8;
const MANIFEST_VERSION: u16 = 1;
/// A table (SSTable) file ends with these eight bytes.
const TABLE_MAGIC: [u8; 8] = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/// A value log file starts with a 31-byte header, magic "VLOG" first.
const VLOG_HEADER: u64 = 31;
const VLOG_MAGIC: &[u8; 4] = b"VLOG";

/// What to do with a torn log tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Cut it off (opening the store).
    Cut,
    /// Leave it (`cortex fsck`, which writes nothing).
    Leave,
}

/// Refuses a store directory (`.cortex/store`) whose files the engine would
/// "repair" by losing data, and cuts a torn log tail (with `Tail::Cut`).
/// A missing or empty directory passes: it is a store yet to be made.
pub fn before_open(kv: &Path, tail: Tail) -> Result<()> {
    if is_empty_dir(kv) {
        return Ok(());
    }
    let (log_number, tables) = manifest(kv)?;
    room_to_open(kv, log_number)?;
    for id in tables {
        table(kv, id)?;
    }
    vlogs(&kv.join("vlog"))?;
    wal(&kv.join("wal"), log_number, tail)
}

/// Free space an open needs besides its log: SurrealDB writes to its
/// store as it starts, and a write the full disk refuses leaves the open
/// half-done.
const OPEN_ROOM: u64 = 1 << 20;

/// The room opening the store takes: the engine writes into tables the
/// commits of every live log segment but the newest (which it keeps in
/// memory), and a little more.
pub(super) fn room_needed(kv: &Path) -> u64 {
    let log_number = manifest(kv).map_or(0, |(n, _)| n);
    older_log_bytes(&kv.join("wal"), log_number) + OPEN_ROOM
}

/// The room reopening a failed store takes (`Store::reopen`): closing the
/// engine writes the commits it holds in memory (those of the newest log
/// segment) into a table, and opening it again those of the older ones.
pub(super) fn room_to_recover(kv: &Path) -> u64 {
    let log_number = manifest(kv).map_or(0, |(n, _)| n);
    let newest = segments(&kv.join("wal"), "wal")
        .unwrap_or_default()
        .into_iter()
        .rfind(|(id, _)| *id >= log_number)
        .and_then(|(_, p)| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    room_needed(kv) + newest
}

fn older_log_bytes(dir: &Path, log_number: u64) -> u64 {
    let live: Vec<(u64, PathBuf)> = segments(dir, "wal")
        .unwrap_or_default()
        .into_iter()
        .filter(|(id, _)| *id >= log_number)
        .collect();
    let older = live.len().saturating_sub(1);
    live[..older].iter().filter_map(|(_, p)| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// Refuses to open a store whose disk has less room than an open takes,
/// saying how much.
fn room_to_open(kv: &Path, log_number: u64) -> Result<()> {
    let Some(space) = super::disk_space(kv) else { return Ok(()) };
    let need = older_log_bytes(&kv.join("wal"), log_number) + OPEN_ROOM;
    if space.available >= need {
        return Ok(());
    }
    Err(no_room(kv, need, space.available))
}

/// The error for a store whose disk is too full to open it.
pub(super) fn no_room(kv: &Path, need: u64, available: u64) -> Error {
    let mib = |b: u64| b.div_ceil(1 << 20);
    Error::NoRoom(format!(
        "the disk of the store at {} is too full to open it: opening writes the commits of its \
         log into tables, so {} MiB must be free and {} MiB are; free space and try again \
         (nothing in the store was changed or lost)",
        kv.display(),
        mib(need),
        mib(available)
    ))
}

fn is_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    }
}

fn damaged(kv: &Path, what: String) -> Error {
    Error::Corrupt(format!(
        "{what}; the store at {} was not opened and nothing in it was changed \
         (`cortex fsck` says more)",
        kv.display()
    ))
}

/// The manifest's log number (WAL segments below it are already in
/// tables) and the tables it names.
fn manifest(kv: &Path) -> Result<(u64, Vec<u64>)> {
    let path = kv.join("manifest").join(format!("{:020}.manifest", 0));
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_data = ["sstables", "wal", "vlog"].iter().any(|d| !is_empty_dir(&kv.join(d)));
            if !has_data {
                return Ok((0, Vec::new())); // made, never written
            }
            return Err(damaged(
                kv,
                format!(
                    "its manifest ({}) is missing while its tables and logs are there; opening \
                     it would start an empty store over them",
                    path.display()
                ),
            ));
        }
        Err(e) => return Err(Error::io("read the store's manifest", &path, e)),
    };
    let undecodable = || damaged(kv, format!("its manifest ({}) does not decode", path.display()));
    if data.len() < MANIFEST_HEADER + 1
        || u16::from_be_bytes([data[0], data[1]]) != MANIFEST_VERSION
    {
        return Err(undecodable());
    }
    let log_number = u64::from_be_bytes(data[10..18].try_into().expect("8 bytes"));
    // Then the levels: a count (u8), and per level a table count (u32) and
    // the tables' ids (u64), big-endian.
    let mut at = MANIFEST_HEADER;
    let levels = data[at];
    at += 1;
    let mut tables = Vec::new();
    for _ in 0..levels {
        let count = data.get(at..at + 4).ok_or_else(undecodable)?;
        let count = u32::from_be_bytes(count.try_into().expect("4 bytes")) as usize;
        at += 4;
        for _ in 0..count {
            let id = data.get(at..at + 8).ok_or_else(undecodable)?;
            tables.push(u64::from_be_bytes(id.try_into().expect("8 bytes")));
            at += 8;
        }
    }
    Ok((log_number, tables))
}

/// A table the manifest names must be there and end with the table magic
/// (the engine's footer): one cut short does not.
fn table(kv: &Path, id: u64) -> Result<()> {
    let path = kv.join("sstables").join(format!("{id:020}.sst"));
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(damaged(
                kv,
                format!("its table {id}, which its manifest names, is missing"),
            ));
        }
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let len = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
    let mut magic = [0u8; 8];
    let ok = len >= 8
        && std::os::unix::fs::FileExt::read_exact_at(&file, &mut magic, len - 8).is_ok()
        && magic == TABLE_MAGIC;
    if !ok {
        return Err(damaged(
            kv,
            format!("its table {id} is cut short or damaged (no table footer)"),
        ));
    }
    Ok(())
}

/// The numbered files in `dir` with extension `ext`, in order.
fn segments(dir: &Path, ext: &str) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((id, e)) = name.split_once('.') else { continue };
        if e == ext
            && let Ok(id) = id.parse::<u64>()
        {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Where a WAL segment stops reading cleanly.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Every record checks (padding and a short tail included).
    Clean,
    /// A record fails at `at`, in the logical record (its fragments)
    /// that began at `start`; `more` if intact records follow it.
    Damaged { at: usize, start: usize, more: bool },
}

/// Refuses a log damaged before its end; cuts a torn tail off the newest
/// segment (see `cut_torn_tail`).
fn wal(dir: &Path, log_number: u64, tail: Tail) -> Result<()> {
    let live: Vec<(u64, PathBuf)> =
        segments(dir, "wal")?.into_iter().filter(|(id, _)| *id >= log_number).collect();
    for (i, (id, path)) in live.iter().enumerate() {
        let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let newest = i + 1 == live.len();
        let Scan::Damaged { at, start, more } = scan_wal(&data) else { continue };
        if !more && newest {
            if tail == Tail::Cut {
                cut_torn_tail(path, start as u64, data.len() as u64)?;
            }
        } else {
            return Err(damaged(
                dir.parent().unwrap_or(dir),
                format!(
                    "its write-ahead log segment {id} is damaged at byte {at} with commits \
                     after the damage; the engine would drop them all"
                ),
            ));
        }
    }
    Ok(())
}

/// A torn tail (the newest segment's last record, cut by a crash or a full
/// disk: a commit that never returned) is cut off where its record began.
/// The engine would repair it by writing a copy of the whole segment,
/// which a full disk has no room for (the open would fail half-way, or
/// worse); cutting it in place needs no room and keeps exactly the
/// commits that returned.
fn cut_torn_tail(path: &Path, at: u64, len: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open the store's log", path, e))?;
    file.set_len(at).map_err(|e| Error::io("cut the torn end of the store's log", path, e))?;
    file.sync_all().map_err(|e| Error::io("sync the store's log", path, e))?;
    tracing::warn!(
        log = %path.display(),
        bytes = len - at,
        "cut the torn end of the store's write-ahead log (a commit that never returned)"
    );
    Ok(())
}

/// Reads a WAL segment's records as the engine does.
fn scan_wal(data: &[u8]) -> Scan {
    let mut block_start = 0;
    // Where the logical record being read began (a record may be cut into
    // fragments across blocks: first, middle…, last).
    let mut start = 0;
    while block_start < data.len() {
        let block = &data[block_start..(block_start + WAL_BLOCK).min(data.len())];
        let mut at = 0;
        while block.len() - at >= WAL_HEADER {
            match record(block, at) {
                Record::Padding => break,
                Record::Ok(next) => {
                    match block[at + 6] {
                        2 => start = block_start + at,
                        1 | 4 | 9 => start = block_start + next,
                        _ => {}
                    }
                    at = next;
                }
                Record::Bad { skip } => {
                    let offset = block_start + at;
                    let more = skip.is_some_and(|next| intact_after(block, next))
                        || intact_in_blocks(data, block_start + WAL_BLOCK);
                    let start = if matches!(block[at + 6], 3 | 4) { start } else { offset };
                    return Scan::Damaged { at: offset, start, more };
                }
            }
        }
        block_start += WAL_BLOCK;
    }
    Scan::Clean
}

enum Record {
    /// Zeros to the end of the block.
    Padding,
    /// A record that checks; the offset after it.
    Ok(usize),
    /// A record that does not; where the next would start, if its length
    /// can be believed.
    Bad { skip: Option<usize> },
}

fn record(block: &[u8], at: usize) -> Record {
    let header = &block[at..at + WAL_HEADER];
    let crc = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes"));
    let len = u16::from_be_bytes([header[4], header[5]]) as usize;
    let kind = header[6];
    if kind == 0 {
        return if block[at..].iter().all(|&b| b == 0) {
            Record::Padding
        } else {
            Record::Bad { skip: None }
        };
    }
    let end = at + WAL_HEADER + len;
    if !WAL_TYPES.contains(&kind) || end > block.len() {
        return Record::Bad { skip: None };
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(&block[at + WAL_HEADER..end]);
    if hasher.finalize() == crc { Record::Ok(end) } else { Record::Bad { skip: Some(end) } }
}

/// A record that checks (non-empty) from `at` on in this block.
fn intact_after(block: &[u8], mut at: usize) -> bool {
    while block.len().saturating_sub(at) >= WAL_HEADER {
        match record(block, at) {
            Record::Ok(next) if next > at + WAL_HEADER => return true,
            Record::Ok(next) => at = next,
            _ => return false,
        }
    }
    false
}

/// A block from `from` on whose first record checks.
fn intact_in_blocks(data: &[u8], from: usize) -> bool {
    let mut start = from;
    while start + WAL_HEADER <= data.len() {
        let block = &data[start..(start + WAL_BLOCK).min(data.len())];
        if matches!(record(block, 0), Record::Ok(next) if next > WAL_HEADER) {
            return true;
        }
        start += WAL_BLOCK;
    }
    false
}

fn vlogs(dir: &Path) -> Result<()> {
    let files = segments(dir, "vlog")?;
    for (id, path) in &files {
        let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        let mut magic = [0u8; 4];
        let header_ok = len >= VLOG_HEADER
            && std::os::unix::fs::FileExt::read_exact_at(&file, &mut magic, 0).is_ok()
            && &magic == VLOG_MAGIC;
        // An empty one was made and never written (a process died, or the
        // disk was full): no table can point into it.
        if !(header_ok || len == 0) {
            return Err(damaged(
                dir.parent().unwrap_or(dir),
                format!("its value log {id} has no valid header"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment as the engine writes it: full records, padded blocks.
    fn segment(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            let room = WAL_BLOCK - out.len() % WAL_BLOCK;
            if room < WAL_HEADER + p.len() {
                out.resize(out.len() + room, 0);
            }
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&[1]);
            hasher.update(p);
            out.extend_from_slice(&hasher.finalize().to_be_bytes());
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.push(1);
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn a_torn_tail_is_cut_where_its_record_began_damage_before_commits_is_refused() {
        let records: Vec<Vec<u8>> = (0..400).map(|i| vec![i as u8; 300]).collect();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let good = segment(&refs);
        assert_eq!(scan_wal(&good), Scan::Clean);
        // Torn: the last record cut short.
        let torn = &good[..good.len() - 100];
        let last_start = good.len() - (WAL_HEADER + 300);
        assert_eq!(
            scan_wal(torn),
            Scan::Damaged { at: last_start, start: last_start, more: false }
        );
        // A byte flipped in the payload of a record in the middle.
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x40;
        assert!(matches!(scan_wal(&flipped), Scan::Damaged { more: true, .. }));
        // A header's length flipped in the middle: later blocks still check.
        let mut header = good.clone();
        header[WAL_BLOCK * 2 + 4] ^= 0x7f;
        assert!(matches!(scan_wal(&header), Scan::Damaged { more: true, .. }));
        // The last record's checksum: nothing after it.
        let mut last = good.clone();
        let n = last.len();
        last[n - 1] ^= 1;
        assert!(matches!(scan_wal(&last), Scan::Damaged { more: false, .. }));
    }

    /// A record cut into fragments (first, middle, last) and torn in its
    /// middle is cut where its first fragment began.
    #[test]
    fn a_torn_fragmented_record_is_cut_at_its_first_fragment() {
        let mut data = segment(&[b"whole record"]);
        let first_at = data.len();
        let fragment = |kind: u8, payload: &[u8]| {
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&[kind]);
            hasher.update(payload);
            let mut out = hasher.finalize().to_be_bytes().to_vec();
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            out.push(kind);
            out.extend_from_slice(payload);
            out
        };
        data.extend(fragment(2, b"first part"));
        data.extend(fragment(3, b"middle part"));
        let middle = fragment(3, b"another middle");
        data.extend(&middle[..middle.len() - 3]);
        let Scan::Damaged { start, more, .. } = scan_wal(&data) else { panic!("not damaged") };
        assert_eq!((start, more), (first_at, false));
    }
}
