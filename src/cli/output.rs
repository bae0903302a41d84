//! Shared output helpers: sizes, times, modes, JSON and error lines.

use std::io::Write;

use cortex::tree::{Entry, EntryKind, SpecialKind};

/// An error (with its causes) as one line.
pub fn one_line(e: &anyhow::Error) -> String {
    cortex::error::one_line(e.as_ref())
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `drwxr-xr-x`-style type and permission bits.
pub fn mode_string(entry: &Entry) -> String {
    let kind = match entry.kind {
        EntryKind::Dir { .. } => 'd',
        EntryKind::Symlink { .. } => 'l',
        EntryKind::File { .. } => '-',
        EntryKind::Special { kind: SpecialKind::Fifo, .. } => 'p',
        EntryKind::Special { kind: SpecialKind::Socket, .. } => 's',
        EntryKind::Special { kind: SpecialKind::CharDevice, .. } => 'c',
        EntryKind::Special { kind: SpecialKind::BlockDevice, .. } => 'b',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6u32, 3, 0] {
        let bits = (entry.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

pub fn kind_name(entry: &Entry) -> &'static str {
    match entry.kind {
        EntryKind::Dir { .. } => "dir",
        EntryKind::Symlink { .. } => "symlink",
        EntryKind::File { .. } => "file",
        EntryKind::Special { kind: SpecialKind::Fifo, .. } => "fifo",
        EntryKind::Special { kind: SpecialKind::Socket, .. } => "socket",
        EntryKind::Special { kind: SpecialKind::CharDevice, .. } => "char",
        EntryKind::Special { kind: SpecialKind::BlockDevice, .. } => "block",
    }
}

/// Seconds since the epoch as local-free UTC text.
pub fn time_string(sec: i64) -> String {
    chrono::DateTime::from_timestamp(sec, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| sec.to_string())
}

/// Prints a JSON value and a newline to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `text` safe to print on a terminal: control characters (newline, ESC,
/// DEL, the C1 range) shown as escapes (`\n`, `\u{1b}`), so that a name in
/// the tree can neither start a new line of output nor drive the terminal.
pub fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A name for display and JSON: the text, lossily when it is not UTF-8.
pub fn display_name(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An entry as JSON. Names that are not UTF-8 also carry their exact bytes
/// in hex, so nothing is lost.
pub fn entry_json(path: &[u8], entry: &Entry) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": display_name(&entry.name),
        "path": display_name(path),
        "kind": kind_name(entry),
        "mode": format!("{:o}", entry.mode),
        "mtime": entry.mtime.sec,
    });
    if std::str::from_utf8(&entry.name).is_err() {
        v["name_hex"] = serde_json::Value::String(hex(&entry.name));
    }
    match &entry.kind {
        EntryKind::File { content, size } => {
            v["size"] = (*size).into();
            v["hash"] = content.to_hex().into();
        }
        EntryKind::Symlink { target } => v["target"] = display_name(target).into(),
        EntryKind::Special { rdev, .. } => v["rdev"] = (*rdev).into(),
        EntryKind::Dir { .. } => {}
    }
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
